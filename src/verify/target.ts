// What the prober needs from the system under test: two probe domains, A (the attacker) and B (the
// victim), their credentials and the ids of their things by path parameter name. A target creates them
// before a run and removes them after; the prober itself knows nothing of any particular API.

import type { TokenSetup } from './tokens.js';

/** One way of presenting a domain's identity, as request headers. */
export interface Credential {
  /** A short label for reports, e.g. `key`, `token`, `session`. */
  readonly name: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Added on methods other than GET, HEAD and OPTIONS (e.g. the `Origin` a cookie session needs). */
  readonly writeHeaders?: Readonly<Record<string, string>>;
}

export interface ProbeDomain {
  /** The domain's own id: the value smuggled into A's requests to name B. */
  readonly id: string;
  readonly credentials: readonly Credential[];
  /**
   * The domain's things by path parameter (or body property) name, e.g. `{domainId, volumeId}`. A
   * parameter whose value is the domain's own id names the tenant; the others name things inside it.
   */
  readonly ids: Readonly<Record<string, string>>;
  /** Values that must never reach the other domain (object contents, credentials). */
  readonly secrets: readonly string[];
}

/** A body to send instead of one built from the request schema. `{{name}}` in strings is replaced. */
export type BodyTemplate =
  { readonly json: unknown } | { readonly contentType: string; readonly raw: string };

/** A cookie-authenticated route of a site served at each tenant's own host (a portal page or form). */
export interface CookieRoute {
  /** `GET` or `POST` (any method; those other than GET and HEAD are changes). */
  readonly method: string;
  /** The path, `{name}` for a parameter: filled with B's ids at B's host, A's at A's. */
  readonly path: string;
  /** Form fields sent urlencoded (with a change); the form token's field is set to A's token. */
  readonly form?: Readonly<Record<string, string>>;
}

/**
 * Per-tenant hosts: A's session cookie, opened at A's host, is replayed at B's host on every route and
 * must get what no cookie gets; every change is sent at A's host from a third origin and must be refused.
 */
export interface HostSetup {
  /** A's and B's hosts, as the Host header names them (`portal.a.example`, with `:port` if not the default). */
  readonly a: string;
  readonly b: string;
  /** The scheme the hosts are served with, for the `Origin` of a form (default `https`). */
  readonly scheme?: 'http' | 'https';
  /** A's session, as request headers (e.g. `{cookie: '__Host-session=…'}`). */
  readonly session: Readonly<Record<string, string>>;
  /** The form token field and A's value for it, when the site's forms carry one. */
  readonly formToken?: { readonly field: string; readonly value: string };
  readonly routes: readonly CookieRoute[];
  /** Values of A's that must never show at B's host (A's name, a person's email); A's host is added. */
  readonly aMarkers?: readonly string[];
}

/** An OAuth client, authenticated with `client_secret_basic`. */
export interface OAuthClient {
  readonly id: string;
  readonly secret: string;
}

/** A domain's authorization server (RFC 6749, 7662, 7009), and a confidential client of that domain. */
export interface OAuthParty {
  /** The token endpoint's path, e.g. `/d/acme/token`. */
  readonly tokenPath: string;
  readonly introspectionPath: string;
  readonly revocationPath?: string;
  /** The Host these endpoints are reached at (an issuer of its own host); the target's when unset. */
  readonly host?: string;
  readonly client: OAuthClient;
}

/**
 * A's and B's authorization servers: A's tokens and A's client are tried at B's endpoints, each compared
 * with an unknown token or client there, and a revocation sent to B must leave A's tokens alive.
 */
export interface OAuthSetup {
  readonly a: OAuthParty & {
    /** A live access token of A's, which A's client finds active at A's introspection endpoint. */
    readonly accessToken: string;
    /** A refresh token of A's; used once, last, at A's own token endpoint. */
    readonly refreshToken?: string;
    /** Whether A's refresh token is refreshed with A's client's authentication (else with none). */
    readonly refreshClient?: boolean;
  };
  readonly b: OAuthParty;
  /**
   * How the report names these issuers' endpoints when a target has more than one kind of issuer:
   * `portal-host` gives `oauth:portal-host:token` …; unset, `oauth:token` ….
   */
  readonly name?: string;
}

export interface ProbeSetup {
  /** Each domain as an OAuth authorization server, for the `oauth[…]` attacks. */
  readonly oauth?: OAuthSetup | readonly OAuthSetup[];
  /** Per-tenant hosts and A's session cookie, for the cookie attacks across hosts. */
  readonly hosts?: HostSetup;
  /** A's bearer JWT and B's claims, for the token attacks; without it they do not run. */
  readonly tokens?: TokenSetup;
  readonly baseUrl: string;
  readonly a: ProbeDomain;
  readonly b: ProbeDomain;
  /**
   * Path parameters that name a tenant by a public name, e.g. the `{slug}` of an issuer's URL: that B's
   * exists is no secret (its discovery document says so), so A's credential at B's value is compared with
   * no credential at B's value (`foreign-tenant`), not with an unknown value. Their values are in `ids`.
   */
  readonly publicTenantParams?: readonly string[];
  /** Ids that name nothing, by parameter name; otherwise derived from B's by zeroing after the prefix. */
  readonly unknownIds?: Readonly<Record<string, string>>;
  /** Bodies by operationId or `METHOD /path`. */
  readonly bodies?: Readonly<Record<string, BodyTemplate>>;
  /** Operations deliberately not exercised, by operationId or `METHOD /path`, with the reason. */
  readonly skip?: Readonly<Record<string, string>>;
  /** More credentials that may read B's state (B's own are tried first). */
  readonly stateReaders?: readonly Credential[];
  /** Extra response fields that change on every call and are ignored in comparisons. */
  readonly volatileFields?: readonly string[];
}

/**
 * One backend's own isolation probe between A's and B's resources of one kind (Bulkhead's providers).
 * `refused`: every attempt was refused; `not_refused`: some were not, which is a leak;
 * `not_configured`: the target offers no such backend; `failed`: the probe could not run.
 */
export interface ProviderProbe {
  /** The resource kind, e.g. `postgres`. */
  readonly kind: string;
  readonly outcome: 'refused' | 'not_refused' | 'not_configured' | 'failed';
  /** How many attempts the probe made. */
  readonly attempts: number;
  /** The attempts that were not refused, each with what A got. */
  readonly notRefused: readonly string[];
  /** Why the probe did not run (`not_configured`, `failed`). */
  readonly reason: string | null;
}

/**
 * The system under test.
 *
 * @example
 * const setup = await target.setup();
 * try { … } finally { await target.teardown(); }
 */
export interface Target {
  /** For reports, e.g. the base URL. */
  readonly name: string;
  setup(): Promise<ProbeSetup>;
  /**
   * Runs the backends' own isolation probes between the probe domains, after the HTTP attacks and
   * before `teardown`; targets without backends of their own leave it out.
   */
  probeProviders?(): Promise<ProviderProbe[]>;
  /** Removes what `setup` created; returns what could not be removed (empty when all is clean). */
  teardown(): Promise<string[]>;
}

/** Thrown when a target cannot prepare its probe domains. */
export class TargetError extends Error {
  override readonly name = 'TargetError';
}
