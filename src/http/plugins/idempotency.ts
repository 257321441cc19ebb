// `Idempotency-Key` on every create (docs/api.md, "Idempotency-Key"): the first request with a key runs
// and its answer (status, body, Location, ETag) is kept 24 hours; the same key with the same request
// answers it again without running anything, the same key with another body is 422
// `idempotency_key_reused`, and a duplicate sent while the first still runs is 409 and runs nothing. A key is
// one credential's in one domain: the claim is made after the policy has set the request's domain, in that
// domain's own isolated table, so another domain's (or another credential's) identical key is another key.
// A domain's kept answers are sealed under its data key: an answer that showed a secret once (a key, a
// client secret) is readable only by the server, and not at all once the domain's key is destroyed.
import { createHash } from 'node:crypto';
import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { BulkheadError } from '../../errors.js';
import type { Services } from '../../runtime.js';
import {
  claimIdempotencyKey,
  releaseIdempotencyKey,
  renewIdempotencyClaim,
  storeIdempotentAnswer,
  type HeldClaim,
  type IdempotencyPlace,
} from '../../store/repositories/idempotent-requests.js';
import { errorResponses } from '../schemas.js';
import { canonicalJson } from './preconditions.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A create: a request with an `Idempotency-Key` is answered once, and that answer is given again. */
    idempotent?: true;
  }
  interface FastifyRequest {
    /** The key this request claimed, whose answer is kept when it is sent. */
    idempotency: Claimed | null;
  }
}

interface Claimed extends HeldClaim {
  readonly domainId: string | null;
  /** Renews the claim's lease while the request runs. */
  readonly renewal: NodeJS.Timeout;
}

/** How long an answer is given again. */
export const idempotencyWindowMs = 24 * 60 * 60 * 1000;
/**
 * A claim's lease: renewed every third of it while its request runs, so a claim whose lease ran out belongs
 * to a server that stopped, and a retry then runs afresh (a resource finds the one already reserved).
 */
const claimLeaseMs = 15_000;
/** The headers of the first answer that its repetition carries too. */
const keptHeaders = ['content-type', 'location', 'etag'] as const;

export const idempotencyKeyHeader = {
  type: 'string',
  pattern: '^[\\x21-\\x7e]{1,200}$',
  description:
    'Makes the create safe to repeat for 24 hours: the same key with the same body answers the first ' +
    'answer again (with `Idempotent-Replay: true`) and creates nothing; with another body, 422 ' +
    '`idempotency_key_reused`. Keys are per credential and domain.',
} as const;

function fingerprintOf(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.routeOptions.url ?? ''}\n`)
    .update(`${canonicalJson(request.params ?? null)}\n${canonicalJson(request.body ?? null)}`)
    .digest('hex');
}

export const idempotency = fp<{ services: Services }>(
  (app, { services }, done) => {
    const { store, keyring } = services;
    const purposeOf = (claimed: { credential: string; key: string }) =>
      `idempotent-answer:${claimed.credential}:${claimed.key}`;
    const inPlace = <T>(domainId: string | null, fn: (place: IdempotencyPlace) => Promise<T>) =>
      domainId === null
        ? store.system('operator', (tx) => fn({ kind: 'system', tx }))
        : store.withDomain(domainId, (tx) => fn({ kind: 'domain', tx, domainId }));

    app.decorateRequest('idempotency', null);

    app.addHook('onRoute', (route) => {
      const schema = route.schema;
      if (schema === undefined || route.config?.idempotent !== true) return;
      const headers = (schema.headers ?? { type: 'object' }) as { properties?: Record<string, unknown> };
      schema.headers = {
        ...headers,
        type: 'object',
        properties: { ...(headers.properties ?? {}), 'idempotency-key': idempotencyKeyHeader },
      };
      schema.response = {
        ...(schema.response as object | undefined),
        409: {
          ...errorResponses['4xx'],
          description: 'A request with the same `Idempotency-Key` is still being answered: retry shortly.',
        },
        422: {
          ...errorResponses['4xx'],
          description: 'The `Idempotency-Key` was used before with another request.',
        },
      };
    });

    // After the policy and the preconditions (registered after them): the domain is the credential's.
    app.addHook('preHandler', async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const principal = request.principal;
      if (request.routeOptions.config.idempotent !== true || key === undefined || principal === null) return;
      if (typeof key !== 'string') throw new BulkheadError('duplicate_header', 'Send one Idempotency-Key.');
      const claim = { credential: principal.actor, key, fingerprint: fingerprintOf(request) };
      const domainId = request.domainScope;
      const at = new Date();
      const stored = await inPlace(domainId, (place) =>
        claimIdempotencyKey(place, claim, at, {
          keptSince: new Date(at.getTime() - idempotencyWindowMs),
          claimedUntil: new Date(at.getTime() + claimLeaseMs),
        }),
      );
      if (stored === 'claimed') {
        const held: HeldClaim = { credential: claim.credential, key, claimedAt: at };
        const renewal = setInterval(() => {
          inPlace(domainId, (place) =>
            renewIdempotencyClaim(place, held, new Date(Date.now() + claimLeaseMs)),
          ).catch((error: unknown) =>
            request.log.warn({ err: error }, 'renewing an Idempotency-Key claim failed'),
          );
        }, claimLeaseMs / 3);
        renewal.unref();
        request.idempotency = { ...held, domainId, renewal };
        return;
      }
      // The handler answers 404 for a domain that does not exist, with nothing to keep.
      if (stored === 'no_domain') return;
      if (stored.fingerprint !== claim.fingerprint) {
        throw new BulkheadError(
          'idempotency_key_reused',
          'This Idempotency-Key was used with another request: use a new key for a new request.',
        );
      }
      if (stored.status === null) {
        reply.header('retry-after', '1');
        throw new BulkheadError(
          'idempotency_conflict',
          'A request with this Idempotency-Key is still being answered.',
          { hint: 'Retry in a moment to get its answer.' },
        );
      }
      const body =
        domainId === null || stored.body === null
          ? (stored.body ?? '')
          : await keyring.decrypt<string>(domainId, purposeOf(claim), stored.body);
      for (const [name, value] of Object.entries(stored.headers ?? {})) reply.header(name, value);
      return reply.code(stored.status).header('idempotent-replay', 'true').send(body);
    });

    // The last onSend hook to run on the answer (registered after the others): the answer as it goes out.
    app.addHook('onSend', async (request, reply, payload) => {
      const claimed = request.idempotency;
      if (claimed === null) return payload;
      request.idempotency = null;
      clearInterval(claimed.renewal);
      const ok = reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === 'string';
      try {
        if (ok) {
          const headers: Record<string, string> = {};
          for (const name of keptHeaders) {
            const value = reply.getHeader(name);
            if (value !== undefined) headers[name] = String(value);
          }
          await inPlace(claimed.domainId, async (place) => {
            const body =
              place.kind === 'domain'
                ? await keyring.encryptIn(place.tx, place.domainId, purposeOf(claimed), payload)
                : payload;
            await storeIdempotentAnswer(place, claimed, { status: reply.statusCode, body, headers });
          });
        } else {
          await inPlace(claimed.domainId, (place) => releaseIdempotencyKey(place, claimed));
        }
      } catch (error) {
        // The change is made; only its repetition is not kept. A retry is 409 until the lease runs out, then runs.
        request.log.error({ err: error }, 'keeping the answer to an Idempotency-Key failed');
      }
      return payload;
    });
    // An answer that never went out (the connection closed first) still stops renewing its claim.
    app.addHook('onResponse', (request, _reply, next) => {
      if (request.idempotency !== null) clearInterval(request.idempotency.renewal);
      next();
    });
    done();
  },
  { name: 'bulkhead-idempotency' },
);
