import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  ContextConfigDefault,
  FastifyRequest,
  FastifySchema,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
  RouteHandlerMethod,
} from 'fastify';
import { requestHost } from '../../../domain/hosts.js';
import { notFound } from '../../../errors.js';
import { AuthorizationCodes } from '../../../identity/oidc/codes.js';
import type { DomainIssuer } from '../../../identity/oidc/issuers.js';
import { publicAccess } from '../../../policy/policy.js';
import type { Services } from '../../../runtime.js';
import type { App } from '../../types.js';
import { IssuerParams } from './schemas.js';

/**
 * The active domain an issuer path names; 404 for an unknown, suspended or deleted one, and for every
 * domain while the server has no public URL (BULKHEAD_PUBLIC_URL).
 */
export async function issuerOf(services: Services, slug: string): Promise<DomainIssuer> {
  const found = await services.issuers.bySlug(slug);
  if (found === null) throw notFound();
  return found;
}

/**
 * The issuer whose endpoint this request reached: `<public URL>/d/<slug>` for a path under `/d/<slug>` (on
 * any host), `https://<host>` for the root of a portal host (docs/identity.md, "The portal host as the
 * issuer"). 404 for an unknown, suspended or deleted domain, for a host that is no active domain's portal
 * host, and for every request while the server has no public URL.
 */
export async function issuerAt(services: Services, request: FastifyRequest): Promise<DomainIssuer> {
  const { slug } = request.params as { slug?: string };
  if (slug !== undefined) return issuerOf(services, slug);
  const host = requestHost(request.host);
  const found = host === null ? null : await services.issuers.atPortalHost(host);
  if (found === null) throw notFound();
  return found;
}

/**
 * The two places an issuer endpoint is served: `/d/:slug<path>`, declared in the API's document, and
 * `<path>` at the root of a portal host, which the host's discovery document names instead (so it is
 * not in the API's document: its operations are the same).
 */
export function issuerRoutes(path: string, operationId: string) {
  return [
    { url: `/d/:slug${path}`, schema: { operationId, params: IssuerParams } },
    { url: path, schema: { operationId: `${operationId}AtPortalHost`, hide: true } },
  ] as const;
}

/** What the API's document says of an issuer endpoint, and what it reads (never its path parameters). */
export type IssuerSchema = Omit<FastifySchema, 'params'> & {
  readonly operationId: string;
  readonly summary: string;
  readonly description: string;
};

/** The handler of an issuer endpoint, its request typed by the endpoint's schema. */
export type IssuerHandler<S extends IssuerSchema> = RouteHandlerMethod<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  RouteGenericInterface,
  ContextConfigDefault,
  S,
  TypeBoxTypeProvider
>;

/** A public endpoint of each issuer, at both of its places (`issuerRoutes`), under the `oidc` tag. */
export function issuerRoute<S extends IssuerSchema>(
  app: App,
  method: 'GET' | 'POST' | 'OPTIONS',
  path: string,
  schema: S,
  handler: IssuerHandler<S>,
): void {
  for (const at of issuerRoutes(path, schema.operationId))
    app.route({
      method,
      url: at.url,
      config: { access: publicAccess },
      schema: { ...schema, tags: ['oidc'], ...at.schema },
      handler,
    });
}

const codeServices = new WeakMap<Services, AuthorizationCodes>();

/** The authorization codes of these services (one per server). */
export function codesOf(services: Services): AuthorizationCodes {
  let codes = codeServices.get(services);
  if (codes === undefined) {
    codes = new AuthorizationCodes(services);
    codeServices.set(services, codes);
  }
  return codes;
}
