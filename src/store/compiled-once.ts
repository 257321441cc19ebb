// Statements of a fixed shape, compiled once. Kysely builds and compiles a query anew on every call,
// which costs more than a hot read's round trip leaves room for (about a tenth of a millisecond per
// statement, more than the portal's whole static answer). A statement whose SQL never depends on its
// arguments' values (no `in` list, no branch on them) is built once with a stand-in for each argument;
// every call then answers the same compiled SQL with the arguments put in the stand-ins' places.
import type { Compilable, CompiledQuery } from 'kysely';

/** A stand-in argument: an object no caller can pass, found again among the parameters by identity. */
class StandIn {
  constructor(readonly index: number) {}
}

type Statements = Compilable<unknown> | readonly Compilable<unknown>[];

/**
 * `build`, compiled on its first call for each query handle `db` and reused after. Each argument must
 * end up as a parameter of the statements as it is (not read, not spread into a list): a build that
 * uses one otherwise, or leaves one out, is refused when it is first compiled.
 *
 * @example
 * const byId = compiledOnce((db: DomainQueries, id: string) =>
 *   db.selectFrom('resources').selectAll().where('id', '=', id));
 * const [rows] = await store.read(domainId, (db) => [byId(db, resourceId)]);
 */
export function compiledOnce<D extends object, A extends readonly unknown[], Q extends Statements>(
  build: (db: D, ...args: A) => Q,
): (db: D, ...args: A) => Q {
  const templates = new WeakMap<D, { readonly single: boolean; readonly compiled: CompiledQuery[] }>();
  return (db, ...args) => {
    let template = templates.get(db);
    if (template === undefined) {
      const standIns = args.map((_, i) => new StandIn(i));
      const built = build(db, ...(standIns as unknown as A));
      const single = !Array.isArray(built);
      const compiled = (single ? [built as Compilable<unknown>] : (built as Compilable<unknown>[])).map((q) =>
        q.compile(),
      );
      const used = new Set(compiled.flatMap((q) => q.parameters.filter((p) => p instanceof StandIn)));
      if (used.size !== standIns.length)
        throw new TypeError('compiledOnce: every argument must be a parameter of the statements as it is');
      template = { single, compiled };
      templates.set(db, template);
    }
    const statements = template.compiled.map((q): Compilable<unknown> => ({
      compile: () => ({
        ...q,
        parameters: q.parameters.map((p) => (p instanceof StandIn ? args[p.index] : p)),
      }),
    }));
    return (template.single ? statements[0] : statements) as unknown as Q;
  };
}
