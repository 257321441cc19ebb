// The OAuth 2.0 token endpoint. Form-encoded (the OAuth convention) or JSON. Every failure of a grant is
// the same `invalid_grant` (or `invalid_client`) whatever went wrong, after the same hashing work.
import formbody from '@fastify/formbody';
import { Type } from '@sinclair/typebox';
import { appendAudit } from '../../../audit/log.js';
import { BulkheadError } from '../../../errors.js';
import { publicAccess } from '../../../policy/policy.js';
import { sessionCookie } from '../../../identity/sessions.js';
import { bearer, errorResponses } from '../../schemas.js';
import type { App, RouteModule } from '../../types.js';

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
  { additionalProperties: false },
);

export const token: RouteModule = (app, services) => {
  const limiter = services.loginLimiter;
  void app.register((scope: App, _opts, done) => {
    void scope.register(formbody, { bodyLimit: 8 * 1024 });
    scope.post(
      '/v1/auth/token',
      {
        config: { access: publicAccess },
        schema: {
          operationId: 'token',
          tags: ['auth'],
          summary: 'Obtain an access token',
          description:
            '`grant_type=password` with `domain` (slug or id), `username` (email) and `password`; or ' +
            '`grant_type=client_credentials` with `client_id` and `client_secret` (or HTTP Basic). Answers ' +
            '`{access_token, token_type, expires_in}`: an EdDSA JWT of the principal’s domain. Failed attempts ' +
            'are limited per name and per address (429 with Retry-After).',
          consumes: ['application/x-www-form-urlencoded', 'application/json'],
          body: Grant,
          response: {
            200: Type.Object({
              access_token: Type.String(),
              token_type: Type.Literal('Bearer'),
              expires_in: Type.Integer(),
              refresh_token: Type.Optional(Type.String()),
            }),
            ...errorResponses,
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const address = request.ip;
        const actor = { actor: 'anonymous', requestId: String(request.id) };
        let principal;
        let clientId: string;
        let name: string;
        if (body.grant_type === 'password') {
          if (body.domain === undefined || body.username === undefined || body.password === undefined) {
            throw new BulkheadError(
              'invalid_request',
              'The password grant needs domain, username and password.',
            );
          }
          name = `${body.domain.toLowerCase()}/${body.username.toLowerCase()}`;
          clientId = 'bulkhead';
          const wait = limiter.retryAfter(name, address);
          if (wait > 0)
            throw Object.assign(new BulkheadError('rate_limited', 'Too many failed logins.'), {
              retryAfter: wait,
            });
          principal = await services.principals.checkPassword(body.domain, body.username, body.password);
        } else if (body.grant_type === 'client_credentials') {
          let id = body.client_id;
          let secret = body.client_secret;
          const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(request.headers.authorization ?? '');
          if (basic !== null) {
            const [u, ...rest] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
            id = decodeURIComponent(u ?? '');
            secret = decodeURIComponent(rest.join(':'));
          }
          if (id === undefined || secret === undefined) throw new BulkheadError('invalid_client');
          name = `client/${id}`;
          clientId = id;
          const wait = limiter.retryAfter(name, address);
          if (wait > 0)
            throw Object.assign(new BulkheadError('rate_limited', 'Too many failed attempts.'), {
              retryAfter: wait,
            });
          principal = await services.principals.checkClient(id, secret);
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
          limiter.fail(name, address);
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
          body.grant_type === 'password',
        );
        return reply.header('pragma', 'no-cache').send(issued);
      },
    );
    scope.post(
      '/v1/auth/login',
      {
        config: { access: publicAccess },
        schema: {
          operationId: 'login',
          tags: ['auth'],
          summary: 'Open a browser session',
          description:
            'Checks `domain` (slug or id), `username` and `password` like the password grant and sets the ' +
            `\`${sessionCookie}\` cookie (Secure, HttpOnly, SameSite=Lax, Path=/, no Domain): an opaque id, new at ` +
            'every login, stored only hashed, with an idle and an absolute timeout.',
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
            ...errorResponses,
          },
        },
      },
      async (request, reply) => {
        const { domain, username, password } = request.body;
        const name = `${domain.toLowerCase()}/${username.toLowerCase()}`;
        const wait = limiter.retryAfter(name, request.ip);
        if (wait > 0)
          throw Object.assign(new BulkheadError('rate_limited', 'Too many failed logins.'), {
            retryAfter: wait,
          });
        const principal = await services.principals.checkPassword(domain, username, password);
        if (principal === null) {
          limiter.fail(name, request.ip);
          throw new BulkheadError('invalid_grant');
        }
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
          tags: ['auth'],
          summary: 'End the current session',
          description:
            'Ends the session of the cookie (or of the bearer token) for the very next request, and clears the cookie.',
          security: bearer,
          response: { 204: Type.Null(), ...errorResponses },
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

    scope.post(
      '/v1/auth/revoke',
      {
        config: { access: publicAccess },
        schema: {
          operationId: 'revokeToken',
          tags: ['auth'],
          summary: 'Revoke a token (RFC 7009)',
          description:
            'Revokes the session behind a refresh token or an access token: every token of that session is ' +
            'refused from the next request on. Unknown tokens are not an error, so the answer reveals nothing.',
          consumes: ['application/x-www-form-urlencoded', 'application/json'],
          body: Type.Object(
            {
              token: Type.String({ minLength: 1, maxLength: 8192 }),
              token_type_hint: Type.Optional(Type.String({ maxLength: 40 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({}), ...errorResponses },
        },
      },
      async (request) => {
        await services.tokens.revoke(String(request.id), request.body.token);
        return {};
      },
    );
    done();
  });
};
