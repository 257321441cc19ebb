import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginCallback,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Access } from '../policy/policy.js';
import type { PendingKeyUse } from '../keys/service.js';
import type { Principal } from '../policy/principal.js';
import type { Services } from '../runtime.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once per request from the credential, before anything else looks at the request. */
    principal: Principal | null;
    /**
     * The domain the request works in, set by the policy from the credential (a tenant's own domain, the
     * granting domain under a grant, or for the operator the domain the path names). Handlers use this,
     * never the path, so the database context follows the credential even if a check above were wrong.
     */
    domainScope: string | null;
    /**
     * A provisioning key's use not yet recorded: on a route that records it with its own change
     * (`keyUse: 'with-change'`), by that change, and whatever it leaves before the response goes out;
     * on any other route, once the domain's share has admitted the request. A request the share
     * refuses records none (it is counted with the domain's other refusals).
     */
    keyUse: PendingKeyUse | null;
  }
  interface FastifyContextConfig {
    access?: Access;
    /**
     * 'with-change': the handler records a provisioning key's use in the transaction of the change it
     * makes (one round trip fewer); whatever it leaves unrecorded is recorded before the response.
     */
    keyUse?: 'with-change';
  }
  interface FastifyInstance {
    /** Every route with its declared access, in registration order (for checks that cover every route). */
    readonly accessTable: RouteAccess[];
  }
}

export interface RouteAccess {
  readonly method: string;
  readonly url: string;
  readonly operationId: string | null;
  readonly access: Access | null;
}

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export type RouteModule = (app: App, services: Services) => void;

/** What a feature plugin is registered with. */
export interface FeatureOptions {
  readonly services: Services;
}

/**
 * One feature of the API (a folder under routes/): an encapsulated plugin that registers its routes.
 * It inherits the root's hooks, decorators and error handler; what it adds stays inside it.
 */
export type FeaturePlugin = FastifyPluginCallback<FeatureOptions, RawServerDefault, TypeBoxTypeProvider>;
