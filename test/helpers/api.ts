// The one way tests talk to the HTTP API in-process: `callerOf(app)` (or `openTestApi(...).call`) sends a
// request with `app.inject`, presenting the operator's token unless told otherwise, and
// `createDomainWithKey` makes a domain with a provisioning key through it.
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { openTestServices, type Backend } from './backends.js';
import { openTestProviders, type TestProviders } from './providers.js';
import type { ServiceOptions, Services } from '../../src/runtime.js';
import { credentialHeaders, type CredentialName, type Tenant } from './tenants.js';

export const operatorToken = 'test-operator-token-0123456789abcdef';

let slugs = 0;
/** A slug no other test of this run has used: `<base>-<pid>-<n>`. */
export const unique = (base: string) => `${base}-${process.pid}-${++slugs}`;

export interface CallOptions {
  /** Sent as `Bearer <token>`; the caller's default (the operator's token) when left out, none with null. */
  token?: string | null;
  /** One of a tenant's credentials, presented as a client would (see `credentialHeaders`), instead of a token. */
  tenant?: Tenant;
  credential?: CredentialName | 'operator';
  /** An object is sent as JSON; a string or a Buffer as it is. */
  body?: unknown;
  /** Sent as given, over the credential's headers (an `authorization` here replaces the token's). */
  headers?: Record<string, string>;
}

export type Call = (method: string, url: string, options?: CallOptions) => Promise<LightMyRequestResponse>;

/**
 * A `call` for an app, or for the app a suite's `beforeAll` has yet to build (`callerOf(() => app)`).
 * `token` sets what a call without a credential presents: the operator's token, or nothing with null.
 */
export function callerOf(app: App | (() => App), defaults: { token?: string | null } = {}): Call {
  return (method, url, options = {}) =>
    (typeof app === 'function' ? app() : app).inject({
      method: method as 'GET',
      url,
      headers: requestHeaders(method, options, defaults),
      ...(options.body === undefined ? {} : { payload: options.body as string }),
    });
}

export type HttpCall = (method: string, path: string, options?: CallOptions) => Promise<Response>;

/**
 * The same calls over real HTTP with fetch, to a server listening at `baseUrl` (a `bulkhead serve`
 * process, say): an object body goes as JSON, with its content type.
 */
export function httpCallerOf(
  baseUrl: string | (() => string),
  defaults: { token?: string | null } = {},
): HttpCall {
  return (method, path, options = {}) => {
    const { body } = options;
    const json = body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body);
    return fetch(`${typeof baseUrl === 'function' ? baseUrl() : baseUrl}${path}`, {
      method,
      headers: {
        ...(json ? { 'content-type': 'application/json' } : {}),
        ...requestHeaders(method, options, defaults),
      },
      ...(body === undefined ? {} : { body: json ? JSON.stringify(body) : (body as string) }),
    });
  };
}

function requestHeaders(
  method: string,
  options: CallOptions,
  defaults: { token?: string | null },
): Record<string, string> {
  const defaultToken = defaults.token === undefined ? operatorToken : defaults.token;
  const token = options.token === undefined ? defaultToken : options.token;
  const credential: Record<string, string> =
    options.credential !== undefined && options.credential !== 'operator'
      ? credentialHeaders(options.tenant!, options.credential, operatorToken, method)
      : options.credential === 'operator'
        ? { authorization: `Bearer ${operatorToken}` }
        : token === null
          ? {}
          : { authorization: `Bearer ${token}` };
  return { ...credential, ...(options.headers ?? {}) };
}

export interface DomainWithKey {
  readonly id: string;
  /** The provisioning key itself, and its id. */
  readonly key: string;
  readonly keyId: string;
}

/**
 * A domain made by the operator (the caller's default token) with one provisioning key (of the given scopes, or the default ones) and,
 * when asked, the pool quotas set.
 */
export async function createDomainWithKey(
  call: Call | HttpCall,
  options: {
    slug: string;
    name?: string;
    scopes?: string[] | undefined;
    quotas?: Record<string, number> | undefined;
  },
): Promise<DomainWithKey> {
  const d = await answer(
    call('POST', '/v1/domains', { body: { slug: options.slug, name: options.name ?? options.slug } }),
  );
  expect(d.status, d.body).toBe(201);
  const k = await answer(
    call('POST', `/v1/domains/${d.json<{ id: string }>().id}/keys`, {
      body: options.scopes === undefined ? {} : { scopes: options.scopes },
    }),
  );
  expect(k.status, k.body).toBe(201);
  const id = d.json<{ id: string }>().id;
  if (options.quotas !== undefined) {
    const p = await answer(call('PUT', `/v1/domains/${id}/pool`, { body: { quotas: options.quotas } }));
    expect(p.status, p.body).toBe(200);
  }
  const { key, id: keyId } = k.json<{ key: string; id: string }>();
  return { id, key, keyId };
}

/** An answer from either kind of call, read in full. */
async function answer(pending: Promise<LightMyRequestResponse | Response>) {
  const res = await pending;
  const status = res instanceof Response ? res.status : res.statusCode;
  const body = res instanceof Response ? await res.text() : res.body;
  return { status, body, json: <T>() => JSON.parse(body) as T };
}

export interface TestApi {
  readonly app: App;
  readonly services: Services;
  call: Call;
  close(): Promise<void>;
}

export async function openTestApi(backend: Backend): Promise<TestApi> {
  const services = await openTestServices(backend);
  await services.operator.initialise(operatorToken);
  const app = await buildServer(services);
  return {
    app,
    services,
    call: callerOf(app),
    async close() {
      await app.close();
      await services.drop();
    },
  };
}

/**
 * The test providers (the real PostgreSQL server and storage in a temporary directory), services on them
 * with the operator's token set, and the app: how the API suites that provision real resources start.
 */
export async function openProvidedApi(
  backend: Backend,
  options: Partial<ServiceOptions> = {},
  token = operatorToken,
): Promise<{ providers: TestProviders; services: Services & { drop(): Promise<void> }; app: App }> {
  const providers = await openTestProviders();
  const services = await openTestServices(backend, { providers: providers.providers, ...options });
  providers.bind(services.keyring);
  await services.operator.initialise(token);
  return { providers, services, app: await buildServer(services) };
}
