// The isolation probe of the embedded provider. An embedded database has no login and its user is a
// superuser, so no privilege stands between A and B: what keeps them apart is that A's credential names
// only A's directory, that directories are owner-only, and that PGlite's SQL sees no host files at all.
// The probe checks the first two on disk and tries the third from inside A's database, with A's path.
import { randomBytes } from 'node:crypto';
import { lstat, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { probeSetupError } from '../probe.js';
import { backendName, type ProbeAttempt, type ProbeReport, type ProbeSide } from '../provider.js';
import { isDataDir, pathExists } from './pglite-fs.js';
import { literal } from './postgres-sql.js';

const setupError = (message: string, cause?: unknown) => probeSetupError('postgres', message, cause);

/** A SQLSTATE on a PGlite error: the database refused, as opposed to PGlite itself failing. */
function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function dataDirOf(label: 'A' | 'B', side: ProbeSide): string {
  const dataDir = side.credentials['dataDir'];
  if (side.credentials['mode'] !== 'embedded' || typeof dataDir !== 'string') {
    throw setupError(`${label}'s credentials are not embedded credentials`);
  }
  return dataDir;
}

const inside = (parent: string, child: string): boolean => {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
};

/**
 * Every attempt A makes against B, each reported with whether it was refused.
 *
 * The probe opens A's database: PGlite takes no lock, so it refuses to run while A's directory looks
 * open elsewhere (postmaster.pid present) rather than risk two writers on one cluster.
 */
export async function probeEmbeddedIsolation(root: string, a: ProbeSide, b: ProbeSide): Promise<ProbeReport> {
  const aDir = join(root, backendName(a.ref));
  const bName = backendName(b.ref);
  const bDir = join(root, bName);
  if (aDir === bDir) throw setupError('A and B are the same resource');
  for (const [label, dir] of [
    ['A', aDir],
    ['B', bDir],
  ] as const) {
    if (!(await isDataDir(dir))) throw setupError(`${label}'s data directory does not exist`);
  }
  const aData = dataDirOf('A', a);
  dataDirOf('B', b);
  if (await pathExists(join(aDir, 'postmaster.pid'))) {
    throw setupError(
      "A's database is open elsewhere (postmaster.pid is present); probe it when it is closed",
    );
  }

  const attempts: ProbeAttempt[] = [];
  const [realA, realB, realGiven] = await Promise.all([realpath(aDir), realpath(bDir), realpath(aData)]);
  const exact = resolve(aData) === aDir && realGiven === realA;
  attempts.push({
    attempt: "reach B's directory through A's credentials as given",
    refused: exact && !inside(realA, realB) && !inside(realB, realA),
    detail: exact
      ? "A's credentials name exactly A's directory, which neither contains nor is inside B's"
      : `A's credentials name ${aData}, not exactly A's directory`,
  });
  const modes = await Promise.all([lstat(root), lstat(bDir)]);
  const closed = modes.every((s) => (s.mode & 0o077) === 0);
  attempts.push({
    attempt: "open B's directory as another OS user",
    refused: closed,
    detail: closed
      ? "the root and B's directory are mode 700: the kernel refuses every other user"
      : "the root or B's directory is open to group or others",
  });

  const marker = `bulkhead-probe-${randomBytes(8).toString('hex')}`;
  const secret = randomBytes(16).toString('hex');
  const canary = join(bDir, marker);
  await writeFile(canary, secret, { mode: 0o600, flag: 'wx' });
  let db: PGlite | undefined;
  try {
    try {
      db = await PGlite.create(aData);
    } catch (error) {
      throw setupError("A's database does not open with A's credentials", error);
    }
    const open = db;
    // From inside A's database: B's file by its host path, relative to A's directory, and through A's path.
    const paths: [string, string][] = [
      ["B's absolute path", canary],
      ["a path relative to A's directory", join('..', bName, marker)],
      ["A's path, then /../ to B", `${aData}/../${bName}/${marker}`],
    ];
    const tries: [string, string, (path: string) => Promise<string>][] = [
      [
        "read B's file",
        'pg_read_file',
        async (path) =>
          (await open.query<{ v: string }>('SELECT pg_read_file($1) AS v', [path])).rows[0]?.v ?? '',
      ],
      [
        "read B's file",
        'COPY FROM',
        async (path) => {
          const rows = await open.transaction(async (tx) => {
            await tx.exec(`CREATE TEMP TABLE bulkhead_probe (v text) ON COMMIT DROP`);
            await tx.exec(`COPY bulkhead_probe FROM ${literal(path)}`);
            return (await tx.query<{ v: string }>('SELECT v FROM bulkhead_probe')).rows;
          });
          return rows.map((r) => r.v).join('\n');
        },
      ],
      [
        "read B's file",
        'lo_import',
        async (path) => {
          const rows = await open.transaction(async (tx) => {
            const { rows: oid } = await tx.query<{ oid: number }>('SELECT lo_import($1) AS oid', [path]);
            const read = await tx.query<{ v: string }>("SELECT convert_from(lo_get($1), 'UTF8') AS v", [
              oid[0]!.oid,
            ]);
            await tx.query('SELECT lo_unlink($1)', [oid[0]!.oid]);
            return read.rows;
          });
          return rows[0]?.v ?? '';
        },
      ],
      [
        "list B's directory",
        'pg_ls_dir',
        async (path) => {
          const dir = join(path, '..');
          const { rows } = await open.query<{ v: string }>('SELECT pg_ls_dir($1) AS v', [dir]);
          // Listing the name only: reaching B's directory at all is what this attempt is about.
          return rows.some((r) => r.v === marker) ? secret : '';
        },
      ],
    ];
    for (const [what, how, read] of tries) {
      for (const [which, path] of paths) {
        const attempt = `${what} from A's database with ${how}, by ${which}`;
        try {
          const got = await read(path);
          const leaked = got.includes(secret);
          attempts.push({
            attempt,
            refused: !leaked,
            detail: leaked ? "A read B's canary file" : "not B's file",
          });
        } catch (error) {
          const state = sqlState(error);
          if (state === undefined)
            throw setupError(`the probe could not make its attempt "${attempt}"`, error);
          attempts.push({ attempt, refused: true, detail: `refused: ${state} ${(error as Error).message}` });
        }
      }
    }
  } finally {
    await db?.close();
  }
  const after = await readFile(canary, 'utf8').catch(() => null);
  await rm(canary, { force: true });
  const leftovers = (await readdir(aDir)).filter((name) => name.startsWith('bulkhead-probe-'));
  const intact = after === secret && leftovers.length === 0;
  attempts.push({
    attempt: "B's canary after all attempts",
    refused: intact,
    detail: intact ? "unchanged, and no copy of it in A's directory" : 'changed, gone or copied',
  });
  return { refused: attempts.every((x) => x.refused), attempts };
}
