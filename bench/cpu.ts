// CPU time used by the PostgreSQL backends of one database, read from /proc. With the server on the same
// host, it shows where a benchmark's operations spend their CPU, a figure that depends less on what else
// the machine is doing than a rate does.
import { readFileSync } from 'node:fs';
import type pg from 'pg';

/** CPU seconds used so far by each backend of the monitor's database but its own; null when not visible. */
export async function backendCpu(monitor: pg.Client): Promise<Map<number, number> | null> {
  const { rows } = await monitor.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  );
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      // After the command name: utime and stime are the 12th and 13th fields, in ticks of 1/100 s.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      return null; // another host, or no access
    }
  }
  return cpu;
}

/** CPU seconds the backends used between two readings (a backend that started in between counts whole). */
export function cpuBetween(
  before: Map<number, number> | null,
  after: Map<number, number> | null,
): number | null {
  if (before === null || after === null) return null;
  let sum = 0;
  for (const [pid, seconds] of after) sum += seconds - (before.get(pid) ?? 0);
  return sum;
}
