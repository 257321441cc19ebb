// The bounded multi-server soak that runs with the suite (test/soak/soak.ts says what it does): three
// servers, about a minute, two `kill -9`s. `npm run soak` runs it longer (BULKHEAD_SOAK_SECONDS) and
// prints its figures (docs/benchmarks.md).
import { describe, expect, it } from 'vitest';
import { runSoak } from './soak.js';

const seconds = Number(process.env.BULKHEAD_SOAK_SECONDS ?? '60');
const kills = Number(process.env.BULKHEAD_SOAK_KILLS ?? String(Math.max(2, Math.floor(seconds / 30))));

describe('three servers on one store, with crashes', () => {
  it(
    'answers no 5xx, leaves no orphan and nothing stuck, keeps the audit chain, and revokes everywhere',
    async () => {
      const report = await runSoak({ durationMs: seconds * 1000, kills, clients: 3 });
      console.log(`soak: ${JSON.stringify({ ...report, serverErrors: report.serverErrors.length })}`);
      expect(report.serverErrors).toEqual([]);
      expect(report.mismatches).toEqual([]);
      expect(report.stuck).toEqual([]);
      expect(report.orphans).toEqual([]);
      expect(report.missing).toEqual([]);
      expect(report.auditOk).toBe(true);
      expect(report.revocationMisses).toEqual([]);
      // The run did what it says: work on every kind, objects read back, the servers killed.
      expect(report.kills).toBeGreaterThanOrEqual(2);
      expect(report.resourcesCreated).toBeGreaterThan(5);
      expect(report.volumesCreated).toBeGreaterThan(5);
      expect(report.objectsChecked).toBeGreaterThan(5);
    },
    (seconds + 240) * 1000,
  );
});
