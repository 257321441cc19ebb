// The OAuth 2.0 token endpoint and the browser sign-in. Form-encoded (the OAuth convention) or JSON.
// Every failure of a grant is the same `invalid_grant` (or `invalid_client`) whatever went wrong, after
// the same hashing work. Names are put in canonical form here, once (src/identity/names.ts), and the
// lookup and the failed-login limit both use that form. A sign-in that sets a cookie must come from
// this site, as every other request that changes what a cookie stands for.
import formbody from '@fastify/formbody';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { appendAudit } from '../../../audit/log.js';
import { BulkheadError } from '../../../errors.js';
import type { LoginLimiter } from '../../../identity/login-limiter.js';
import { noteLoginLimit } from '../../plugins/login-rate.js';
import {
  canonicalClientId,
  canonicalDomainRef,
  canonicalEmail,
  clientAccountKey,
  type AccountKey,
} from '../../../identity/names.js';
import type { PrincipalService } from '../../../identity/principals.js';
import { publicAccess } from '../../../policy/policy.js';
import { sessionCookie } from '../../../identity/sessions.js';
import { basicCredentials, oauthErrorHandler, oauthErrorResponses } from '../../oauth.js';
import { fromThisSite } from '../../same-site.js';
import type { AuthOutcome, CredentialKind } from '../../../telemetry/metrics.js';
import type { App, RouteModule } from '../../types.js';
import type { Services } from '../../../runtime.js';

function refuseIfLimited(
  request: FastifyRequest,
  limiter: LoginLimiter,
  account: AccountKey,
  address: string,
): void {
  noteLoginLimit(request, account, address);
  const wait = limiter.retryAfter(account, address);
  if (wait > 0)
    throw Object.assign(new BulkheadError('rate_limited', 'Too many failed attempts.'), {
      retryAfter: wait,
    });
}

/**
 * A password sign-in: the names in canonical form, the account's limit asked before any hashing, and a
 * failure counted under the account however it was spelt. The principal, or null for a wrong password
 * or an unknown user.
 */
async function checkUser(
  request: FastifyRequest,
  principals: PrincipalService,
  limiter: LoginLimiter,
  input: { domain: string; username: string; password: string },
  address: string,
) {
  const account = await principals.findUser(canonicalDomainRef(input.domain), canonicalEmail(input.username));
  refuseIfLimited(request, limiter, account.key, address);
  const principal = await principals.checkPassword(account, input.password);
  if (principal === null) limiter.fail(account.key, address);
  return principal;
}

/** The kind of credential each grant presents, as the authentication metric names it. */
const grantCredentials = new Map<string, CredentialKind>([
  ['password', 'password'],
  ['client_credentials', 'client'],
  ['refresh_token', 'refresh'],
]);

/** A refused grant: a credential that did not match (or was missing), or refused for another reason. */
function grantFailure(error: unknown): AuthOutcome {
  if (!(error instanceof BulkheadError)) return 'error';
  return ['invalid_grant', 'invalid_client', 'invalid_credentials'].includes(error.code)
    ? 'denied'
    : 'refused';
}

const Grant = Type.Object(
  {
    grant_type: Type.String({ maxLength: 64 }),
    domain: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    username: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    client_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    scope: Type.Optional(Type.String({ maxLength: 200 })),
  },
  // RFC 6749 §3.2: the server ignores parameters it does not know (`resource`, say).
  { additionalProperties: true },
);

export const token: RouteModule = (app, services) => {
  const limiter = services.loginLimiter;
  void app.register((scope: App, _opts, done) => {
    void scope.register(formbody, { bodyLimit: 8 * 1024 });
    // The OAuth endpoints answer errors as RFC 6749 §5.2 says; the sign-in and logout stay problem+json.
    void scope.register((oauth: App, _o, registered) => {
      oauth.setErrorHandler(oauthErrorHandler);
      tokenRoute(oauth, services, limiter);
      revokeRoute(oauth, services);
      registered();
    });
    scope.post(
      '/v1/auth/login',
      {
        config: { access: publicAccess },
        // Before the body is read: a page of another site cannot sign a browser in (login CSRF).
        onRequest: (request) =>
          fromThisSite(request)
            ? Promise.resolve()
            : Promise.reject(
                new BulkheadError(
                  'csrf_rejected',
                  'Signing in with a cookie needs an Origin header of this site; ask /v1/auth/token for a token instead.',
                ),
              ),
        schema: {
          operationId: 'login',
          summary: 'Open a browser session',
          description:
            'Checks `domain` (slug or id), `username` and `password` like the password grant and sets the ' +
            `\`${sessionCookie}\` cookie (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain): an opaque id, new at ` +
            'every login, stored only hashed, with an idle and an absolute timeout. The request must carry an ' +
            '`Origin` header of this site (403 `csrf_rejected` otherwise), so no other site can sign a browser ' +
            'in; clients that want a token rather than a cookie use `/v1/auth/token`. Names are compared in ' +
            'canonical form (NFKC, trimmed, lowercase), and failed attempts are limited per account (however ' +
            'it is spelt) and per address (429 with Retry-After).',
          consumes: ['application/x-www-form-urlencoded', 'application/json'],
          body: Type.Object(
            {
              domain: Type.String({ minLength: 1, maxLength: 100 }),
              username: Type.String({ minLength: 1, maxLength: 320 }),
              password: Type.String({ minLength: 1, maxLength: 1024 }),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ domainId: Type.String(), subject: Type.String(), sessionId: Type.String() }),
          },
        },
      },
      async (request, reply) => {
        // Counted like the password grant: the same credential, presented for a cookie.
        const principal = await checkUser(
          request,
          services.principals,
          limiter,
          request.body,
          request.ip,
        ).catch((error: unknown) => {
          services.metrics.authentication('password', grantFailure(error));
          throw error;
        });
        services.metrics.authentication('password', principal === null ? 'denied' : 'success');
        if (principal === null) throw new BulkheadError('invalid_grant');
        const { cookie, sessionId, maxAge } = await services.sessions.login(
          { actor: `principal:${principal.id}`, requestId: String(request.id) },
          principal,
        );
        reply.header(
          'set-cookie',
          `${sessionCookie}=${cookie}; Max-Age=${maxAge}; Path=/; Secure; HttpOnly; SameSite=Lax`,
        );
        return { domainId: principal.domain_id, subject: principal.id, sessionId };
      },
    );

    scope.post(
      '/v1/auth/logout',
      {
        config: { access: { credentials: ['session', 'access_token'] } },
        schema: {
          operationId: 'logout',
          summary: 'End the current session',
          description:
            'Ends the session of the cookie (or of the bearer token) for the very next request, and clears the cookie.',
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        const principal = request.principal;
        if (principal?.kind === 'session' || principal?.kind === 'access_token') {
          await services.sessions.logout(
            { actor: principal.actor, requestId: String(request.id) },
            principal.domainId,
            principal.sessionId,
          );
        }
        reply.header('set-cookie', `${sessionCookie}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax`);
        return reply.code(204).send(null);
      },
    );

    done();
  });
};

/** POST /v1/auth/token: the password, client-credentials and refresh-token grants. */
function tokenRoute(app: App, services: Services, limiter: LoginLimiter): void {
  app.post(
    '/v1/auth/token',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'token',
        summary: 'Obtain an access token',
        description:
          '`grant_type=password` with `domain` (slug or id), `username` (email) and `password`; or ' +
          '`grant_type=client_credentials` with `client_id` and `client_secret` (or HTTP Basic). Answers ' +
          '`{access_token, token_type, expires_in}`: an EdDSA JWT of the principal’s domain. Names are ' +
          'compared in canonical form (NFKC, trimmed, lowercase; a control character is 400 ' +
          '`invalid_request`, or 401 `invalid_client` in a client id). Failed attempts are limited per ' +
          'account, however it is spelt, and per address (429 with Retry-After). Errors are RFC 6749 §5.2 ' +
          'JSON (`error`, `error_description`, and Bulkhead’s `code`), not problem+json; unknown parameters ' +
          'are ignored.',
        consumes: ['application/x-www-form-urlencoded', 'application/json'],
        body: Grant,
        response: {
          200: Type.Object({
            access_token: Type.String(),
            token_type: Type.Literal('Bearer'),
            expires_in: Type.Integer(),
            refresh_token: Type.Optional(Type.String()),
          }),
          ...oauthErrorResponses,
        },
      },
    },
    async (request, reply) => {
      // Each grant's outcome is counted with the kind of credential it presents (a password, a
      // client's secret, a refresh token); a grant type this endpoint does not know is not counted.
      const credential = grantCredentials.get(request.body.grant_type);
      try {
        const answer = await issue(request, reply);
        if (credential !== undefined) services.metrics.authentication(credential, 'success');
        return answer;
      } catch (error) {
        if (credential !== undefined) services.metrics.authentication(credential, grantFailure(error));
        throw error;
      }
    },
  );
  const issue = async (request: FastifyRequest<{ Body: Static<typeof Grant> }>, reply: FastifyReply) => {
    const body = request.body;
    const address = request.ip;
    const actor = { actor: 'anonymous', requestId: String(request.id) };
    let principal;
    let clientId: string;
    if (body.grant_type === 'password') {
      if (body.domain === undefined || body.username === undefined || body.password === undefined) {
        throw new BulkheadError('invalid_request', 'The password grant needs domain, username and password.');
      }
      clientId = 'bulkhead';
      principal = await checkUser(
        request,
        services.principals,
        limiter,
        { domain: body.domain, username: body.username, password: body.password },
        address,
      );
    } else if (body.grant_type === 'client_credentials') {
      const basic = basicCredentials(request.headers.authorization);
      const id = basic?.id ?? body.client_id;
      const secret = basic?.secret ?? body.client_secret;
      if (id === undefined || secret === undefined) throw new BulkheadError('invalid_client');
      const client = canonicalClientId(id);
      clientId = client;
      const account = clientAccountKey(client);
      refuseIfLimited(request, limiter, account, address);
      principal = await services.principals.checkClient(client, secret);
      if (principal === null) limiter.fail(account, address);
    } else if (body.grant_type === 'refresh_token') {
      if (body.refresh_token === undefined)
        throw new BulkheadError('invalid_request', 'refresh_token is required.');
      const refreshed = await services.tokens.refresh(String(request.id), body.refresh_token);
      return reply.header('pragma', 'no-cache').send(refreshed);
    } else {
      throw new BulkheadError(
        'unsupported_grant_type',
        'Use grant_type password, client_credentials or refresh_token.',
      );
    }
    if (principal === null) {
      await services.store.system('authenticate', (tx) =>
        appendAudit(tx, {
          ...actor,
          domainId: null,
          action: 'token.denied',
          target: null,
          outcome: 'denied',
          detail: { grant: body.grant_type },
        }),
      );
      throw new BulkheadError(body.grant_type === 'password' ? 'invalid_grant' : 'invalid_client');
    }
    const issued = await services.tokens.issue(
      { actor: `principal:${principal.id}`, requestId: String(request.id) },
      principal,
      clientId,
      { refresh: body.grant_type === 'password' },
    );
    return reply.header('pragma', 'no-cache').send(issued);
  };
}

/** POST /v1/auth/revoke: RFC 7009 without client authentication (holding the token is the right to end it). */
function revokeRoute(app: App, services: Services): void {
  app.post(
    '/v1/auth/revoke',
    {
      config: { access: publicAccess },
      schema: {
        operationId: 'revokeToken',
        summary: 'Revoke a token (RFC 7009)',
        description:
          'Revokes the session behind a refresh token or an access token: every token of that session is ' +
          'refused from the next request on. Unknown tokens are not an error, so the answer reveals nothing. ' +
          'Errors are RFC 6749 §5.2 JSON (`error`, `error_description`), not problem+json.',
        consumes: ['application/x-www-form-urlencoded', 'application/json'],
        body: Type.Object(
          {
            token: Type.String({ minLength: 1, maxLength: 8192 }),
            token_type_hint: Type.Optional(Type.String({ maxLength: 40 })),
          },
          // RFC 6749 §3.2: parameters it does not know (`client_id`, `client_secret`) are ignored.
          { additionalProperties: true },
        ),
        response: { 200: Type.Object({}), ...oauthErrorResponses },
      },
    },
    async (request) => {
      await services.tokens.revoke(String(request.id), request.body.token);
      return {};
    },
  );
}
