// CORS where a browser app needs it, and nowhere else (docs/identity.md, "CORS"): discovery and the key
// set are public to every origin (discovery.ts); a domain's token and userinfo endpoints answer an origin
// only when the client concerned lists it among its `allowedOrigins` (the client that authenticates or
// names itself at the token endpoint, the token's client at userinfo). A preflight names no client, so it
// is answered for an origin some client of the domain allows. Never with credentials: these endpoints
// take no cookie. Every other route of Bulkhead sends no CORS header at all.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Services } from '../../../runtime.js';
import type { App } from '../../types.js';
import { basicCredentials, oauthErrorResponses } from '../../oauth.js';
import { issuerAt, issuerRoute } from './issuer.js';

/** Allows this response to be read by the request's origin. */
export function allowOrigin(reply: FastifyReply, origin: string): void {
  reply.header('access-control-allow-origin', origin);
  reply.header('access-control-expose-headers', 'www-authenticate, retry-after');
  reply.header('vary', 'Origin');
}

/** The client id a token request names (HTTP Basic or the form), if any; never throws. */
export function namedClientId(request: FastifyRequest, body: { client_id?: string | undefined }) {
  try {
    return basicCredentials(request.headers.authorization)?.id ?? body.client_id;
  } catch {
    return undefined;
  }
}

/**
 * The request's Origin when it is an origin as a browser sends one (`https://app.example:8443`), else
 * undefined: anything else (`null`, a path, characters no origin has) is allowed by no client, so it is
 * never looked up nor echoed in a header.
 */
function originOf(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  if (origin === undefined || origin.length > 2000) return undefined;
  try {
    return new URL(origin).origin === origin ? origin : undefined;
  } catch {
    return undefined;
  }
}

/** Sets CORS headers when the named client of the domain allows the request's origin. */
export async function corsForClient(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  domainId: string,
  clientId: string | undefined,
): Promise<void> {
  const origin = originOf(request);
  reply.header('vary', 'Origin');
  if (origin === undefined || clientId === undefined) return;
  const client = await services.oauthClients.find(domainId, clientId);
  if (client?.allowed_origins.includes(origin) === true) allowOrigin(reply, origin);
}

const preflights = {
  token: ['/token', 'POST', 'issuerTokenPreflight'],
  userinfo: ['/userinfo', 'GET, POST', 'issuerUserinfoPreflight'],
} as const;

/** The preflight of the token endpoint (registered in its OAuth scope) or of userinfo (problems, as userinfo). */
export function corsPreflightRoutes(app: App, services: Services, endpoint: keyof typeof preflights): void {
  const [path, methods, operationId] = preflights[endpoint];
  issuerRoute(
    app,
    'OPTIONS',
    path,
    {
      operationId,
      summary: `The CORS preflight of a domain’s ${endpoint} endpoint`,
      description:
        'Allowed for an origin one of the domain’s clients lists in `allowedOrigins`; any other origin ' +
        'gets a 204 without CORS headers, which the browser refuses.',
      // The preflight of a request whose query the endpoint ignores (RFC 6749 §3.2): it ignores it too.
      querystring: Type.Object({}, { additionalProperties: true }),
      response: { 204: Type.Null(), ...(endpoint === 'token' ? oauthErrorResponses : {}) },
    },
    async (request, reply) => {
      const { domainId } = await issuerAt(services, request);
      const origin = originOf(request);
      reply.header('vary', 'Origin');
      if (origin !== undefined && (await services.oauthClients.allowsOrigin(domainId, origin))) {
        allowOrigin(reply, origin);
        reply.header('access-control-allow-methods', methods);
        reply.header('access-control-allow-headers', 'authorization, content-type, dpop');
        reply.header('access-control-max-age', '600');
      }
      return reply.code(204).send(null);
    },
  );
}
