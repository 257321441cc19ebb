// No input makes a 500, on both stores. The server's own OpenAPI document drives the attack: for every
// operation, every field of its body (nested ones and array items too), every query parameter and the
// headers a client controls get generated hostile values (NUL, lone surrogates, huge strings, leap
// seconds, offsets beyond ±14:00, years past 9999, huge and fractional numbers, wrong types,
// prototype-pollution keys), sent with a credential the route accepts and path ids that exist, so that
// the request reaches the handler. Every answer is a success or a 4xx problem, and a refused request
// leaves every table of the store as it was.
import type { LightMyRequestResponse } from 'fastify';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { callerOf, createDomainWithKey, operatorToken, type Call } from '../helpers/api.js';
import { snapshotStore, type StoreSnapshot } from '../helpers/snapshot.js';
import { openStorage, type StorageFixture } from '../helpers/storage.js';
import { tenantPassword } from '../helpers/tenants.js';

/** A domain and its provisioning key. */
interface Home {
  readonly id: string;
  readonly key: string;
}

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
}

interface Operation {
  readonly id: string;
  readonly method: string;
  /** The OpenAPI path, `{param}` style. */
  readonly path: string;
  readonly query: Record<string, JsonSchema>;
  readonly headers: Record<string, JsonSchema>;
  /** The JSON body's alternatives (one unless the schema is an `anyOf`), or none. */
  readonly bodies: JsonSchema[];
  /** The form body's alternatives, for the operations that also read `application/x-www-form-urlencoded`. */
  readonly forms: JsonSchema[];
  readonly credentials: readonly string[];
}

/** Operations whose success would take away what the others need (the fixture's domain, key, principal). */
const destructive = new Set([
  'deleteDomain',
  'suspendDomain',
  'revokeKey',
  'deleteResource',
  'disablePrincipal',
  'deletePrincipal',
  'revokeSession',
  'deleteInstance',
  'deleteVolume',
  'revokeGrant',
  'deleteObject',
  'logout',
  'deleteOAuthClient',
]);

/** The refusals that write on purpose (the audit log records them; a credential's use is stamped). */
const snapshotOptions = {
  exceptTables: ['audit_events', 'audit_heads', 'settings'],
  exceptColumns: ['last_used_at', 'last_seen_at'],
};

// ---- hostile values -------------------------------------------------------------------------------

const loneSurrogates = fc
  .array(fc.integer({ min: 0xd800, max: 0xdfff }), { minLength: 1, maxLength: 4 })
  .map((units) => `a${String.fromCharCode(...units)}`);

const hostileText = fc.oneof(
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udfff',
    '\udc00\ud800',
    '2016-12-31T23:59:60Z',
    '9999-12-31T23:59:59-23:59',
    '9999-12-31T23:59:59-01:00',
    '0000-01-01T00:00:00Z',
    '+010000-01-01T00:00:00Z',
    '2030-02-30T00:00:00Z',
    '2030-01-01T00:00:00+14:01',
    '2030-01-01T00:00:00.1234567890Z',
    '2030-01-01 00:00:00Z',
    '__proto__',
    'constructor',
    'prototype',
    '',
    ' ',
    '\u202e\u200b',
    'ＡＣＭＥ',
    "'; DROP TABLE domains; --",
    '%00',
    '%E0%A4%A',
    '../../etc/passwd',
    'x'.repeat(4096),
    '\uffff\ufffe',
    '99999999999999999999',
  ),
  loneSurrogates,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 400 }),
);

const hostileNumber = fc.oneof(
  fc.constantFrom(1e308, -1e308, 2 ** 53, -(2 ** 53), 1e20, Number.MAX_SAFE_INTEGER, -1, 0, 0.5, -0),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** A JSON value that is hostile in some way, as JSON text (so `__proto__` keys reach the parser as sent). */
const hostileJson: fc.Arbitrary<string> = fc.oneof(
  hostileText.map((s) => JSON.stringify(s)),
  hostileNumber.map((n) => JSON.stringify(n)),
  fc.constantFrom(
    'true',
    'null',
    '{}',
    '[]',
    '[null]',
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
    '"\\u0000"',
    '"\\ud800"',
    '1e400',
    '123456789012345678901234567890',
  ),
  fc.array(hostileText, { maxLength: 3 }).map((a) => JSON.stringify(a)),
);

/** Query-string text as sent on the wire: raw, percent-encoded, or bytes that do not decode. */
const hostileQueryText = fc.oneof(
  hostileText.map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, 'x'))),
  fc.constantFrom(
    '%00',
    'a%00b',
    '%ED%A0%80',
    '%E0%A4%A',
    '%',
    '%zz',
    '99999999999999999999',
    '1e400',
    '-1',
    '1.5',
    '2016-12-31T23:59:60Z',
    '9999-12-31T23:59:59-23:59',
    '9999-12-31T23:59:59%2B14:01',
    '0000-01-01T00:00:00Z',
    'true&x=1',
    '',
  ),
);

// ---- bodies from the schema -----------------------------------------------------------------------

type Ids = Record<string, string>;

function validString(name: string, schema: JsonSchema, ids: Ids): string {
  // A usage record's time is now (one ahead of the clock is refused); any other, an hour ahead.
  if (schema.format === 'date-time')
    return new Date(Date.now() + (name === 'at' ? 0 : 3_600_000)).toISOString();
  if (schema.format === 'email') return `p${Math.random().toString(36).slice(2, 10)}@example.com`;
  const pattern = schema.pattern ?? '';
  const prefix = /^\^([a-z]{3})_/.exec(pattern)?.[1];
  if (prefix !== undefined) {
    const byPrefix: Record<string, string | undefined> = {
      dom: name === 'to' ? ids['other'] : ids['domainId'],
      res: ids['resourceId'],
      ins: ids['instanceId'],
    };
    return byPrefix[prefix] ?? ids['domainId']!;
  }
  if (pattern.startsWith('^[a-z0-9]')) return `n${Math.random().toString(36).slice(2, 10)}`;
  if (name === 'slug') return `s${Math.random().toString(36).slice(2, 12)}`;
  if (name === 'grant_type') return 'password';
  // A client of the home domain, for the OAuth endpoints that authenticate one (client_secret_post).
  if (name === 'client_id') return ids['clientId']!;
  // An OAuth client's registration: a redirect URI and an origin of the kind it accepts.
  if (name === 'redirectUris') return 'https://app.example/cb';
  if (name === 'postLogoutRedirectUris') return 'https://app.example/signed-out';
  if (name === 'allowedOrigins') return 'https://app.example';
  if (name === 'client_secret') return ids['clientSecret']!;
  if (name === 'domain') return ids['domainId']!;
  if (name === 'username') return 'ada@example.com';
  if (name === 'password') return tenantPassword;
  // A grant's resources: all of them.
  if (name === 'resources') return '*';
  if (name === 'currency') return 'EUR';
  // Billing details: a country ISO 3166-1 names.
  if (name === 'country') return 'DE';
  // A domain's portal: a host of its own (hosts are unique across domains), colours, support contacts.
  if (name === 'hosts') return `h${Math.random().toString(36).slice(2, 12)}.portal.example`;
  if (name === 'primaryColor' || name === 'accentColor') return '#1f4f8f';
  if (name === 'supportEmail') return 'help@example.com';
  if (name === 'supportUrl') return 'https://example.com/help';
  return 'x'.repeat(Math.max(1, schema.minLength ?? 1));
}

/** A value the schema accepts, with ids of things that exist. */
function validValue(name: string, schema: JsonSchema, ids: Ids): unknown {
  if (schema.const !== undefined) return schema.const;
  // The kind the fixture's server has a provider for, where the field names a kind.
  if (schema.enum !== undefined) return schema.enum.includes('storage') ? 'storage' : schema.enum[0];
  if (schema.anyOf !== undefined) {
    const storage = schema.anyOf.find((s) => s.const === 'storage');
    return validValue(name, storage ?? schema.anyOf[0]!, ids);
  }
  switch (schema.type) {
    case 'object': {
      const value: Record<string, unknown> = {};
      // Optional fields too, so that a value reaches the handler (the password grant's username).
      for (const [key, property] of Object.entries(schema.properties ?? {})) {
        value[key] = validValue(key, property, ids);
      }
      return value;
    }
    case 'array':
      return [validValue(name, schema.items ?? {}, ids)];
    case 'integer':
    case 'number':
      // Sizes and limits large enough that a pool set by one request leaves room for the next create.
      return Math.min(
        schema.maximum ?? Number.MAX_SAFE_INTEGER,
        Math.max(
          schema.minimum ?? 0,
          name === 'sizeBytes'
            ? 4096
            : name === 'overlapSeconds'
              ? 60
              : name.endsWith('Bytes')
                ? 2 ** 40
                : 1000,
        ),
      );
    case 'boolean':
      return false;
    default:
      return validString(name, schema, ids);
  }
}

/** Every place in a body a value can go: each property, nested objects and the first item of arrays. */
function fieldPaths(schema: JsonSchema, prefix: (string | number)[] = []): (string | number)[][] {
  const paths: (string | number)[][] = [];
  if (schema.type === 'object') {
    for (const [key, property] of Object.entries(schema.properties ?? {})) {
      paths.push([...prefix, key], ...fieldPaths(property, [...prefix, key]));
    }
  } else if (schema.type === 'array' && schema.items !== undefined) {
    paths.push(...fieldPaths(schema.items, [...prefix, 0]));
  }
  return paths;
}

/** The schema of the value at `path`. */
function schemaAt(schema: JsonSchema, path: (string | number)[]): JsonSchema {
  let node = schema;
  for (const step of path) node = (typeof step === 'number' ? node.items : node.properties?.[step]) ?? {};
  return node.anyOf?.[0] ?? node;
}

/** The values that used to answer 500 in a field of this kind. */
function knownFor(schema: JsonSchema): string[] {
  if (schema.format === 'date-time')
    return ['"2016-12-31T23:59:60Z"', '"9999-12-31T23:59:59-23:59"', '"9999-12-31T23:59:59-01:00"'];
  if (schema.type === 'string') return ['"a\\u0000b"', '"\\udc00"'];
  if (schema.type === 'integer' || schema.type === 'number') return ['1e20', '-1e300'];
  return [];
}

/** Where the hostile value goes: plain text, which `JSON.stringify` writes as it is (a control
 * character would come out escaped and never be found again). */
const marker = 'hostile-value-goes-here';

/** The body as JSON text with the value at `path` replaced by `json` (text, so `__proto__` survives). */
function bodyWith(
  base: unknown,
  path: (string | number)[],
  json: string,
  schema: JsonSchema,
  ids: Ids,
): string {
  const copy = structuredClone(base) as Record<string | number, unknown>;
  let node: Record<string | number, unknown> = copy;
  let schemaNode = schema;
  for (const step of path.slice(0, -1)) {
    schemaNode = (typeof step === 'number' ? schemaNode.items : schemaNode.properties?.[step]) ?? {};
    node[step] ??= validValue(String(step), schemaNode, ids);
    node = node[step] as Record<string | number, unknown>;
  }
  node[path.at(-1)!] = marker;
  const text = JSON.stringify(copy);
  const at = text.indexOf(`"${marker}"`);
  // A body the value did not go into would test nothing: the test itself fails instead.
  if (at < 0) throw new Error(`no place for the value at ${path.join('/')} in ${text}`);
  return text.slice(0, at) + json + text.slice(at + marker.length + 2);
}

// ---- the operations -------------------------------------------------------------------------------

function operationsOf(app: App): Operation[] {
  const doc = app.swagger() as unknown as {
    paths: Record<string, Record<string, Record<string, unknown>>>;
  };
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const parameters = (op['parameters'] ?? []) as { in: string; name: string; schema: JsonSchema }[];
      const content = (op['requestBody'] as { content?: Record<string, { schema: JsonSchema }> } | undefined)
        ?.content;
      const body = content?.['application/json']?.schema;
      const form = content?.['application/x-www-form-urlencoded']?.schema;
      const url = path.replace(/\{([^}]+)\}/g, (_m, name: string) => (name === '*' ? '*' : `:${name}`));
      const route = app.accessTable.find((r) => r.method === method.toUpperCase() && r.url === url);
      operations.push({
        id: String(op['operationId']),
        method: method.toUpperCase(),
        path,
        query: Object.fromEntries(parameters.filter((p) => p.in === 'query').map((p) => [p.name, p.schema])),
        headers: Object.fromEntries(
          parameters.filter((p) => p.in === 'header').map((p) => [p.name, p.schema]),
        ),
        bodies: body === undefined ? [] : (body.anyOf ?? [body]),
        forms: form === undefined ? [] : (form.anyOf ?? [form]),
        credentials: route?.access?.credentials ?? [],
      });
    }
  }
  return operations;
}

interface Fixture {
  readonly app: App;
  readonly services: Services & { drop(): Promise<void> };
  readonly storage: StorageFixture;
  readonly home: Home;
  readonly ids: Ids;
}

async function openFixture(backend: (typeof backends)[number]): Promise<Fixture> {
  const storage = await openStorage();
  const services = await openTestServices(backend, {
    providers: new Map([['storage', storage.provider]]),
    // Every generated value must reach validation: the domain's share of the server (its own guarantee,
    // test/api/fair-share.test.ts) must not answer first.
    tenantLimits: { requestsPerSecond: 0, requestBurst: 1, concurrentRequests: 0 },
    // Nor the sign-in limits (their own suites: auth/sign-in, api/rate-limit-headers): hostile passwords
    // are failed sign-ins, and as many as the random runs happen to send would lock the fixture's account
    // and address, so that the base form itself is refused (429) and the values after it test nothing.
    loginLimits: { windowMs: 15 * 60_000, maxPerName: 1_000_000, maxPerAddress: 1_000_000 },
    // Each domain an OpenID Provider, so that its OAuth endpoints read what they are sent.
    publicUrl: 'http://localhost',
  });
  await services.operator.initialise(operatorToken);
  const app = await buildServer(services);
  const tag = `${backend.name}-${process.pid}`;
  // A setup request that must succeed: its answer's JSON.
  const made = async (...[method, url, options]: Parameters<Call>) => {
    const res = await callerOf(app)(method, url, options);
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res.json<Record<string, string>>();
  };
  // Domains and keys only: no password is hashed but the one principal's, so the setup stays quick.
  const domain = (name: string): Promise<Home> =>
    createDomainWithKey(callerOf(app), { slug: `${name}-${tag}`, name });
  const home = await domain('hostile-home');
  const other = await domain('hostile-other');
  const base = `/v1/domains/${home.id}`;
  const resourceId = (
    await made('POST', `${base}/resources`, { token: home.key, body: { kind: 'storage', name: 'files' } })
  )['id']!;
  const otherResource = (
    await made('POST', `/v1/domains/${other.id}/resources`, {
      token: other.key,
      body: { kind: 'storage', name: 'files' },
    })
  )['id']!;
  const client = await made('POST', `${base}/principals`, {
    token: operatorToken,
    body: { kind: 'service' },
  });
  const spareKey = (await made('POST', `${base}/keys`, { token: operatorToken, body: { name: 'spare' } }))[
    'id'
  ]!;
  const ada = (
    await made('POST', `${base}/principals`, {
      token: operatorToken,
      body: { kind: 'user', email: 'ada@example.com', password: tenantPassword },
    })
  )['id']!;
  const instanceId = (await made('POST', `${base}/instances`, { token: home.key, body: { name: 'web' } }))[
    'id'
  ]!;
  const volumeId = (
    await made('POST', `${base}/volumes`, { token: home.key, body: { name: 'data', sizeBytes: 4096 } })
  )['id']!;
  const blueprintId = (
    await made('POST', `${base}/blueprints`, {
      token: home.key,
      body: { name: 'set', resources: [{ kind: 'storage', name: 'set-files' }] },
    })
  )['id']!;
  const grantId = (
    await made('POST', '/v1/grants', {
      token: operatorToken,
      body: {
        from: home.id,
        to: other.id,
        actions: ['volumes.read'],
        resources: ['*'],
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        reason: 'fixture',
      },
    })
  )['id']!;
  // A closed period with an invoice of the home domain, priced by a book whose meter the generated
  // bodies name (`x`).
  await made('PUT', '/v1/billing/prices', {
    token: operatorToken,
    body: { currency: 'EUR', meters: [{ meter: 'x', unit: 'x', unitPrice: 1 }] },
  });
  const now = new Date();
  const pastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 10));
  await made('POST', `${base}/usage`, {
    token: operatorToken,
    body: { meter: 'x', quantity: 3, eventId: 'fixture', at: pastMonth.toISOString() },
  });
  const period = pastMonth.toISOString().slice(0, 7);
  await made('POST', `/v1/billing/periods/${period}/close`, { token: operatorToken });
  const invoiceId = (
    await app
      .inject({
        method: 'GET',
        url: `${base}/invoices`,
        headers: { authorization: `Bearer ${operatorToken}` },
      })
      .then((r) => r.json<{ items: { id: string }[] }>())
  ).items[0]!.id;
  const put = await app.inject({
    method: 'PUT',
    url: `${base}/resources/${resourceId}/objects/obj.txt`,
    headers: { authorization: `Bearer ${home.key}`, 'content-type': 'application/octet-stream' },
    payload: 'data',
  });
  expect(put.statusCode, put.body).toBe(200);
  return {
    app,
    services,
    storage,
    home,
    ids: {
      domainId: home.id,
      other: other.id,
      keyId: spareKey,
      resourceId,
      otherResource,
      principalId: ada,
      sessionId: 'ses_00000000000000000000000000',
      instanceId,
      volumeId,
      blueprintId,
      grantId,
      invoiceId,
      period,
      '*': 'obj.txt',
      slug: `hostile-home-${tag}`,
      clientId: client['clientId']!,
      clientSecret: client['clientSecret']!,
    },
  };
}

function urlOf(op: Operation, ids: Ids): string {
  return op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => ids[name] ?? `unknown-${name}`);
}

/** A credential the route accepts, as headers (an operator first: it reaches every route it is on). */
function credentialOf(op: Operation, home: Home): Record<string, string> {
  if (op.credentials.includes('operator')) return { authorization: `Bearer ${operatorToken}` };
  if (op.credentials.includes('provisioning_key')) return { authorization: `Bearer ${home.key}` };
  // Signing in with a cookie is for this site's pages only (login CSRF).
  if (op.id === 'login') return { origin: 'http://localhost:80' };
  return {};
}

/** The body a hostile value is put into: one the route accepts as it is. */
function baseBody(op: Operation, schema: JsonSchema, ids: Ids): unknown {
  if (op.id === 'probeProviderIsolation') return probeBody(ids);
  const value = validValue('', schema, ids);
  if (op.id === 'issuerToken' || op.id === 'issuerRevoke' || op.id === 'issuerIntrospect') {
    // A domain's own token endpoint takes no password grant: its client asks for itself, and
    // authenticates one way (its secret), not with a private_key_jwt assertion as well.
    const {
      client_assertion: _assertion,
      client_assertion_type: _type,
      ...rest
    } = value as Record<string, unknown>;
    return op.id === 'issuerToken' ? { ...rest, grant_type: 'client_credentials' } : rest;
  }
  // A client registered with a secret: public keys (`jwks`) go only with private_key_jwt.
  if (op.id === 'createOAuthClient') {
    const { jwks: _jwks, ...rest } = value as Record<string, unknown>;
    return rest;
  }
  return value;
}

/** The OAuth endpoints answer errors as RFC 6749 §5.2 says (application/json), not as problems. */
const oauthEndpoint = /^\/(v1\/auth\/(token|revoke)|d\/[^/]+\/(token|revoke|introspect))(\?|$)/;

/** The issuer's browser endpoints: what they refuse is shown on a page for the person. */
const browserPage = /^\/d\/[^/]+\/(authorize|end-session)(\?|$)/;

/** The probe route takes A's and B's resource: B's is the other domain's. */
function probeBody(ids: Ids) {
  return {
    a: { domainId: ids['domainId'], resourceId: ids['resourceId'] },
    b: { domainId: ids['other'], resourceId: ids['otherResource'] },
  };
}

// ---- the properties -------------------------------------------------------------------------------

describe.each(backends)('hostile input from the OpenAPI document on $name', (backend) => {
  let f: Fixture;
  let operations: Operation[];
  let current: StoreSnapshot;
  const seen = new Map<string, number>();
  /** The last answer `send` checked. */
  let last = { status: 0, what: '' };

  beforeAll(async () => {
    f = await openFixture(backend);
    operations = operationsOf(f.app);
    current = await snapshotStore(f.services.store, snapshotOptions);
  }, 180_000);
  afterAll(async () => {
    await f.app.close();
    await f.services.drop();
    f.storage.remove();
  });

  /** Sends a request; returns false when Node itself would refuse to send it (a header it cannot carry). */
  async function send(
    label: string,
    request: { method: string; url: string; headers: Record<string, string>; payload?: string },
  ): Promise<boolean> {
    let res: LightMyRequestResponse;
    try {
      res = await f.app.inject({
        method: request.method as 'GET',
        url: request.url,
        headers: request.headers,
        ...(request.payload === undefined ? {} : { payload: request.payload }),
      });
    } catch (error) {
      if (error instanceof TypeError && /header|character/i.test(error.message)) return false;
      throw error;
    }
    const what = `${label}: ${res.statusCode} ${res.body.slice(0, 300)}`;
    last = { status: res.statusCode, what };
    expect(res.statusCode, what).toBeLessThan(500);
    seen.set(
      `${Math.floor(res.statusCode / 100)}xx`,
      (seen.get(`${Math.floor(res.statusCode / 100)}xx`) ?? 0) + 1,
    );
    const before = current;
    current = await snapshotStore(f.services.store, snapshotOptions);
    if (res.statusCode >= 400 && oauthEndpoint.test(request.url)) {
      expect(String(res.headers['content-type']), what).toMatch(/^application\/json/);
      expect(res.headers['cache-control'], what).toBe('no-store');
      const { error, code } = res.json<{ error: unknown; code: unknown }>();
      expect(typeof error, what).toBe('string');
      expect(typeof code, what).toBe('string');
      expect(current, `${what}: a refused request changed the store`).toEqual(before);
    } else if (
      res.statusCode >= 400 &&
      browserPage.test(request.url) &&
      String(res.headers['content-type']).startsWith('text/html')
    ) {
      // A request the authorization endpoint cannot send back to a client is told to the person, on a page
      // (RFC 6749 §4.1.2.1), under the page's own Content-Security-Policy; a query that fails the schema
      // before any page is chosen is a problem like anywhere else (below).
      expect(String(res.headers['content-security-policy']), what).toContain("default-src 'none'");
      expect(current, `${what}: a refused request changed the store`).toEqual(before);
    } else if (res.statusCode >= 400) {
      expect(String(res.headers['content-type']), what).toMatch(/^application\/problem\+json/);
      expect(res.json<{ status: number }>().status, what).toBe(res.statusCode);
      expect(current, `${what}: a refused request changed the store`).toEqual(before);
    }
    return true;
  }

  it('reads a body for every operation that takes one, and bounds every field of it', () => {
    const withBodies = operations.filter((op) => op.bodies.length > 0).map((op) => op.id);
    expect(withBodies).toEqual(expect.arrayContaining(['createDomain', 'issueKey', 'createGrant', 'token']));
    // Every request string has a bound: a length, a closed set, or a pattern of bounded repetition.
    const unbounded: string[] = [];
    const walk = (where: string, schema: JsonSchema) => {
      if (schema.anyOf !== undefined) return schema.anyOf.forEach((s) => walk(where, s));
      if (schema.type === 'string' && schema.enum === undefined && schema.const === undefined) {
        const bounded =
          (schema as { maxLength?: number }).maxLength !== undefined ||
          (schema.pattern !== undefined && /\{\d+\}\$$|\{\d+,\d+\}\$$/.test(schema.pattern));
        if (!bounded) unbounded.push(where);
      }
      for (const [key, property] of Object.entries(schema.properties ?? {}))
        walk(`${where}/${key}`, property);
      if (schema.items !== undefined) walk(`${where}/0`, schema.items);
    };
    for (const op of operations) {
      op.bodies.forEach((b) => walk(`${op.id} body`, b));
      for (const [name, s] of Object.entries(op.query)) walk(`${op.id} query ${name}`, s);
      for (const [name, s] of Object.entries(op.headers)) walk(`${op.id} header ${name}`, s);
    }
    expect(unbounded).toEqual([]);
  });

  it(
    'answers hostile values in every body field with a 4xx problem (or a success) and changes nothing when it refuses',
    { timeout: 180_000 },
    async () => {
      const slots = operations.flatMap((op) =>
        op.bodies.flatMap((schema) => [
          { op, schema, path: [] as (string | number)[] },
          ...fieldPaths(schema).map((path) => ({ op, schema, path })),
        ]),
      );
      expect(slots.length).toBeGreaterThan(30);
      // The body each hostile value goes into must be accepted as it is: otherwise another field could be
      // what is refused, and the hostile value would never reach the handler it is meant to test.
      for (const op of operations.filter((o) => o.bodies.length > 0 && !destructive.has(o.id))) {
        for (const schema of op.bodies) {
          await send(`${op.method} ${op.path} as the fixture sends it`, {
            method: op.method,
            url: urlOf(op, f.ids),
            headers: { ...credentialOf(op, f.home), 'content-type': 'application/json' },
            payload: JSON.stringify(baseBody(op, schema, f.ids)),
          });
          // The one refusal allowed: a resource kind this fixture has no provider for (its fields are
          // still read by the validators, which is where a hostile value is refused).
          if (last.what.includes('"unsupported_kind"')) continue;
          expect(
            last.status,
            `${last.what}: the base body is refused, so hostile values in it test nothing`,
          ).toBeLessThan(400);
        }
      }
      const run = async (slot: (typeof slots)[number], json: string, extra: string | null) => {
        const { op, schema, path } = slot;
        const base = baseBody(op, schema, f.ids);
        let payload = path.length === 0 ? json : bodyWith(base, path, json, schema, f.ids);
        if (extra !== null && payload.startsWith('{') && payload.length > 2) {
          payload = `{${JSON.stringify(extra)}:${json},${payload.slice(1)}`;
        }
        await send(`${op.method} ${op.path} ${path.join('/')} = ${json.slice(0, 80)}`, {
          method: op.method,
          url: urlOf(op, f.ids),
          headers: { ...credentialOf(op, f.home), 'content-type': 'application/json' },
          payload,
        });
      };
      // Every slot gets the values that used to break a field of its kind, and one more in turn.
      const known = ['"a\\u0000b"', '"\\ud800"', '1e300', '{"__proto__":1}', '"2016-12-31T23:59:60Z"'];
      for (const [i, slot] of slots.entries()) {
        for (const json of [...knownFor(schemaAt(slot.schema, slot.path)), known[i % known.length]!])
          await run(slot, json, null);
      }
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...slots),
          hostileJson,
          fc.option(fc.constantFrom('__proto__', 'constructor', 'prototype', 'domainId', '\u0000'), {
            freq: 4,
          }),
          run,
        ),
        { numRuns: 100 },
      );
      expect(seen.get('2xx') ?? 0, 'some hostile-looking values are valid').toBeGreaterThan(0);
    },
  );

  it(
    'answers hostile values in every field of a form body with a 4xx problem (or a success) and changes nothing when it refuses',
    { timeout: 180_000 },
    async () => {
      // The sign-in and token routes read forms as OAuth clients send them: the fields arrive as text that
      // the server percent-decodes itself, so bytes that do not decode and NULs reach it this way too.
      const slots = operations.flatMap((op) =>
        op.forms.flatMap((schema) =>
          Object.keys(schema.properties ?? {}).map((field) => ({ op, schema, field })),
        ),
      );
      expect(slots.map((s) => s.op.id)).toEqual(expect.arrayContaining(['token', 'login']));
      const formOf = (op: Operation, schema: JsonSchema, field: string | null, raw: string) =>
        Object.entries(baseBody(op, schema, f.ids) as Record<string, unknown>)
          .map(([key, value]) => `${key}=${key === field ? raw : encodeURIComponent(String(value))}`)
          .join('&');
      const run = async (slot: (typeof slots)[number], raw: string) =>
        send(`${slot.op.method} ${slot.op.path} form ${slot.field} = ${raw.slice(0, 80)}`, {
          method: slot.op.method,
          url: urlOf(slot.op, f.ids),
          headers: { ...credentialOf(slot.op, f.home), 'content-type': 'application/x-www-form-urlencoded' },
          payload: formOf(slot.op, slot.schema, slot.field, raw),
        });
      // A hostile value the body test sent as a new password may have been a valid one, and set: the forms
      // sign the fixture's person in with its own password again.
      await f.services.principals.setPassword(
        { actor: 'test', requestId: null },
        f.home.id,
        f.ids.principalId!,
        tenantPassword,
      );
      for (const op of operations.filter((o) => o.forms.length > 0 && !destructive.has(o.id))) {
        await send(`${op.method} ${op.path} form as the fixture sends it`, {
          method: op.method,
          url: urlOf(op, f.ids),
          headers: { ...credentialOf(op, f.home), 'content-type': 'application/x-www-form-urlencoded' },
          payload: formOf(op, op.forms[0]!, null, ''),
        });
        expect(
          last.status,
          `${last.what}: the base form is refused, so hostile values in it test nothing`,
        ).toBeLessThan(400);
      }
      const known = ['a%00b', '%00', '%ED%A0%80', '%E0%A4%A', '%', 'x'.repeat(5000), '2016-12-31T23:59:60Z'];
      for (const slot of slots) for (const raw of known) await run(slot, raw);
      await fc.assert(fc.asyncProperty(fc.constantFrom(...slots), hostileQueryText, run), { numRuns: 60 });
    },
  );

  it(
    'answers hostile query parameters and headers on every operation with a 4xx problem (or a success)',
    { timeout: 180_000 },
    async () => {
      const run = async (
        op: Operation,
        param: string,
        value: string,
        header: { name: string; value: string } | null,
      ) => {
        const body =
          op.bodies.length === 0
            ? undefined
            : JSON.stringify(
                op.id === 'probeProviderIsolation' ? probeBody(f.ids) : validValue('', op.bodies[0]!, f.ids),
              );
        const headers: Record<string, string> = {
          ...credentialOf(op, f.home),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        };
        // Destructive operations keep their query hostile (a route refuses what it does not declare) and
        // get no header but a hostile credential, so a success cannot take the fixture away.
        if (header !== null && (!destructive.has(op.id) || header.name === 'authorization'))
          headers[header.name] = header.value;
        await send(`${op.method} ${op.path}?${param}=${value} ${JSON.stringify(header)}`, {
          method: op.method,
          url: `${urlOf(op, f.ids)}?${param}=${value}`,
          headers,
          ...(body === undefined ? {} : { payload: body }),
        });
      };
      const paramOf = (op: Operation) =>
        fc.constantFrom(
          ...Object.keys(op.query),
          'unknown',
          '__proto__',
          'constructor[prototype][polluted]',
          'domainId',
          '%00',
        );
      const headerOf = fc.oneof(
        fc.record({
          name: fc.constantFrom(
            'authorization',
            'cookie',
            'origin',
            'content-type',
            'idempotency-key',
            'accept',
            'x-forwarded-for',
            'x-request-id',
            'content-encoding',
          ),
          value: hostileText,
        }),
        fc.record({
          name: fc.constant('authorization'),
          value: fc.oneof(
            fc.constantFrom(
              'Basic JUUwJUE0JUE6JQ==',
              'Basic ',
              'Basic %%%',
              'Bearer',
              'Bearer bhk_',
              `Bearer ${'a'.repeat(5000)}`,
              'Bearer e30.e30.',
            ),
            hostileText.map((s) => `Bearer ${s}`),
            hostileText.map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
          ),
        }),
      );
      // Every declared query parameter with the values that used to break one, then random ones.
      const known = ['%00', '99999999999999999999', '2016-12-31T23:59:60Z', '%ED%A0%80'];
      let turn = 0;
      const knownHeaders = [
        { name: 'authorization', value: 'Bearer e30.e30.' },
        { name: 'content-type', value: 'application/json; charset=utf-16' },
        { name: 'cookie', value: 'bulkhead_session=%E0%A4%A; __proto__=1' },
        { name: 'idempotency-key', value: 'k'.repeat(300) },
        { name: 'authorization', value: `Basic ${Buffer.from('\u0000:\ud800').toString('base64')}` },
      ];
      for (const [i, op] of operations.entries()) {
        for (const param of Object.keys(op.query)) await run(op, param, known[turn++ % known.length]!, null);
        await run(op, 'unknown', '%00', knownHeaders[i % knownHeaders.length]!);
      }
      await fc.assert(
        fc.asyncProperty(
          fc
            .constantFrom(...operations)
            .chain((op) =>
              fc.tuple(fc.constant(op), paramOf(op), hostileQueryText, fc.option(headerOf, { freq: 2 })),
            ),
          async ([op, param, value, header]) => run(op, param, value, header),
        ),
        { numRuns: 120 },
      );
    },
  );
});
