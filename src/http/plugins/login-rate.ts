// The RateLimit and RateLimit-Policy headers (draft-ietf-httpapi-ratelimit-headers) of the sign-in and
// token endpoints, whose limit is the failed-login limiter's (src/identity/login-limiter.ts): a route that
// checks an account against it notes which (`noteLoginLimit`), and its answer, refusal or not, says what is
// left of both counts — the account's and the client address's — once this attempt has been counted.
// The domain share's headers (src/http/plugins/fair-share.ts) are for requests with a domain's credential.
import fp from 'fastify-plugin';
import type { AccountKey } from '../../identity/names.js';
import type { LoginLimiter } from '../../identity/login-limiter.js';

/** The account and address a request's sign-in was counted under. */
export interface LoginLimitNote {
  readonly account: AccountKey;
  readonly address: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The account and address this request's sign-in was counted under, if it was. */
    loginLimit: LoginLimitNote | null;
  }
}

/** Records that this request's sign-in is limited under `account` from `address`. */
export function noteLoginLimit(
  request: { loginLimit: LoginLimitNote | null },
  account: AccountKey,
  address: string,
): void {
  request.loginLimit = { account, address };
}

/** The RateLimit headers of the sign-in routes, for the OpenAPI document. */
export const loginRateHeaders = {
  'ratelimit-policy': {
    type: 'string',
    description:
      'The failed-attempt limits: `"account";q=<n>;w=<s>, "address";q=<n>;w=<s>` (per account, per client address).',
  },
  ratelimit: {
    type: 'string',
    description: 'The closer limit: `"<name>";r=<failures left>;t=<seconds until one more is allowed>`.',
  },
} as const;

export const loginRate = fp<{ limiter: LoginLimiter }>(
  (app, { limiter }, done) => {
    app.decorateRequest('loginLimit', null);
    app.addHook('onSend', async (request, reply, payload) => {
      const noted = request.loginLimit;
      if (noted === null) return payload;
      const { windowSeconds, counts } = limiter.state(noted.account, noted.address);
      reply.header(
        'ratelimit-policy',
        counts.map((c) => `"${c.name}";q=${c.quota};w=${windowSeconds}`).join(', '),
      );
      const closest = [...counts].sort((x, y) => x.remaining - y.remaining || y.reset - x.reset)[0]!;
      reply.header('ratelimit', `"${closest.name}";r=${closest.remaining};t=${closest.reset}`);
      return payload;
    });
    done();
  },
  { name: 'bulkhead-login-rate' },
);
