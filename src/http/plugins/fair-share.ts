// Admits each request against its domain's share of the server (src/services/tenant-limits.ts), right
// after the credential has named the domain and before the policy, validation or the handler do any work:
// a refused request costs the others as little as possible. It answers 429 `rate_limited` with
// Retry-After and the RateLimit / RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers), and
// frees the request's place when its answer has gone out or its connection closed, whichever is first.
// A provisioning key's use is recorded only after this admits the request (src/http/plugins/authenticate.ts),
// so a flood that is refused takes no lock of the audit chain and writes nothing per request; a key its
// process has verified before is refused earlier still, before it is read (`overShare`, called by the
// authentication plugin with `TenantLimits.refuseEarly`).
import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, type Registry } from 'prom-client';
import { BulkheadError } from '../../errors.js';
import { inDomain } from '../../policy/principal.js';
import type { Admission, RateState, TenantLimits } from '../../services/tenant-limits.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Frees the request's place in its domain's share; null when it holds none. */
    tenantRelease: (() => void) | null;
  }
}

function rateHeaders(reply: FastifyReply, rate: RateState): void {
  if (rate.limit === 0) return;
  reply.header('ratelimit-policy', `"domain";q=${rate.limit};w=1`);
  reply.header('ratelimit', `"domain";r=${rate.remaining};t=${rate.reset}`);
}

const refusedName = 'bulkhead_tenant_requests_refused_total';

/** The count of refused requests by reason: one counter per registry, whoever asks for it first. */
function refusedCounter(registry: Registry): Counter<'reason'> {
  return (
    (registry.getSingleMetric(refusedName) as Counter<'reason'> | undefined) ??
    new Counter({
      name: refusedName,
      help: 'Requests refused because their domain was over its share, by reason (rate, concurrency).',
      labelNames: ['reason'] as const,
      registers: [registry],
    })
  );
}

/**
 * Answers a request its domain's share refused: the RateLimit headers on `reply`, the refusal counted
 * (`registry`), and the 429 to throw. Nothing per request is logged or written: the domain's refusals
 * are audited together, once per interval (src/services/tenant-limits.ts).
 */
export function overShare(
  reply: FastifyReply,
  refusal: Extract<Admission, { admitted: false }>,
  registry: Registry,
): BulkheadError {
  rateHeaders(reply, refusal.rate);
  refusedCounter(registry).inc({ reason: refusal.reason });
  // An answer, not a fault: built without a stack trace, which under a flood cost more than the rest of
  // the refusal.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Object.assign(
      new BulkheadError(
        'rate_limited',
        refusal.reason === 'rate'
          ? "The domain's request rate is over its limit; retry after the time given."
          : 'The domain has too many requests in flight; retry after the time given.',
      ),
      { retryAfter: refusal.retryAfter },
    );
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

export const fairShare = fp<{ limits: TenantLimits; registry: Registry }>(
  (app, { limits, registry }, done) => {
    refusedCounter(registry);
    app.decorateRequest('tenantRelease', null);

    // Registered after the authentication plugin, so the principal is already resolved.
    app.addHook('onRequest', async (request, reply) => {
      const principal = request.principal;
      if (principal === null || !inDomain(principal)) return;
      const admission = await limits.admit(principal.domainId);
      if (!admission.admitted) {
        // A refused request leaves no audit event of its own, not even its key's use.
        request.keyUse?.unused();
        const refusal = overShare(reply, admission, registry);
        await limits.hold(principal.domainId, admission.retryAfter);
        throw refusal;
      }
      rateHeaders(reply, admission.rate);
      request.tenantRelease = admission.release;
      // The answer's end frees the place (onResponse); a connection that closes first frees it too,
      // whenever it closes, even while this hook was waiting, so a vanished client holds nothing.
      reply.raw.once('close', admission.release);
      if (request.raw.socket?.destroyed === true) admission.release();
    });

    const release = (request: { tenantRelease: (() => void) | null }) => {
      const free = request.tenantRelease;
      request.tenantRelease = null;
      free?.();
    };
    app.addHook('onResponse', (request, _reply, next) => {
      release(request);
      next();
    });
    app.addHook('onRequestAbort', (request, next) => {
      release(request);
      next();
    });
    done();
  },
  { name: 'bulkhead-fair-share', dependencies: ['bulkhead-authenticate'] },
);
