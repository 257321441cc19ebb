// The attacks. For every operation of the document, A's credentials are sent at B's things and the
// answer is compared with the answer for things that do not exist; A's own calls are checked for
// anything of B and repeated with B's id smuggled into the query, the body and the headers; B reads its
// own things before, during and after, and they must not change. The prober assumes nothing about the
// API beyond the document and the probe domains; it trusts no answer it has not compared.
import type { ApiDescription, Operation } from './openapi.js';
import {
  comparable,
  defaultVolatileFields,
  difference,
  mask,
  markersIn,
  type Comparable,
} from './compare.js';
import type { Exchange, OutgoingRequest, Send } from './http.js';
import type { Check, OperationResult, Verdict } from './report.js';
import { fillTemplate, sampleValue, unknownId } from './samples.js';
import type { Credential, ProbeSetup } from './target.js';
import { attackHosts } from './hosts.js';
import { attackOAuth } from './oauth.js';
import { fetchPublicKeys, KeyListener, TokenForge, type TokenAttack } from './tokens.js';

/** Fields and headers a confused server might take the tenant from. */
export const smuggledFields = ['domainId', 'tenantId', 'tenant_id', 'ownerId', 'orgId'] as const;
export const smuggledHeaders = ['X-Tenant-Id', 'X-Domain-Id'] as const;

/** "Not found": what a foreign id must get when the credential is accepted. */
const notFound = new Set([404, 410]);
/** "Not accepted at all": fine for a foreign id when an unknown id gets exactly the same. */
const refused = new Set([401, 403]);
/** A smuggled field refused outright. */
const smuggleRefused = new Set([400, 422]);
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

type Values = Readonly<Record<string, string>>;
type Masks = readonly (readonly [string, string])[];

interface Marker {
  readonly value: string;
  readonly label: string;
}

interface Read {
  readonly operation: Operation;
  readonly request: OutgoingRequest;
}

interface Built {
  readonly request: OutgoingRequest;
  /** The domain values this request carries, with the placeholder each is replaced by in answers. */
  readonly masks: Masks;
}

export interface ProbeResult {
  readonly operations: OperationResult[];
  readonly checks: Check[];
}

function is2xx(status: number): boolean {
  return status >= 200 && status < 300;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function encode(value: unknown, contentType: string): string {
  if (contentType === 'application/x-www-form-urlencoded' && isRecord(value)) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(value)) form.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    return form.toString();
  }
  if (/json/.test(contentType)) return JSON.stringify(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function pathNames(op: Operation): string[] {
  return [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
}

/** Every subset of `names` but the empty one and the whole, smallest first, in the order of `names`. */
function properSubsets(names: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let mask = 1; mask < (1 << names.length) - 1; mask++)
    out.push(names.filter((_, i) => (mask & (1 << i)) !== 0));
  return out.sort((x, y) => x.length - y.length);
}

function lookup<T>(table: Readonly<Record<string, T>> | undefined, op: Operation): T | undefined {
  if (table === undefined) return undefined;
  return (op.operationId === null ? undefined : table[op.operationId]) ?? table[op.key];
}

/** Values of a credential's headers that would identify it in an answer. */
function credentialSecrets(credential: Credential): string[] {
  return Object.values(credential.headers).flatMap((v) => {
    const last = v.split(' ').at(-1) ?? v;
    return [last, ...(last.includes('=') ? [last.slice(last.indexOf('=') + 1)] : [])];
  });
}

export interface ProbeOptions {
  /** How many operations are attacked at once (4 by default). */
  readonly concurrency?: number;
  /** Attack kinds left out, e.g. `mixed-owner`, `token[alg-none]` (to show that a test needs them). */
  readonly omit?: readonly string[];
}

/**
 * Runs every attack against the API and returns what each found. Attacks on B's ids run `concurrency`
 * operations at a time (4 by default); A's own calls run one at a time, in a fixed order.
 *
 * @example
 * const { operations, checks } = await probe(api, setup, httpSender(setup.baseUrl, 10_000));
 */
export async function probe(
  api: ApiDescription,
  setup: ProbeSetup,
  send: Send,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  return new Run(api, setup, send, Math.max(1, options.concurrency ?? 4), new Set(options.omit)).run();
}

class Run {
  /** Checks by operation key, in the order they were made. */
  private readonly checks = new Map<string, Check[]>();
  private readonly notes = new Map<string, string[]>();
  private readonly volatile: ReadonlySet<string>;
  private readonly unknown: Values;
  private readonly markers: Marker[];
  private readonly now = Date.now();
  private readonly tag = this.now.toString(36).slice(-5);
  private seeds = 0;
  /** Phase-1 answers by operation, attack and credential, to pick the credential the route accepts. */
  private readonly phaseOne = new Map<string, number>();
  private planned: { operation: Operation; candidates: OutgoingRequest[] }[] = [];
  /** Chosen at the first snapshot. */
  private reads: Read[] | null = null;

  constructor(
    private readonly api: ApiDescription,
    private readonly setup: ProbeSetup,
    private readonly send: Send,
    private readonly concurrency: number,
    private readonly omit: ReadonlySet<string>,
  ) {
    this.volatile = new Set(
      [...defaultVolatileFields, ...(setup.volatileFields ?? [])].map((f) =>
        f.toLowerCase().replaceAll('_', '').replaceAll('-', ''),
      ),
    );
    const unknown: Record<string, string> = {};
    for (const [name, value] of Object.entries(setup.b.ids))
      unknown[name] = setup.unknownIds?.[name] ?? unknownId(value);
    this.unknown = unknown;
    const ownValues = new Set([setup.a.id, ...Object.values(setup.a.ids), ...Object.values(unknown)]);
    const markers: Marker[] = [
      { value: setup.b.id, label: "B's id" },
      ...Object.entries(setup.b.ids).map(([name, value]) => ({ value, label: `B's ${name}` })),
      ...setup.b.secrets.map((value, i) => ({ value, label: `B's secret #${i + 1}` })),
      ...setup.b.credentials.flatMap((c) =>
        credentialSecrets(c).map((value) => ({ value, label: `B's ${c.name} credential` })),
      ),
    ];
    const seen = new Set<string>();
    this.markers = markers.filter((m) => {
      if (m.value.length < 4 || ownValues.has(m.value) || seen.has(m.value)) return false;
      seen.add(m.value);
      return true;
    });
  }

  async run(): Promise<ProbeResult> {
    const ops = this.api.operations.filter((op) => !op.public && lookup(this.setup.skip, op) === undefined);
    this.planned = this.planReads(ops);
    const initial = await this.snapshot();

    // A at B's ids changes nothing when the API holds, so these run a few at a time.
    const foreign = ops.filter(
      (op) => pathNames(op).length > 0 || op.body !== null || lookup(this.setup.bodies, op) !== undefined,
    );
    const workers = Array.from({ length: Math.min(this.concurrency, foreign.length) }, async () => {
      for (let op = foreign.shift(); op !== undefined; op = foreign.shift()) await this.attackForeign(op);
    });
    await Promise.all(workers);
    let reference = await this.snapshot();
    this.compareState(initial, reference, null, 'changed while A was sent at B’s ids');

    // Forged and foreign variants of A's token at every operation A may call, a few operations at a time,
    // before A's own calls (which end A's sessions).
    await this.attackCsrf(ops);
    // A's session cookie at B's host, and A's forms from a third origin, on every cookie route.
    let pages: ProbeResult = { operations: [], checks: [] };
    if (this.setup.hosts !== undefined) {
      pages = await attackHosts({
        hosts: this.setup.hosts,
        send: this.send,
        aIds: this.setup.a.ids,
        bIds: this.setup.b.ids,
        unknownIds: this.unknown,
        aId: this.setup.a.id,
        concurrency: this.concurrency,
        omit: this.omit,
      });
      const after = await this.snapshot();
      this.compareState(reference, after, null, 'changed while A’s cookie was sent at B’s host');
      reference = after;
    }
    if (this.setup.tokens !== undefined) {
      await this.attackTokens(ops);
      const after = await this.snapshot();
      this.compareState(reference, after, null, 'changed while A’s forged tokens were sent');
      reference = after;
    }
    // A's tokens and client at B's authorization server.
    let grants: ProbeResult = { operations: [], checks: [] };
    const issuers = this.setup.oauth === undefined ? [] : [this.setup.oauth].flat();
    for (const oauth of issuers) {
      const found = await attackOAuth({ oauth, send: this.send, omit: this.omit });
      grants = {
        operations: [...grants.operations, ...found.operations],
        checks: [...grants.checks, ...found.checks],
      };
      const after = await this.snapshot();
      this.compareState(reference, after, null, 'changed while A’s tokens were sent to B’s issuer');
      reference = after;
    }

    // A's own calls, and the same calls with B smuggled in: reads first, then changes, deletions last,
    // and calls about the caller itself (no path parameters, e.g. logout) after the others of their kind.
    const order = (op: Operation) =>
      (safeMethods.has(op.method) ? 0 : op.method === 'DELETE' ? 6 : op.body !== null ? 2 : 4) +
      (pathNames(op).some((n) => this.setup.a.ids[n] !== this.setup.a.id) ? 0 : 1);
    for (const op of [...ops].sort((x, y) => order(x) - order(y))) {
      const changed = await this.attackOwn(op);
      if (changed) {
        const after = await this.snapshot();
        this.compareState(reference, after, op, 'changed by this operation');
        reference = after;
      }
    }
    this.compareState(reference, await this.snapshot(), null, 'changed by the end of the run');
    return {
      operations: [
        ...this.api.operations.map((op) => this.coverage(op)),
        ...pages.operations,
        ...grants.operations,
      ],
      checks: [
        ...this.api.operations.flatMap((op) => this.checks.get(op.key) ?? []),
        ...pages.checks,
        ...grants.checks,
      ],
    };
  }

  // ---- building requests ----------------------------------------------------------------------------

  /** A function returning the same sequence of fresh values each time it is called (one per pair). */
  private uniques(): () => () => string {
    const seed = ++this.seeds;
    return () => {
      let i = 0;
      return () => `verify-${this.tag}-${seed}-${i++}`;
    };
  }

  /** The path parameters that name the tenant: by its id, or by a public name (an issuer's slug). */
  private tenantParams(op: Operation): string[] {
    const named = new Set(this.setup.publicTenantParams ?? []);
    return pathNames(op).filter((n) => this.setup.a.ids[n] === this.setup.a.id || named.has(n));
  }

  /** The path values for a variant, or the names that have no value. */
  private values(op: Operation, pick: (name: string) => string | undefined): Values | string[] {
    const out: Record<string, string> = {};
    const missing: string[] = [];
    for (const name of pathNames(op)) {
      const v = pick(name);
      if (v === undefined) missing.push(name);
      else out[name] = v;
    }
    return missing.length > 0 ? missing : out;
  }

  private build(
    op: Operation,
    path: Values,
    ids: Values,
    credential: Credential,
    unique: () => string,
    smuggle: { query?: string; body?: string; header?: string; value?: string } = {},
  ): Built {
    const ctx = { resolve: this.api.resolve, ids, unique, now: this.now };
    const query: Record<string, string> = {};
    const headers: Record<string, string> = {};
    for (const p of op.parameters) {
      if (!p.required || p.in === 'path' || p.in === 'cookie') continue;
      if (p.in === 'header' && /^(authorization|cookie|content-type)$/i.test(p.name)) continue;
      const v = sampleValue(p.schema, ctx, p.name);
      (p.in === 'query' ? query : headers)[p.name] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    Object.assign(headers, credential.headers);
    if (!safeMethods.has(op.method)) Object.assign(headers, credential.writeHeaders);

    let value: unknown;
    let contentType: string | undefined;
    const template = lookup(this.setup.bodies, op);
    if (template !== undefined && 'raw' in template) {
      contentType = template.contentType;
      value = String(fillTemplate(template.raw, ids, unique));
    } else if (template !== undefined || op.body !== null) {
      contentType = op.body?.contentType ?? 'application/json';
      value =
        template !== undefined ? fillTemplate(template.json, ids, unique) : sampleValue(op.body!.schema, ctx);
    }
    const filled = op.path.replace(/\{([^}]+)\}/g, (_m, name: string) =>
      path[name]!.split('/').map(encodeURIComponent).join('/'),
    );
    // Masks come from what the request carries before anything is smuggled into it.
    const plainBody = contentType === undefined ? undefined : encode(value, contentType);
    const carried = `${filled} ${JSON.stringify(query)} ${plainBody ?? ''}`;
    const masks = [...Object.entries(ids), ...Object.entries(path)]
      .filter(([, v]) => v.length > 0 && carried.includes(v))
      .map(([name, v]) => [v, `{${name}}`] as const);

    if (smuggle.query !== undefined) query[smuggle.query] = smuggle.value!;
    if (smuggle.header !== undefined) headers[smuggle.header] = smuggle.value!;
    let raw = plainBody;
    if (smuggle.body !== undefined && contentType !== undefined && isRecord(value))
      raw = encode({ ...value, [smuggle.body]: smuggle.value }, contentType);
    const request: OutgoingRequest = {
      method: op.method,
      path: filled,
      query,
      headers,
      ...(contentType !== undefined && raw !== undefined ? { body: { contentType, raw } } : {}),
    };
    return { request, masks };
  }

  private record(
    op: Operation,
    attack: string,
    credential: string | null,
    expected: string,
    got: string,
    verdict: Verdict,
    parameters?: readonly string[],
  ): void {
    const list = this.checks.get(op.key) ?? [];
    this.checks.set(op.key, list);
    list.push({
      operation: op.key,
      operationId: op.operationId,
      attack,
      ...(parameters === undefined ? {} : { parameters }),
      credential,
      expected,
      got,
      verdict,
    });
  }

  private note(op: Operation, reason: string): void {
    this.notes.set(op.key, [...(this.notes.get(op.key) ?? []), reason]);
  }

  private leakedIn(text: string, masks: Masks): string[] {
    return markersIn(
      mask(text, masks),
      this.markers.map((m) => m.value),
    ).map((v) => this.markers.find((m) => m.value === v)!.label);
  }

  // ---- A at B's things --------------------------------------------------------------------------------

  private async attackForeign(op: Operation): Promise<void> {
    const { a, b } = this.setup;
    const tenants = this.tenantParams(op);
    const others = pathNames(op).filter((n) => !tenants.includes(n));
    const variants: {
      attack: string;
      parameters?: readonly string[];
      path: Values | string[];
      unknown: Values | string[];
    }[] = [];
    // A tenant named publicly (an issuer's slug) is known to exist, so A's credential at B's is compared
    // with no credential at B's: it must be refused as if A had sent nothing, or answer B's 404.
    const publicTenant = pathNames(op).some((n) => this.setup.publicTenantParams?.includes(n) === true);
    if (pathNames(op).length > 0) {
      variants.push({
        attack: publicTenant ? 'foreign-tenant' : 'foreign',
        path: this.values(op, (n) => b.ids[n]),
        unknown: this.values(op, (n) => (publicTenant ? b.ids[n] : this.unknown[n])),
      });
    }
    if (tenants.length > 0 && others.length > 0) {
      const mixed = (other: (n: string) => string | undefined) =>
        this.values(op, (n) => (tenants.includes(n) ? a.ids[n] : other(n)));
      variants.push({
        attack: 'foreign-id',
        path: mixed((n) => b.ids[n]),
        unknown: mixed((n) => this.unknown[n]),
      });
    }
    // Mixed owners: with two or more items in the path, each mix where some are B's and the rest A's
    // (tenant parameters A's), compared with the same mix where B's are unknown, so a service that checks
    // the parent's owner but not that the child is the parent's shows on the parameter it did not check.
    const mixes = others.length >= 2 ? properSubsets(others) : [];
    for (const foreignNames of mixes) {
      const mixed = (other: (n: string) => string | undefined) =>
        this.values(op, (n) => (foreignNames.includes(n) ? other(n) : a.ids[n]));
      variants.push({
        attack: 'mixed-owner',
        parameters: foreignNames,
        path: mixed((n) => b.ids[n]),
        unknown: mixed((n) => this.unknown[n]),
      });
    }
    // A's own path with B's ids in the body (e.g. attaching A's volume to B's instance).
    const own = this.values(op, (n) => a.ids[n]);
    if (!Array.isArray(own) && (op.body !== null || lookup(this.setup.bodies, op) !== undefined)) {
      const make = this.uniques();
      const withB = this.build(op, own, b.ids, a.credentials[0]!, make()).request.body?.raw;
      const withUnknown = this.build(op, own, this.unknown, a.credentials[0]!, make()).request.body?.raw;
      if (withB !== withUnknown) variants.push({ attack: 'foreign-body', path: own, unknown: own });
    }
    for (const v of variants) {
      if (this.omit.has(v.attack)) continue;
      if (Array.isArray(v.path) || Array.isArray(v.unknown)) {
        const missing = Array.isArray(v.path) ? v.path : (v.unknown as string[]);
        this.note(op, `${v.attack}: no id of B for path parameter ${missing.join(', ')}`);
        continue;
      }
      for (const credential of a.credentials) {
        if (v.attack === 'foreign-tenant') await this.pairBare(op, credential, v.path);
        else await this.pair(op, v.attack, credential, v.path, v.unknown, v.parameters);
      }
    }
  }

  /** Sends A's credential at B's values and at unknown ones, and compares the answers. */
  private async pair(
    op: Operation,
    attack: string,
    credential: Credential,
    path: Values,
    unknownPath: Values,
    parameters?: readonly string[],
  ) {
    const make = this.uniques();
    const foreign = this.build(op, path, this.setup.b.ids, credential, make());
    const unknown = this.build(op, unknownPath, this.unknown, credential, make());
    // With mixed owners, a child that an unknown value is accepted for too is a name, not a lookup
    // (e.g. an object key that a PUT creates in A's own resource): the same answer is then no leak.
    const names = parameters !== undefined;
    let judged = this.judgePair(
      await this.send(foreign.request),
      await this.send(unknown.request),
      foreign,
      unknown,
      names,
    );
    if (judged.retry) {
      // A difference is confirmed once more, so a coincidence (a concurrent change) is not reported.
      judged = this.judgePair(
        await this.send(foreign.request),
        await this.send(unknown.request),
        foreign,
        unknown,
        names,
      );
    }
    this.phaseOne.set(`${op.key}|${attack}|${credential.name}`, judged.status);
    this.record(
      op,
      attack,
      credential.name,
      parameters === undefined
        ? '404, or 401/403, as for an unknown id'
        : `404, or 401/403, as for an unknown ${parameters.join(' and ')}`,
      judged.got,
      judged.verdict,
      parameters,
    );
  }

  /**
   * Sends A's credential at B's publicly named tenant and the same call without any credential: A must
   * get what no credential gets (or B's 404), never an answer, and nothing of B.
   */
  private async pairBare(op: Operation, credential: Credential, path: Values) {
    const make = this.uniques();
    const foreign = this.build(op, path, this.setup.b.ids, credential, make());
    const bare = this.build(op, path, this.setup.b.ids, { name: 'none', headers: {} }, make());
    const judge = (f: Exchange, u: Exchange): { verdict: Verdict; got: string; retry: boolean } => {
      const leaked = this.leakedIn(f.text, foreign.masks);
      if (is2xx(f.status))
        return {
          verdict: 'leak',
          got: `${f.status}: accepted (without a credential: ${u.status})`,
          retry: false,
        };
      if (leaked.length > 0)
        return { verdict: 'leak', got: `${f.status}, answer holds ${leaked.join(', ')}`, retry: false };
      if (f.status === 0) return { verdict: 'inconclusive', got: f.text, retry: false };
      if (f.status === u.status)
        return { verdict: 'pass', got: `${f.status} as without a credential`, retry: false };
      if (notFound.has(f.status) || refused.has(f.status))
        return { verdict: 'pass', got: `${f.status} (without a credential: ${u.status})`, retry: false };
      return {
        verdict: 'leak',
        got: `${f.status}: not refused as without a credential (${u.status})`,
        retry: true,
      };
    };
    let judged = judge(await this.send(foreign.request), await this.send(bare.request));
    if (judged.retry) judged = judge(await this.send(foreign.request), await this.send(bare.request));
    this.record(
      op,
      'foreign-tenant',
      credential.name,
      "refused as without a credential at B's tenant, or 404",
      judged.got,
      judged.verdict,
    );
  }

  private judgePair(
    f: Exchange,
    u: Exchange,
    fb: Built,
    ub: Built,
    names = false,
  ): { verdict: Verdict; got: string; status: number; retry: boolean } {
    const base = { status: f.status, retry: false };
    const accepted = is2xx(f.status) && !(names && is2xx(u.status));
    if (accepted) return { ...base, verdict: 'leak', got: `${f.status}: accepted (unknown id: ${u.status})` };
    const leaked = this.leakedIn(f.text, fb.masks);
    if (leaked.length > 0)
      return { ...base, verdict: 'leak', got: `${f.status}, answer holds ${leaked.join(', ')}` };
    const d = difference(comparable(f, fb.masks, this.volatile), comparable(u, ub.masks, this.volatile));
    if (d !== null)
      return { ...base, retry: true, verdict: 'leak', got: `${f.status}; unknown id: ${u.status}; ${d}` };
    if (is2xx(f.status)) return { ...base, verdict: 'pass', got: `${f.status} = unknown id (a name)` };
    if (f.status === 0) return { ...base, verdict: 'inconclusive', got: f.text };
    if (notFound.has(f.status) || refused.has(f.status))
      return { ...base, verdict: 'pass', got: `${f.status} = unknown id` };
    return { ...base, verdict: 'inconclusive', got: `${f.status} = unknown id (refused before the lookup)` };
  }

  // ---- A's own calls, and B smuggled into them ------------------------------------------------------

  /**
   * Returns whether a change with B smuggled into it was accepted, so that B is read again at once and a
   * change of B is blamed on this operation. (Anything else that changed B shows at the end of the run.)
   */
  private async attackOwn(op: Operation): Promise<boolean> {
    const { a, b } = this.setup;
    const names = pathNames(op);
    const tenants = this.tenantParams(op);
    const hasItems = names.some((n) => !tenants.includes(n));
    const safe = safeMethods.has(op.method);
    let changed = false;

    // A's own call with each credential: nothing of B may appear. Deleting A's own things is pointless.
    const own = this.values(op, (n) => a.ids[n]);
    const ownAnswers: { credential: Credential; exchange: Exchange }[] = [];
    if (Array.isArray(own)) this.note(op, `own: no id of A for ${own.join(', ')}`);
    else if (!(op.method === 'DELETE' && hasItems)) {
      for (const credential of a.credentials) {
        const built = this.build(op, own, a.ids, credential, this.uniques()());
        const exchange = await this.send(built.request);
        ownAnswers.push({ credential, exchange });
        const leaked = this.leakedIn(exchange.text, []);
        const conclusive =
          is2xx(exchange.status) || refused.has(exchange.status) || notFound.has(exchange.status);
        this.record(
          op,
          'own',
          credential.name,
          'nothing of B',
          leaked.length > 0 ? `${exchange.status}, answer holds ${leaked.join(', ')}` : `${exchange.status}`,
          leaked.length > 0 ? 'leak' : conclusive ? 'pass' : 'inconclusive',
        );
      }
    }

    // The call B is smuggled into: A's own when the path names nothing inside the tenant, else A's tenant
    // with B's ids (whose honest answer is 404), so that obeying the smuggled field shows.
    let path: Values | string[];
    let credential: Credential | undefined;
    let baseline: Exchange | undefined;
    if (!hasItems) {
      path = own;
      const accepted = ownAnswers.find((x) => !refused.has(x.exchange.status) && x.exchange.status !== 0);
      credential = accepted?.credential;
      if (!safe) baseline = accepted?.exchange;
    } else {
      const attack = tenants.length > 0 ? 'foreign-id' : 'foreign';
      path = this.values(op, (n) => (tenants.includes(n) ? a.ids[n] : b.ids[n]));
      const status = (c: Credential) => this.phaseOne.get(`${op.key}|${attack}|${c.name}`);
      credential =
        a.credentials.find((c) => notFound.has(status(c) ?? 0)) ??
        a.credentials.find((c) => !refused.has(status(c) ?? 401));
    }
    if (Array.isArray(path)) return changed;
    if (credential === undefined) {
      this.note(op, 'smuggle: no credential of A is accepted here');
      return changed;
    }
    const target = path;
    const ownChange = !safe && !hasItems;
    // Repeated creates get fresh names; calls compared with each other carry the same ones.
    const shared = this.uniques();
    const make = ownChange ? () => this.uniques()() : shared;
    const plain = () => this.build(op, target, hasItems ? b.ids : a.ids, credential, make());
    if (baseline === undefined) baseline = await this.send(plain().request);
    if (!hasItems && smuggleRefused.has(baseline.status)) {
      this.note(
        op,
        `smuggle: A's own call is refused (${baseline.status}); the body built from the schema may not fit`,
      );
      return changed;
    }

    const locations: { attack: string; fields: readonly string[]; key: 'query' | 'body' | 'header' }[] = [
      { attack: 'smuggle-query', fields: smuggledFields, key: 'query' },
      { attack: 'smuggle-header', fields: smuggledHeaders, key: 'header' },
    ];
    const body = plain().request.body;
    if (body !== undefined && body.raw.startsWith('{') && /json/.test(body.contentType))
      locations.splice(1, 0, { attack: 'smuggle-body', fields: smuggledFields, key: 'body' });

    for (const location of locations) {
      const outcomes: { field: string; got: string; verdict: Verdict }[] = [];
      for (const field of location.fields) {
        const built = this.build(op, target, hasItems ? b.ids : a.ids, credential, make(), {
          [location.key]: field,
          value: b.id,
        });
        const exchange = await this.send(built.request);
        if (!safe && is2xx(exchange.status)) changed = true;
        outcomes.push({ field, ...(await this.judgeSmuggle(exchange, built, baseline, plain, ownChange)) });
      }
      const verdict: Verdict = outcomes.some((o) => o.verdict === 'leak')
        ? 'leak'
        : outcomes.some((o) => o.verdict === 'pass')
          ? 'pass'
          : 'inconclusive';
      const groups = new Map<string, string[]>();
      for (const o of outcomes) groups.set(o.got, [...(groups.get(o.got) ?? []), o.field]);
      const got = [...groups].map(([g, fields]) => `${fields.join(', ')}: ${g}`).join('; ');
      this.record(
        op,
        location.attack,
        credential.name,
        ownChange ? '400, or nothing of B' : '400, or as without it',
        got,
        verdict,
      );
    }
    return changed;
  }

  private async judgeSmuggle(
    exchange: Exchange,
    built: Built,
    baseline: Exchange,
    plain: () => Built,
    ownChange: boolean,
  ): Promise<{ got: string; verdict: Verdict }> {
    if (exchange.status === 0) return { got: exchange.text, verdict: 'inconclusive' };
    // A refusal may quote the smuggled value back; anything else must not name B at all — beyond what
    // the call without it already shows, which is the own or foreign check's finding, not this one's.
    const masks = smuggleRefused.has(exchange.status)
      ? [...built.masks, [this.setup.b.id, '{smuggled}'] as const]
      : built.masks;
    const already = new Set(this.leakedIn(baseline.text, plain().masks));
    const leaked = this.leakedIn(exchange.text, masks).filter((label) => !already.has(label));
    if (leaked.length > 0)
      return { got: `${exchange.status}, answer holds ${leaked.join(', ')}`, verdict: 'leak' };
    if (smuggleRefused.has(exchange.status)) return { got: `${exchange.status} (refused)`, verdict: 'pass' };
    // A create or action in A's own domain cannot be repeated identically; B's state is read after it.
    if (ownChange) return { got: `${exchange.status}, nothing of B`, verdict: 'pass' };
    const got = comparable(exchange, built.masks, this.volatile);
    let d = difference(got, comparable(baseline, plain().masks, this.volatile));
    if (d !== null) {
      const again = plain();
      d = difference(got, comparable(await this.send(again.request), again.masks, this.volatile));
    }
    if (d !== null)
      return { got: `${exchange.status}, obeyed: ${d} from the call without it`, verdict: 'leak' };
    return { got: `${exchange.status}, as without it`, verdict: 'pass' };
  }

  // ---- cross-site requests -------------------------------------------------------------------------

  /**
   * Every state-changing call A may make with a cookie session (a credential that needs an `Origin` on
   * changes), sent from a third origin: it must be refused (401/403, or as without any credential).
   */
  private async attackCsrf(ops: readonly Operation[]): Promise<void> {
    if (this.omit.has('csrf')) return;
    const cookies = this.setup.a.credentials.filter((c) =>
      Object.keys(c.writeHeaders ?? {}).some((h) => h.toLowerCase() === 'origin'),
    );
    if (cookies.length === 0) return;
    const queue = ops.filter((op) => !safeMethods.has(op.method));
    const workers = Array.from({ length: Math.min(this.concurrency, queue.length) }, async () => {
      for (let op = queue.shift(); op !== undefined; op = queue.shift())
        for (const credential of cookies) await this.crossSite(op, credential);
    });
    await Promise.all(workers);
  }

  private async crossSite(op: Operation, credential: Credential): Promise<void> {
    const own = this.values(op, (n) => this.setup.a.ids[n]);
    if (Array.isArray(own)) return;
    const make = this.uniques();
    const bare = await this.send(
      this.build(op, own, this.setup.a.ids, { name: 'none', headers: {} }, make()).request,
    );
    const thirdParty = Object.fromEntries(
      Object.entries(credential.writeHeaders ?? {}).map(([h, v]) =>
        h.toLowerCase() === 'origin' ? [h, 'https://bulkhead-verify.invalid'] : [h, v],
      ),
    );
    const exchange = await this.send(
      this.build(op, own, this.setup.a.ids, { ...credential, writeHeaders: thirdParty }, make()).request,
    );
    const verdict: Verdict =
      exchange.status === 0
        ? 'inconclusive'
        : refused.has(exchange.status) || exchange.status === bare.status
          ? 'pass'
          : 'leak';
    this.record(
      op,
      'csrf',
      credential.name,
      `refused from another origin (401/403, or ${bare.status} as without a credential)`,
      verdict === 'leak'
        ? `${exchange.status}: ${is2xx(exchange.status) ? 'accepted' : 'not refused'} from https://bulkhead-verify.invalid`
        : verdict === 'pass'
          ? `${exchange.status} (refused)`
          : exchange.text,
      verdict,
    );
  }

  // ---- forged and foreign tokens ------------------------------------------------------------------

  private async attackTokens(ops: readonly Operation[]): Promise<void> {
    const setup = this.setup.tokens!;
    let forge: TokenForge;
    try {
      forge = await TokenForge.create(setup, await fetchPublicKeys(setup));
    } catch (error) {
      for (const op of ops)
        this.note(op, `token: A's token cannot be read as a JWT (${(error as Error).message})`);
      return;
    }
    const listener = await KeyListener.start(forge.attackerKeys);
    try {
      // Reads first: A's own token is tried at each before its forgeries, and reads change nothing.
      const queue = ops
        .map((op, i) => ({ op, tag: `${this.tag}-${i}` }))
        .sort((x, y) => Number(!safeMethods.has(x.op.method)) - Number(!safeMethods.has(y.op.method)));
      const workers = Array.from({ length: Math.min(this.concurrency, queue.length) }, async () => {
        for (let next = queue.shift(); next !== undefined; next = queue.shift())
          await this.attackToken(next.op, forge, listener, next.tag);
      });
      await Promise.all(workers);
    } finally {
      await listener.close();
    }
  }

  /**
   * Sends every forged variant of A's token at A's own call and compares each answer with the answer
   * without any credential: anything else (or a fetch of the listener) is a leak, one check per kind.
   */
  private async attackToken(op: Operation, forge: TokenForge, listener: KeyListener, tag: string) {
    const setup = this.setup.tokens!;
    const ownPath = this.values(op, (n) => this.setup.a.ids[n]);
    if (Array.isArray(ownPath)) return;
    const header = setup.header ?? 'authorization';
    const scheme = setup.scheme ?? 'Bearer ';
    const make = this.uniques();
    const bare = await this.send(
      this.build(op, ownPath, this.setup.a.ids, { name: 'none', headers: {} }, make()).request,
    );
    if (bare.status === 0 || is2xx(bare.status)) {
      this.note(
        op,
        `token: without a credential it answers ${bare.status}, so nothing is refused to compare with`,
      );
      return;
    }
    // At a read, A's own token must be accepted, or its forgeries prove nothing. (A change is not made
    // with it: it could end A's session, or delete what the other attacks need.)
    if (safeMethods.has(op.method)) {
      const genuine = { name: 'token', headers: { [header]: `${scheme}${setup.token}` } };
      const own = await this.send(this.build(op, ownPath, this.setup.a.ids, genuine, make()).request);
      if (own.status === bare.status) {
        this.note(op, `token: A's own token is refused here (${own.status}) like no credential`);
        return;
      }
    }
    const outcomes = new Map<TokenAttack, { variant: string; got: string; verdict: Verdict }[]>();
    const forgeries = (await forge.forge(listener.base, tag)).filter(
      (f) => !this.omit.has(`token[${f.kind}]`),
    );
    for (const forged of forgeries) {
      const credential = { name: 'token', headers: { [header]: `${scheme}${forged.token}` } };
      const exchange = await this.send(this.build(op, ownPath, this.setup.a.ids, credential, make()).request);
      const fetched = forged.fetchPath !== undefined && listener.wasFetched(forged.fetchPath);
      const outcome: { got: string; verdict: Verdict } = fetched
        ? { got: `${exchange.status}, and the listener was asked for ${forged.fetchPath}`, verdict: 'leak' }
        : exchange.status === 0
          ? { got: exchange.text, verdict: 'inconclusive' }
          : exchange.status === bare.status
            ? { got: `${exchange.status} as without`, verdict: 'pass' }
            : is2xx(exchange.status)
              ? { got: `${exchange.status}: accepted`, verdict: 'leak' }
              : { got: `${exchange.status}: not refused as without`, verdict: 'leak' };
      outcomes.set(forged.kind, [
        ...(outcomes.get(forged.kind) ?? []),
        { variant: forged.variant, ...outcome },
      ]);
    }
    for (const [kind, list] of outcomes) {
      const verdict: Verdict = list.some((o) => o.verdict === 'leak')
        ? 'leak'
        : list.some((o) => o.verdict === 'pass')
          ? 'pass'
          : 'inconclusive';
      const groups = new Map<string, string[]>();
      for (const o of list) groups.set(o.got, [...(groups.get(o.got) ?? []), o.variant]);
      const got = [...groups].map(([g, variants]) => `${variants.join(', ')}: ${g}`).join('; ');
      this.record(
        op,
        `token[${kind}]`,
        'token',
        `refused as without a credential (${bare.status})`,
        got,
        verdict,
      );
    }
  }

  // ---- B's state ------------------------------------------------------------------------------------

  /** B's reads: every GET whose path is all B's values, with each credential that may read it. */
  private planReads(ops: readonly Operation[]): { operation: Operation; candidates: OutgoingRequest[] }[] {
    const { b } = this.setup;
    const planned: { operation: Operation; candidates: OutgoingRequest[] }[] = [];
    for (const op of ops) {
      if (op.method !== 'GET' || pathNames(op).length === 0) continue;
      const path = this.values(op, (n) => b.ids[n]);
      if (Array.isArray(path)) continue;
      const candidates = [...b.credentials, ...(this.setup.stateReaders ?? [])].map(
        (c) => this.build(op, path, b.ids, c, () => 'verify').request,
      );
      planned.push({ operation: op, candidates });
    }
    return planned;
  }

  private async snapshot(): Promise<Map<string, Comparable>> {
    if (this.reads === null) {
      // The first snapshot picks, per read, the first credential that B's read succeeds with.
      this.reads = [];
      for (const p of this.planned) {
        for (const request of p.candidates) {
          if (is2xx((await this.send(request)).status)) {
            this.reads.push({ operation: p.operation, request });
            break;
          }
        }
      }
    }
    const out = new Map<string, Comparable>();
    for (const read of this.reads) {
      out.set(read.operation.key, comparable(await this.send(read.request), [], this.volatile));
    }
    return out;
  }

  private compareState(
    before: Map<string, Comparable>,
    after: Map<string, Comparable>,
    cause: Operation | null,
    what: string,
  ): void {
    for (const read of this.reads ?? []) {
      const key = read.operation.key;
      const d = difference(after.get(key)!, before.get(key)!);
      if (d === null) continue;
      this.record(
        cause ?? read.operation,
        'b-state',
        null,
        "B's reads unchanged",
        `${key} ${what}: ${d}`,
        'leak',
      );
    }
  }

  // ---- coverage -------------------------------------------------------------------------------------

  private coverage(op: Operation): OperationResult {
    const base = { operation: op.key, operationId: op.operationId };
    const mine = this.checks.get(op.key) ?? [];
    const leaks = mine.filter((c) => c.verdict === 'leak').length;
    if (op.public)
      return {
        ...base,
        coverage: 'not_applicable',
        reason: 'public: no credential required',
        checks: 0,
        leaks: 0,
      };
    const skip = lookup(this.setup.skip, op);
    if (skip !== undefined) return { ...base, coverage: 'not_applicable', reason: skip, checks: 0, leaks: 0 };
    const relevant = mine.filter((c) =>
      pathNames(op).length > 0 ? c.attack.startsWith('foreign') : c.attack !== 'b-state',
    );
    const conclusive = relevant.filter((c) => c.verdict !== 'inconclusive');
    if (conclusive.length > 0)
      return { ...base, coverage: 'exercised', reason: null, checks: mine.length, leaks };
    const notes = this.notes.get(op.key) ?? [];
    const reason =
      relevant.length > 0
        ? `every attack was inconclusive (e.g. ${relevant[0]!.attack}: ${relevant[0]!.got})`
        : notes.join('; ') || 'no attack applies';
    return { ...base, coverage: 'skipped', reason, checks: mine.length, leaks };
  }
}
