// A target for any API, described by a JSON file: the base URL, the two probe domains' credentials as
// headers, the ids of their things by path parameter name, and optional calls that create those things
// before the run (and remove them after). `${NAME}` in any string is read from the environment, so keys
// need not be written into the file.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../config.js';
import { httpSender, type Send } from './http.js';
import { fillTemplate } from './samples.js';
import type { Credential, HostSetup, OAuthSetup, ProbeDomain, ProbeSetup, Target } from './target.js';
import { TargetError } from './target.js';
import type { TokenSetup } from './tokens.js';
import type { JWK } from 'jose';

const headers = z.record(z.string(), z.string());
const credential = z.strictObject({ headers, writeHeaders: headers.optional() });
const domain = z.strictObject({
  id: z.string().min(1),
  credentials: z
    .record(z.string(), credential)
    .refine((c) => Object.keys(c).length > 0, 'needs at least one credential'),
  ids: z.record(z.string(), z.string().min(1)).default({}),
  secrets: z.array(z.string().min(1)).default([]),
});
const body = z.union([
  z.strictObject({ json: z.unknown() }),
  z.strictObject({ contentType: z.string().min(1), raw: z.string() }),
]);
const call = z.strictObject({
  method: z.string().regex(/^[A-Za-z]+$/),
  path: z.string().startsWith('/'),
});
const create = call.extend({
  domain: z.enum(['a', 'b']),
  /** The credential to use, by name; the domain's first by default. */
  credential: z.string().optional(),
  body: body.optional(),
  /** Ids to keep from the answer: parameter name → dotted path in the JSON answer, e.g. `id`. */
  capture: z.record(z.string(), z.string()).default({}),
  cleanup: call.optional(),
});

/** A's bearer JWT, for the token attacks (see tokens.ts). */
const tokens = z.strictObject({
  token: z.string().min(1),
  header: z.string().min(1).default('authorization'),
  scheme: z.string().default('Bearer '),
  /** Where the target publishes its keys; default `<baseUrl>/.well-known/jwks.json` (and the issuer's discovery). */
  jwksUrl: z.url().optional(),
  /** The claims that name the tenant, with B's values. */
  foreignClaims: z.record(z.string(), z.unknown()).default({}),
  /** A's issuer's private key as JWK JSON, when a test issuer lets the prober sign A's tokens. */
  signingKey: z
    .string()
    .refine((text) => {
      try {
        const key: unknown = JSON.parse(text);
        return typeof key === 'object' && key !== null && 'kty' in key;
      } catch {
        return false;
      }
    }, 'must be a JWK as JSON')
    .optional(),
  /** B's issuer, when B's tokens come from another issuer. */
  foreignIssuer: z.string().min(1).optional(),
});

/** A tenant's authorization server and a confidential client of it (see oauth.ts). */
const oauthParty = {
  tokenPath: z.string().startsWith('/'),
  introspectionPath: z.string().startsWith('/'),
  revocationPath: z.string().startsWith('/').optional(),
  client: z.strictObject({ id: z.string().min(1), secret: z.string().min(1) }),
};

/** A's tokens and client at B's authorization server. */
const oauth = z.strictObject({
  a: z.strictObject({
    ...oauthParty,
    accessToken: z.string().min(1),
    refreshToken: z.string().min(1).optional(),
    refreshClient: z.boolean().optional(),
  }),
  b: z.strictObject(oauthParty),
});

/** Per-tenant hosts: A's session cookie is replayed at B's host on every route listed. */
const hosts = z
  .strictObject({
    a: z.string().min(1),
    b: z.string().min(1),
    scheme: z.enum(['http', 'https']).default('https'),
    /** A's session as request headers, e.g. `{"cookie": "session=${ALPHA_SESSION}"}`. */
    session: headers.optional(),
    /** Or a sign-in at A's host whose answer sets the cookie named `cookie`. */
    signIn: z
      .strictObject({
        path: z.string().startsWith('/'),
        form: z.record(z.string(), z.string()),
        cookie: z.string().min(1),
      })
      .optional(),
    /** The form token: its field, and its value or the page of A's host that shows it. */
    formToken: z
      .strictObject({
        field: z.string().min(1),
        value: z.string().min(1).optional(),
        page: z.string().startsWith('/').optional(),
      })
      .optional(),
    /** Values of A's that must never show at B's host (A's name, a person's email). */
    markers: z.array(z.string().min(1)).default([]),
    routes: z
      .array(
        z.strictObject({
          method: z.string().regex(/^[A-Za-z]+$/),
          path: z.string().startsWith('/'),
          form: z.record(z.string(), z.string()).optional(),
        }),
      )
      .min(1),
  })
  .refine((h) => (h.session === undefined) !== (h.signIn === undefined), 'needs session or signIn');

const schema = z.strictObject({
  baseUrl: z.url(),
  spec: z.string().min(1).optional(),
  timeoutSeconds: z.number().positive().max(300).default(10),
  domains: z.strictObject({ a: domain, b: domain }),
  /** Path parameters that name a tenant publicly (an issuer's slug), with each domain's value in `ids`. */
  publicTenantParams: z.array(z.string().min(1)).default([]),
  unknownIds: z.record(z.string(), z.string()).default({}),
  bodies: z.record(z.string(), body).default({}),
  skip: z.record(z.string(), z.string().min(1)).default({}),
  volatileFields: z.array(z.string()).default([]),
  create: z.array(create).default([]),
  tokens: tokens.optional(),
  hosts: hosts.optional(),
  oauth: oauth.optional(),
});

export type VerifyConfig = z.infer<typeof schema>;

function substitute(value: unknown, env: NodeJS.ProcessEnv, where: string): unknown {
  if (typeof value === 'string')
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined || v === '')
        throw new ConfigError(`${where}: environment variable ${name} is not set`);
      return v;
    });
  if (Array.isArray(value)) return value.map((v) => substitute(v, env, where));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, env, where)]));
  return value;
}

/**
 * Reads and checks a verify configuration file; any problem is a ConfigError naming the field.
 *
 * @example
 * const config = await loadVerifyConfig('verify.json', process.env);
 */
export async function loadVerifyConfig(file: string, env: NodeJS.ProcessEnv): Promise<VerifyConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file} is not JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(substitute(raw, env, file));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${file}: ${issue.path.join('.') || '(top)'} ${issue.message}`);
  }
  for (const c of parsed.data.create) {
    const d = parsed.data.domains[c.domain];
    if (c.credential !== undefined && d.credentials[c.credential] === undefined)
      throw new ConfigError(
        `${file}: create ${c.method} ${c.path} names an unknown credential "${c.credential}"`,
      );
  }
  return parsed.data;
}

function dig(value: unknown, path: string): unknown {
  let node = value;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function fillPath(path: string, ids: Readonly<Record<string, string>>): string {
  return path.replace(/\{([^}]+)\}/g, (whole, name: string) =>
    ids[name] === undefined ? whole : encodeURIComponent(ids[name]),
  );
}

function tokenSetup(config: VerifyConfig): TokenSetup {
  const t = config.tokens!;
  return {
    token: t.token,
    header: t.header,
    scheme: t.scheme,
    jwksUrls: [t.jwksUrl ?? `${config.baseUrl.replace(/\/+$/, '')}/.well-known/jwks.json`],
    foreignClaims: t.foreignClaims,
    ...(t.signingKey === undefined ? {} : { signingKey: JSON.parse(t.signingKey) as JWK }),
    ...(t.foreignIssuer === undefined ? {} : { foreignIssuer: t.foreignIssuer }),
  };
}

/** The configuration's OAuth setup, without the keys it leaves out. */
function oauthSetup(o: NonNullable<VerifyConfig['oauth']>): OAuthSetup {
  const defined = <T extends object>(value: T) =>
    Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  return { a: defined(o.a) as OAuthSetup['a'], b: defined(o.b) as OAuthSetup['b'] };
}

/** The `name=value` of the cookie `name` an answer sets, or null. */
export function cookieSet(setCookie: string | undefined, name: string): string | null {
  for (const part of (setCookie ?? '').split(/,(?=\s*[^;,=\s]+=)/)) {
    const pair = part.trim().split(';', 1)[0]!;
    if (pair.startsWith(`${name}=`) && pair.length > name.length + 1) return pair;
  }
  return null;
}

/** A's session and form token at A's host, from the configuration (signing in when it says how). */
async function hostSetup(config: VerifyConfig, send: Send): Promise<HostSetup> {
  const h = config.hosts!;
  let session = h.session;
  if (session === undefined) {
    const signIn = h.signIn!;
    const res = await send({
      method: 'POST',
      path: signIn.path,
      headers: { host: h.a, origin: `${h.scheme}://${h.a}` },
      body: {
        contentType: 'application/x-www-form-urlencoded',
        raw: new URLSearchParams(signIn.form).toString(),
      },
    });
    const cookie = cookieSet(res.headers['set-cookie'], signIn.cookie);
    if (cookie === null)
      throw new TargetError(
        `hosts.signIn: POST ${signIn.path} at ${h.a} set no ${signIn.cookie} cookie (HTTP ${res.status})`,
      );
    session = { cookie };
  }
  let formToken: HostSetup['formToken'];
  if (h.formToken !== undefined) {
    let value = h.formToken.value;
    if (value === undefined && h.formToken.page !== undefined) {
      const page = await send({ method: 'GET', path: h.formToken.page, headers: { host: h.a, ...session } });
      const field = h.formToken.field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      value = new RegExp(`name="${field}"[^>]*value="([^"]*)"`).exec(page.text)?.[1];
      if (value === undefined)
        throw new TargetError(
          `hosts.formToken: ${h.formToken.page} at ${h.a} shows no ${h.formToken.field} field`,
        );
    }
    if (value !== undefined) formToken = { field: h.formToken.field, value };
  }
  return {
    a: h.a,
    b: h.b,
    scheme: h.scheme,
    session,
    ...(formToken === undefined ? {} : { formToken }),
    routes: h.routes.map((r) => ({
      method: r.method,
      path: r.path,
      ...(r.form === undefined ? {} : { form: r.form }),
    })),
    aMarkers: h.markers,
  };
}

/**
 * A target for any API, from a verify configuration.
 *
 * @example
 * const target = configTarget(await loadVerifyConfig('verify.json', process.env));
 */
export function configTarget(
  config: VerifyConfig,
  send: Send = httpSender(config.baseUrl, config.timeoutSeconds * 1000),
): Target {
  const cleanups: { method: string; path: string; headers: Record<string, string> }[] = [];
  const credentials = (d: VerifyConfig['domains']['a']): Credential[] =>
    Object.entries(d.credentials).map(([name, c]) => ({
      name,
      headers: c.headers,
      ...(c.writeHeaders === undefined ? {} : { writeHeaders: c.writeHeaders }),
    }));
  return {
    name: config.baseUrl,
    async setup(): Promise<ProbeSetup> {
      const ids = { a: { ...config.domains.a.ids }, b: { ...config.domains.b.ids } };
      let n = 0;
      const unique = () => `verify-${Date.now().toString(36)}-${n++}`;
      for (const c of config.create) {
        const d = config.domains[c.domain];
        const name = c.credential ?? Object.keys(d.credentials)[0]!;
        const cred = d.credentials[name]!;
        const method = c.method.toUpperCase();
        const headers = { ...cred.headers, ...(method === 'GET' ? {} : cred.writeHeaders) };
        const b = c.body;
        const res = await send({
          method,
          path: fillPath(c.path, ids[c.domain]),
          headers,
          ...(b === undefined
            ? {}
            : 'raw' in b
              ? {
                  body: {
                    contentType: b.contentType,
                    raw: String(fillTemplate(b.raw, ids[c.domain], unique)),
                  },
                }
              : {
                  body: {
                    contentType: 'application/json',
                    raw: JSON.stringify(fillTemplate(b.json, ids[c.domain], unique)),
                  },
                }),
        });
        if (res.status < 200 || res.status >= 300)
          throw new TargetError(
            `create ${method} ${c.path} for ${c.domain.toUpperCase()}: HTTP ${res.status} ${res.text.slice(0, 200)}`,
          );
        let answer: unknown = null;
        try {
          answer = JSON.parse(res.text);
        } catch {
          // Not JSON: nothing to capture unless captures were asked for, checked below.
        }
        for (const [param, at] of Object.entries(c.capture)) {
          const v = dig(answer, at);
          if (typeof v !== 'string' && typeof v !== 'number')
            throw new TargetError(
              `create ${method} ${c.path}: the answer has no "${at}" to capture as ${param}`,
            );
          ids[c.domain][param] = String(v);
        }
        if (c.cleanup !== undefined)
          cleanups.push({
            method: c.cleanup.method.toUpperCase(),
            path: fillPath(c.cleanup.path, ids[c.domain]),
            headers,
          });
      }
      const probeDomain = (key: 'a' | 'b'): ProbeDomain => ({
        id: config.domains[key].id,
        credentials: credentials(config.domains[key]),
        ids: ids[key],
        secrets: config.domains[key].secrets,
      });
      return {
        baseUrl: config.baseUrl,
        a: probeDomain('a'),
        b: probeDomain('b'),
        publicTenantParams: config.publicTenantParams,
        unknownIds: config.unknownIds,
        bodies: config.bodies,
        skip: config.skip,
        volatileFields: config.volatileFields,
        ...(config.tokens === undefined ? {} : { tokens: tokenSetup(config) }),
        ...(config.hosts === undefined ? {} : { hosts: await hostSetup(config, send) }),
        ...(config.oauth === undefined ? {} : { oauth: oauthSetup(config.oauth) }),
      };
    },
    async teardown(): Promise<string[]> {
      const problems: string[] = [];
      for (const c of cleanups.reverse()) {
        const res = await send({ method: c.method, path: c.path, headers: c.headers });
        if (res.status >= 300 && res.status !== 404)
          problems.push(`${c.method} ${c.path}: HTTP ${res.status}`);
      }
      cleanups.length = 0;
      return problems;
    },
  };
}
