// Admits each request against its domain's share of the server (src/services/tenant-limits.ts), right
// after the credential has named the domain and before the policy, validation or the handler do any work:
// a refused request costs the others as little as possible. It answers 429 `rate_limited` with
// Retry-After and the RateLimit / RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers), and
// frees the request's place when its answer has gone out or its connection closed, whichever is first.
// A provisioning key's use is recorded only after this admits the request (src/http/plugins/authenticate.ts),
// so a flood that is refused takes no lock of the audit chain and writes nothing per request.
import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, type Registry } from 'prom-client';
import { BulkheadError } from '../../errors.js';
import { inDomain } from '../../policy/principal.js';
import type { RateState, TenantLimits } from '../../services/tenant-limits.js';

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

export const fairShare = fp<{ limits: TenantLimits; registry: Registry }>(
  (app, { limits, registry }, done) => {
    const name = 'bulkhead_tenant_requests_refused_total';
    // One counter per registry, whichever server built on these services registered it first.
    const refused =
      (registry.getSingleMetric(name) as Counter<'reason'> | undefined) ??
      new Counter({
        name,
        help: 'Requests refused because their domain was over its share, by reason (rate, concurrency).',
        labelNames: ['reason'] as const,
        registers: [registry],
      });
    app.decorateRequest('tenantRelease', null);

    // Registered after the authentication plugin, so the principal is already resolved.
    app.addHook('onRequest', async (request, reply) => {
      const principal = request.principal;
      if (principal === null || !inDomain(principal)) return;
      const admission = await limits.admit(principal.domainId);
      rateHeaders(reply, admission.rate);
      if (admission.admitted) {
        request.tenantRelease = admission.release;
        // The answer's end frees the place (onResponse); a connection that closes first frees it too,
        // whenever it closes, even while this hook was waiting, so a vanished client holds nothing.
        reply.raw.once('close', admission.release);
        if (request.raw.socket?.destroyed === true) admission.release();
        return;
      }
      // A refused request leaves no audit event of its own, not even its key's use: the refusal is
      // counted here and in the domain's tally, which is audited once per interval.
      request.keyUse?.unused();
      refused.inc({ reason: admission.reason });
      request.log.info({ domainId: principal.domainId, reason: admission.reason }, 'over the domain share');
      throw Object.assign(
        new BulkheadError(
          'rate_limited',
          admission.reason === 'rate'
            ? "The domain's request rate is over its limit; retry after the time given."
            : 'The domain has too many requests in flight; retry after the time given.',
        ),
        { retryAfter: admission.retryAfter },
      );
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
