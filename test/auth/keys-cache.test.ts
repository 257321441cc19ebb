// A process remembers the domain of each provisioning key it has verified, so a domain over its share can
// be refused before the key is read (test/api/fair-share.test.ts). It forgets them at every change that could
// make a key unusable — a revocation, a rotation, a domain's suspension — its own at their commit and
// another process's when the database notifies it, and names no domain at all while it cannot hear them.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyChangeChannel } from '../../src/keys/changes.js';
import type { Services } from '../../src/runtime.js';
import { listenerPids, noticeKeySetups, openTwoProcesses, pause, until } from '../helpers/notices.js';

const actor = { actor: 'operator', requestId: null };

describe.each(noticeKeySetups)(
  'key domains remembered across two processes on one PostgreSQL store, $keys',
  ({ noticeKey }) => {
    let database: { url: string; drop(): Promise<void> };
    let one: Services; // changes keys and domains
    let two: Services; // verifies keys
    let domainId: string;
    let admin: pg.Client;

    let close: () => Promise<void>;

    beforeAll(async () => {
      ({ close, database, one, two, admin } = await openTwoProcesses(noticeKey));
      domainId = (await one.domains.create(actor, { slug: 'keys', name: 'keys' })).id;
    });

    afterAll(() => close());

    const issue = async () => {
      const issued = await one.keys.issue(actor, domainId);
      return { id: issued.id, key: issued.key };
    };
    /** Reads the key at the second process until it names the key's domain from memory. */
    const remembered = async (key: string) => {
      await until(async () => {
        await two.keys.authenticateLater(key, null);
        return two.keys.knownDomain(key) === domainId;
      });
    };
    const forgottenWithin = async (key: string): Promise<number> => {
      const started = performance.now();
      await until(() => two.keys.knownDomain(key) === null, 100);
      return performance.now() - started;
    };

    it("names a verified key's domain, and forgets it within 100 ms of a revocation, a rotation or a suspension at the other process", async () => {
      expect(two.keys.knownDomain('bhk_never-seen')).toBeNull();
      const revoked = await issue();
      await remembered(revoked.key);
      await one.keys.revoke(actor, domainId, revoked.id);
      expect(await forgottenWithin(revoked.key)).toBeLessThan(100);
      await expect(two.keys.authenticateLater(revoked.key, null)).rejects.toMatchObject({
        code: 'invalid_credentials',
      });

      const rotated = await issue();
      await remembered(rotated.key);
      await one.keys.rotate(actor, domainId, rotated.id, 0);
      expect(await forgottenWithin(rotated.key)).toBeLessThan(100);

      const suspended = await issue();
      await remembered(suspended.key);
      await one.domains.suspend(actor, domainId);
      expect(await forgottenWithin(suspended.key)).toBeLessThan(100);
      await expect(two.keys.authenticateLater(suspended.key, null)).rejects.toMatchObject({
        code: 'invalid_credentials',
      });
      await one.domains.resume(actor, domainId);
      // A key refused is not remembered.
      expect(two.keys.knownDomain(revoked.key)).toBeNull();
    });

    it('names no domain while it cannot hear key changes, and remembers again once it can', async () => {
      const { key } = await issue();
      await remembered(key);
      const listeners = () => listenerPids(admin);
      const cut = await listeners();
      expect(cut.length).toBeGreaterThan(0);
      for (const pid of cut) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await until(async () => (await listeners()).length === 0);
      await until(() => two.keys.knownDomain(key) === null, 1_000);
      // Read while deaf: not remembered.
      await two.keys.authenticateLater(key, null);
      expect(two.keys.knownDomain(key)).toBeNull();
      await until(async () => (await listeners()).length >= 1);
      await remembered(key);
    });

    // With keys of their own, a bare notice may be another process's change: it must empty the memory, so
    // this holds only where the processes share the key; the other setup has no such test (never a skip).
    if (noticeKey !== undefined)
      it('keeps what it remembers through a flood of notices it did not send: bare, forged or replayed', async () => {
        const listener = new pg.Client({ connectionString: database.url });
        await listener.connect();
        try {
          const heard: string[] = [];
          listener.on('notification', (n) => heard.push(n.payload ?? ''));
          await listener.query(`LISTEN ${keyChangeChannel}`);
          const other = await issue();
          await one.keys.revoke(actor, domainId, other.id);
          await until(() => heard.length > 0);
          const captured = heard[0]!;
          const record = captured.slice(captured.indexOf('.') + 1);
          const { id, key } = await issue();
          await remembered(key);
          heard.length = 0;
          const flood = ['', record, `${'A'.repeat(43)}.${record}`, captured];
          for (let i = 0; i < 20; i++)
            for (const payload of flood)
              await admin.query(`SELECT pg_notify('${keyChangeChannel}', $1)`, [payload]);
          await until(() => heard.length >= 20 * flood.length);
          await pause(100);
          expect(two.keys.knownDomain(key)).toBe(domainId);
          // A real change still empties it.
          await one.keys.revoke(actor, domainId, id);
          expect(await forgottenWithin(key)).toBeLessThan(100);
        } finally {
          await listener.end();
        }
      });
  },
);
