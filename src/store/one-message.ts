// Messages of several statements on PostgreSQL: a scope and the queries it covers travel together, run
// by the server as one implicit transaction (committed at the message's end, rolled back whole if a
// statement fails), so a read or a change costs one round trip. Reads run as statements prepared on each
// connection, planned once per connection, with what a pooler or a migration can do to them handled.
import { createHash } from 'node:crypto';
import type { CompiledQuery } from 'kysely';
import pg from 'pg';

// Prepared reads (PostgreSQL): a name per query text, the limit per connection, the texts the server
// would not prepare, and the errors after which a read is tried again with nothing prepared.
const statementNames = new Map<string, string>();
const maxPreparedPerConnection = 256;
const unpreparable = new Set<string>();
/** The server's "cached plan must not change result type": a prepared statement outlived its table's shape. */
const planChanged = '0A000';
/**
 * "prepared statement … does not exist" and "… already exists": the message reached another server
 * session than the one this connection prepared on, as a pooler in transaction mode does (or one in
 * session mode that hands a new connection a session still holding an earlier one's statements).
 */
const sessionNotOwn = new Set(['26000', '42P05']);
/** Parameter types the server cannot settle from the text alone (indeterminate, ambiguous). */
const typesUnsettled = new Set(['42P18', '42P08', '42725']);

/** The name `read` prepares `text` under: the same on every connection, and never another text's. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `bh_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
    if (statementNames.size >= 4096) statementNames.clear();
    statementNames.set(text, name);
  }
  return name;
}

/** Sends scoped messages on the pools of one store, remembering what each connection has prepared. */
export class OneMessage {
  // The statements `read` has prepared on each connection of either pool, by name. Off for
  // good once a prepared statement went missing: a pooler in transaction mode hands each message to
  // whichever server session is free, so nothing prepared can be counted on.
  private readonly preparedOn = new WeakMap<pg.PoolClient, Set<string>>();
  private prepareReads = true;

  constructor(
    /** Signs a message's scope just before it is sent (`sealScope` under the store's scope key). */
    private readonly seal: (message: string) => string,
    /** How many results of a message its scope statements account for, before the queries' own. */
    private readonly scopeResults: number,
  ) {}

  /**
   * Runs `compiled` under `scope` in one message, each query a statement prepared on the connection
   * (`literals` its parameters written as literals) or, where it cannot be, its `inlined` text.
   */
  async read(
    pool: pg.Pool,
    scope: string,
    compiled: readonly CompiledQuery[],
    literals: readonly (readonly string[])[],
    inlined: readonly string[],
  ): Promise<unknown[][]> {
    const client = await pool.connect();
    let prepared = this.preparedOn.get(client);
    if (prepared === undefined) this.preparedOn.set(client, (prepared = new Set()));
    // Each query runs as a statement prepared on this connection (PREPARE travels with its first use),
    // so the server plans it once per connection instead of on every read; its parameters are written
    // as literals in the EXECUTE. A query the server would not prepare, or past the limit per connection,
    // travels with its parameters written into its text instead.
    const preparing = new Map<string, string>();
    let usesPrepared = false;
    const statements = compiled.map((q, i) => {
      const name = statementName(q.sql);
      if (!this.prepareReads || unpreparable.has(q.sql)) return inlined[i]!;
      if (!prepared.has(name) && !preparing.has(name)) {
        if (prepared.size + preparing.size >= maxPreparedPerConnection) return inlined[i]!;
        preparing.set(name, q.sql);
      }
      const args = literals[i]!;
      usesPrepared = true;
      return args.length === 0 ? `EXECUTE ${name}` : `EXECUTE ${name}(${args.join(', ')})`;
    });
    const prepares = [...preparing].map(([name, text]) => `PREPARE ${name} AS ${text}`);
    let results: pg.QueryResult[];
    try {
      // Several statements in one simple-protocol message run as one transaction, which is rolled back
      // as a whole if one fails, so the connection goes back to the pool clean either way.
      // The scope goes first: a PREPARE resolves the tables it names under the search path it pins.
      results = (await client.query(
        this.seal([scope, ...prepares, ...statements].join('; ')),
      )) as unknown as pg.QueryResult[];
    } catch (error) {
      const code = error instanceof pg.DatabaseError ? (error.code ?? '') : null;
      // PREPARE outlives a failed message, so after one that prepared, which statements the connection
      // holds is no longer known: it is closed. So is one whose statement's result changed shape (a
      // migration altered a table under it), went missing or was there already.
      const known =
        code === planChanged || (code !== null && (sessionNotOwn.has(code) || typesUnsettled.has(code)));
      client.release(code !== null && preparing.size === 0 && !known ? undefined : (error as Error));
      if (code === null || !usesPrepared) throw error;
      if (sessionNotOwn.has(code)) {
        // Server sessions are shared behind this pool: nothing prepared can be counted on, from now on.
        this.prepareReads = false;
      } else if (typesUnsettled.has(code)) {
        if (unpreparable.size >= 4096) unpreparable.clear();
        for (const text of preparing.values()) unpreparable.add(text);
      }
      // Whatever else failed is tried once more with nothing prepared: a read changes nothing, so the
      // second try is safe, and an error of the query itself comes back from it unchanged.
      return this.readInlined(pool, scope, inlined);
    }
    client.release();
    for (const name of preparing.keys()) prepared.add(name);
    return results.slice(this.scopeResults + prepares.length).map((r) => r.rows as unknown[]);
  }
  // Sends `text` (several statements, no BEGIN) on a connection of `pool`. The server runs such a message
  // as one implicit transaction, committed at its end or rolled back whole if a statement fails, so the
  // connection goes back to the pool clean either way; one that failed otherwise is closed.
  async send(pool: pg.Pool, text: string): Promise<pg.QueryResult[]> {
    const client = await pool.connect();
    try {
      const results = (await client.query(this.seal(text))) as unknown as pg.QueryResult[];
      client.release();
      return results;
    } catch (error) {
      client.release(error instanceof pg.DatabaseError ? undefined : (error as Error));
      throw error;
    }
  }
  // The same read with every query's parameters written into its text, nothing prepared.
  async readInlined(pool: pg.Pool, scope: string, inlined: readonly string[]): Promise<unknown[][]> {
    const results = await this.send(pool, `${scope}; ${inlined.join('; ')}`);
    return results.slice(this.scopeResults).map((r) => r.rows as unknown[]);
  }
}
