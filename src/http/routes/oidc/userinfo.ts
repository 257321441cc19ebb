// The userinfo endpoint of a domain's OpenID Provider (OpenID Connect Core §5.3): a bearer access token
// of this domain, and only of this domain, tells who it stands for. Any other token, a revoked one and
// one of another domain alike, is 401 with the Bearer challenge of RFC 6750 §3.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { decodeJwt } from 'jose';
import type { Services } from '../../../runtime.js';
import type { App } from '../../types.js';
import { corsForClient } from './cors.js';
import { codesOf, issuerAt, issuerRoute } from './issuer.js';

const UserInfo = Type.Object({ sub: Type.String(), email: Type.Optional(Type.String()) });
const BearerError = Type.Object({ error: Type.String(), error_description: Type.String() });

/** The client a verified access token was issued to. */
function clientOf(token: string): string | undefined {
  const claim = decodeJwt(token)['client_id'];
  return typeof claim === 'string' ? claim : undefined;
}

export function userinfoRoutes(app: App, services: Services): void {
  const answer = async (request: FastifyRequest, reply: FastifyReply) => {
    const { domainId } = await issuerAt(services, request);
    reply.header('cache-control', 'no-store');
    const refuse = (error: string, description: string) =>
      reply
        .code(401)
        .header('www-authenticate', `Bearer error="${error}", error_description="${description}"`)
        .send({ error, error_description: description });
    const bearer = /^Bearer +([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers.authorization ?? '');
    if (bearer === null) {
      reply.header('www-authenticate', 'Bearer');
      return reply
        .code(401)
        .send({ error: 'invalid_request', error_description: 'A bearer access token is required.' });
    }
    let principal;
    try {
      principal = await services.tokens.verify(bearer[1]!);
    } catch {
      return refuse('invalid_token', 'The access token is not valid.');
    }
    if (principal.domainId !== domainId) return refuse('invalid_token', 'The access token is not valid.');
    await corsForClient(services, request, reply, domainId, clientOf(bearer[1]!));
    const info = await codesOf(services).userinfo(domainId, principal.subject);
    if (info === null) return refuse('invalid_token', 'The access token is not valid.');
    return reply.send(info);
  };
  for (const method of ['GET', 'POST'] as const)
    issuerRoute(
      app,
      method,
      '/userinfo',
      {
        operationId: method === 'GET' ? 'issuerUserinfo' : 'issuerUserinfoPost',
        summary: 'The userinfo endpoint of a domain’s OpenID Provider',
        description:
          'Who a bearer access token of this domain stands for (`sub`, `email`). A token of another domain, ' +
          'a revoked or expired one: 401 with `WWW-Authenticate: Bearer error="invalid_token"`.',
        response: { 200: UserInfo, 401: BearerError },
      },
      answer,
    );
}
