// Resolves the caller once per request, in onRequest, from its one credential (the Authorization header
// or the session cookie) and nothing else, then asks the policy before the handler runs. Handlers read
// `request.principal`; none parses credentials itself. Every refusal is audited.
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { appendAudit } from '../../audit/log.js';
import { BulkheadError, notFound } from '../../errors.js';
import { problemHeaders, problemOf, toBulkheadError } from '../problem.js';
import { auditCrossDomain, auditScopeDenied } from '../audit-refusals.js';
import { fromThisSite } from '../same-site.js';
import { overShare } from './fair-share.js';
import { readSessionCookie } from '../../identity/sessions.js';
import { keyPrefix } from '../../keys/format.js';
import { decide } from '../../policy/policy.js';
import { inDomain, type Principal } from '../../policy/principal.js';
import { fixedKindRefusal } from '../../policy/scopes.js';
import type { Services } from '../../runtime.js';
import type { AuthOutcome, CredentialKind } from '../../telemetry/metrics.js';

const bearer = /^Bearer ([\x21-\x7e]{1,8192})$/;

async function deny(services: Services, request: FastifyRequest, reason: string): Promise<never> {
  await services.store.system('authenticate', (tx) =>
    appendAudit(tx, {
      actor: 'anonymous',
      requestId: String(request.id),
      domainId: null,
      action: 'token.denied',
      target: null,
      outcome: 'denied',
      detail: { reason, route: request.routeOptions.url ?? null },
    }),
  );
  throw new BulkheadError('invalid_credentials');
}

/** How the request presents its credential, for the metrics: read from its shape, nothing verified. */
function credentialKind(request: FastifyRequest): CredentialKind {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    return readSessionCookie(request.headers.cookie) === null ? 'none' : 'cookie';
  }
  const token = bearer.exec(header)?.[1];
  if (token?.startsWith(keyPrefix) === true) return 'key';
  if (token !== undefined && token.split('.').length === 3) return 'token';
  return 'operator';
}

/** A refusal as an outcome: a bad or missing credential, a refusal for another reason, or a failure. */
function authFailure(error: unknown): AuthOutcome {
  if (!(error instanceof BulkheadError)) return 'error';
  return error.code === 'invalid_credentials' || error.code === 'unauthenticated' ? 'denied' : 'refused';
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Headers that say who the caller is or which site it asks for. Node keeps the first of several and
 * drops the rest, so a proxy or a check that read the last one would see another request than this
 * server: a request that carries one of them twice is refused. Read from the raw headers, the only
 * place where the repeats are still seen.
 */
const onceOnly = ['host', 'authorization'];

function refuseRepeated(request: FastifyRequest): void {
  const raw = request.raw.rawHeaders;
  const seen = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!onceOnly.includes(name)) continue;
    if (seen.has(name))
      throw new BulkheadError('duplicate_header', `The request carries more than one ${name} header.`);
    seen.add(name);
  }
}

async function resolvePrincipal(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<Principal> {
  const header = request.headers.authorization;
  const cookie = readSessionCookie(request.headers.cookie);
  const hasHeader = header !== undefined && header !== '';
  // One credential per request: a bearer token and a session cookie together are refused, not merged.
  if (hasHeader && cookie !== null) return deny(services, request, 'two_credentials');
  if (cookie !== null) {
    const principal = cookie === 'ambiguous' ? null : await services.sessions.authenticate(cookie.value);
    if (principal === null) return deny(services, request, 'session');
    // A browser sends the cookie on cross-site requests too; a change must come from this site.
    if (!safeMethods.has(request.method) && !fromThisSite(request)) throw new BulkheadError('csrf_rejected');
    return principal;
  }
  if (!hasHeader) throw new BulkheadError('unauthenticated');
  const token = bearer.exec(header)?.[1];
  // Key-shaped tokens are audited by the key service, with the reason they were refused. A key that
  // passes is read here and its use recorded later: once its domain's share has admitted the request
  // (preParsing below), or with the change the request makes (`keyUse: 'with-change'`).
  if (token?.startsWith(keyPrefix) === true) {
    // A key this process verified lately names its domain without a read: a domain over its share is
    // refused here, before any store work. A key not refused so is read and checked in full as ever.
    const known = services.keys.knownDomain(token);
    const refusal = known === null ? null : services.tenantLimits.refuseEarly(known);
    if (refusal !== null) {
      const error = overShare(reply, refusal, services.isolationMetrics.registry);
      await services.tenantLimits.hold(known!, refusal.retryAfter);
      throw error;
    }
    const use = await services.keys.authenticateLater(token, String(request.id));
    request.keyUse = use;
    return use.principal;
  }
  if (token !== undefined && token.split('.').length === 3) {
    try {
      return await services.tokens.verify(token);
    } catch (error) {
      // A token refused is denied like any bad credential; a store that failed to answer is not a
      // verdict on the token, and is not turned into one.
      if (!(error instanceof BulkheadError)) throw error;
      return deny(services, request, 'access_token');
    }
  }
  try {
    // The same answer as for any other bad credential: nothing says which check failed.
    if (token === undefined) throw new BulkheadError('invalid_credentials');
    return services.operator.authenticate(token);
  } catch (error) {
    await services.store.system('authenticate', (tx) =>
      appendAudit(tx, {
        actor: 'anonymous',
        requestId: String(request.id),
        domainId: null,
        action: 'operator.authenticate',
        target: null,
        outcome: 'denied',
        detail: {
          reason: token === undefined ? 'malformed_header' : 'mismatch',
          route: request.routeOptions.url ?? null,
        },
      }),
    );
    throw error;
  }
}

export const authenticate = fp<{ services: Services }>(
  (app, { services }, done) => {
    app.decorateRequest('principal', null);
    app.decorateRequest('domainScope', null);
    app.decorateRequest('keyUse', null);

    app.addHook('onRequest', async (request, reply) => {
      refuseRepeated(request);
      const access = request.routeOptions.config.access;
      if (access === undefined || access.credentials.length === 0) return;
      const credential = credentialKind(request);
      try {
        request.principal = await resolvePrincipal(services, request, reply);
      } catch (error) {
        services.metrics.authentication(credential, authFailure(error));
        throw error;
      }
      services.metrics.authentication(credential, 'success');
      // Metered to the credential's own domain, whichever domain a grant lets it act in (docs/billing.md).
      if (request.principal !== null && inDomain(request.principal))
        services.meter.countRequest(request.principal.domainId);
    });

    // After every onRequest hook, the fair-share plugin's included: a key's use is recorded (its audit
    // event, under the head of its domain's chain) only for a request its domain's share admitted. A
    // revocation that committed first refuses the request here, before any work is done.
    app.addHook('preParsing', async (request, _reply, payload) => {
      const use = request.keyUse;
      if (use !== null && !use.settled && request.routeOptions.config.keyUse !== 'with-change')
        await use.record();
      return payload;
    });

    // A key refused for its scopes — by the policy, or by a handler that read the resource's kind — is
    // audited in the key's domain, after the refused work was rolled back.
    app.addHook('onError', async (request, _reply, error) => {
      const principal = request.principal;
      if ((error as { code?: unknown }).code !== 'scope_denied' || principal?.kind !== 'provisioning_key')
        return;
      const cause = (error as Error).cause as { kind?: unknown; action?: unknown } | undefined;
      const params = request.params as Record<string, unknown> | undefined;
      const target =
        params?.['resourceId'] ?? params?.['blueprintId'] ?? params?.['instanceId'] ?? params?.['volumeId'];
      await auditScopeDenied(
        services.store,
        principal,
        typeof target === 'string' ? target : null,
        {
          kind: typeof cause?.kind === 'string' ? cause.kind : null,
          action: typeof cause?.action === 'string' ? cause.action : null,
        },
        { requestId: String(request.id), route: request.routeOptions.url ?? null, method: request.method },
      );
    });

    // After validation, so the policy sees well-formed path parameters.
    // A key's use the handler left unrecorded (it answered before its change, or failed) is recorded
    // before anything is sent; if the key was revoked meanwhile, the answer is the refusal instead.
    app.addHook('onSend', async (request, reply, payload) => {
      const use = request.keyUse;
      if (use === null || use.settled) return payload;
      try {
        await use.record();
        return payload;
      } catch (error) {
        const problem = toBulkheadError(error as Error);
        if (problem.status >= 500) request.log.error({ err: error }, 'recording a key use failed');
        reply.removeHeader('location');
        problemHeaders(reply, problem);
        reply.code(problem.status).type('application/problem+json');
        return JSON.stringify(problemOf(problem, String(request.id)));
      }
    });

    app.addHook('preHandler', async (request) => {
      const access = request.routeOptions.config.access;
      const params = (request.params ?? {}) as Record<string, unknown>;
      // `me` in a tenant path is the calling credential's own domain, filled in before the policy looks at
      // the path; for the operator, or without a credential, it names nothing.
      const domainParam = access?.domainParam ?? 'domainId';
      if (params[domainParam] === 'me') {
        const caller = request.principal;
        if (access === undefined || caller === null || !inDomain(caller)) throw notFound();
        params[domainParam] = caller.domainId;
      }
      if (access === undefined) return;
      const decision = decide(request.principal, access, params);
      const principal = request.principal;
      if (decision.allow) {
        // A key's scope for a fixed kind (instances, volumes), asked only in its own domain.
        const refusal = fixedKindRefusal(principal, access.scope);
        if (refusal !== null) throw refusal;
        // The domain the request works in comes from the credential: a tenant's own domain, whatever the
        // path says; only the operator works in the domain the path names.
        const named = params[access.domainParam ?? 'domainId'];
        if (principal === null || !inDomain(principal))
          request.domainScope = typeof named === 'string' ? named : null;
        else request.domainScope = principal.domainId;
        return;
      }
      if (
        decision.crossDomain !== undefined &&
        access.action !== undefined &&
        principal !== null &&
        inDomain(principal)
      ) {
        // The one way across: a live grant, looked up (and its use audited) for this very request.
        const resource = access.resourceParam === undefined ? null : params[access.resourceParam];
        const grant = await services.grants.use(
          { actor: principal.actor, requestId: String(request.id) },
          principal.domainId,
          decision.crossDomain,
          access.action,
          typeof resource === 'string' ? resource : null,
          `${request.method} ${request.routeOptions.url ?? ''}`,
        );
        if (grant !== null) {
          // The grant lets the key's domain across; the key itself must still be scoped for the action.
          const refusal = fixedKindRefusal(principal, access.scope);
          if (refusal !== null) throw refusal;
          request.domainScope = grant.to;
          return;
        }
      }
      if (decision.crossDomain !== undefined && principal !== null && inDomain(principal)) {
        await auditCrossDomain(services.store, principal, decision.crossDomain, {
          requestId: String(request.id),
          route: request.routeOptions.url ?? null,
          method: request.method,
        });
      }
      throw decision.code === 'not_found' ? notFound() : new BulkheadError(decision.code);
    });
    done();
  },
  { name: 'bulkhead-authenticate' },
);
