// The HTTP app: `buildServer` assembles the Fastify app on given services (tests use it with inject()).
// It holds no client and starts nothing that outlives a request; the process around it (listening,
// the revocation feed, reconcilers, the isolation schedule, signals) is src/runtime/serve.ts.
//
// The root context sets what every route relies on (validation, the error handler, authentication and
// the policy, fair sharing, the access table and the no-query rule) before any feature is registered, so
// each feature under routes/ is an encapsulated plugin that inherits all of it and shares nothing back.
import { randomUUID } from 'node:crypto';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { BulkheadError, notFound } from '../errors.js';
import type { Services } from '../runtime.js';
import { unmatchedRoute } from '../telemetry/metrics.js';
import {
  runInContext,
  SpanStatusCode,
  startServerSpan,
  tracingEnabled,
  type Span,
} from '../telemetry/tracing.js';
import { authenticate } from './plugins/authenticate.js';
import { fairShare } from './plugins/fair-share.js';
import { idempotency } from './plugins/idempotency.js';
import { loginRate } from './plugins/login-rate.js';
import { preconditions } from './plugins/preconditions.js';
import { MethodTable } from './methods.js';
import { sendProblem, toBulkheadError } from './problem.js';
import { auditPlugin } from './routes/audit/index.js';
import { authPlugin } from './routes/auth/index.js';
import { billingPlugin } from './routes/billing/index.js';
import { brandingPlugin } from './routes/branding/index.js';
import { portalPlugin } from './routes/portal/index.js';
import { paymentsPlugin } from './routes/payments/index.js';
import { computePlugin } from './routes/compute/index.js';
import { domainsPlugin } from './routes/domains/index.js';
import { grantsPlugin } from './routes/grants/index.js';
import { identityPlugin } from './routes/identity/index.js';
import { keysPlugin } from './routes/keys/index.js';
import { objectsPlugin } from './routes/objects/index.js';
import { oidcPlugin } from './routes/oidc/index.js';
import { principalsPlugin } from './routes/principals/index.js';
import { resourcesPlugin } from './routes/resources/index.js';
import { systemPlugin } from './routes/system/index.js';
import { verifyPlugin } from './routes/verify/index.js';
import { errorResponses, noQuery, Problem } from './schemas.js';
import { completeDocument, securityOf, securitySchemes } from './contract.js';
import { validators } from './validation.js';
import { appHooks } from './app-hooks.js';
import type { App, FeaturePlugin, RouteAccess } from './types.js';
import { OAuthError } from './oauth.js';

/** The features of the API, one encapsulated plugin each, registered in this order. */
export const features: readonly FeaturePlugin[] = [
  systemPlugin,
  domainsPlugin,
  keysPlugin,
  auditPlugin,
  resourcesPlugin,
  objectsPlugin,
  identityPlugin,
  principalsPlugin,
  authPlugin,
  oidcPlugin,
  computePlugin,
  grantsPlugin,
  verifyPlugin,
  billingPlugin,
  paymentsPlugin,
  brandingPlugin,
  portalPlugin,
];

/** Paths whose values are secrets; pino replaces them before a log line is written. */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.key',
  '*.token',
  '*.secret',
  '*.password',
  '*.operatorToken',
];

export interface ServerOptions {
  readonly logger?: FastifyServerOptions['logger'];
  readonly bodyLimit?: number;
  /**
   * Addresses and CIDR ranges of reverse proxies: from them (only), the client's address, the host and
   * the protocol are read from X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto.
   */
  readonly trustProxy?: readonly string[];
  /** A certificate and key: the app speaks HTTPS (listening is the entry point's). */
  readonly https?: { readonly key: string; readonly cert: string };
  /** Runs when the server closes, after in-flight requests have finished (the entry point closes the store). */
  readonly onClose?: () => Promise<void>;
}

/**
 * Each request is a server span, continuing the trace of its `traceparent`, with the request id as an
 * attribute; everything the request does (store transactions, provider calls) runs in its context and
 * becomes its children. Added only when tracing is on, so it costs nothing otherwise.
 */
function traceRequests(app: App): void {
  const spans = new WeakMap<object, Span>();
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url ?? unmatchedRoute;
    const { span, context } = startServerSpan(`${request.method} ${route}`, request.headers, {
      'http.request.method': request.method,
      'http.route': route,
      'bulkhead.request_id': String(request.id),
    });
    spans.set(request, span);
    // The rest of the request's hooks and its handler are called from `done`: they run in the span.
    runInContext(context, done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = spans.get(request);
    if (span !== undefined) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
}

export { appHooks } from './app-hooks.js';

const serializerCompilers = SerializerSelector();

/**
 * Fastify's response serializers (fast-json-stringify), each compiled when its route first answers with
 * that status rather than when the server starts: compiling every route's was a quarter of a server's
 * start-up, paid again by every CLI command and process that builds the app. Validators are compiled the
 * same way (validation.ts).
 */
const serializersOnFirstUse: typeof serializerCompilers = (externalSchemas, options) => {
  const compile = serializerCompilers(externalSchemas, options);
  return (route) => {
    let serialize: ((doc: unknown) => string) | null = null;
    return (doc: unknown) => (serialize ??= compile(route))(doc);
  };
};

export async function buildServer(services: Services, options: ServerOptions = {}): Promise<App> {
  // With `https` Fastify's types name an https.Server; the requests and replies the routes see are the same
  // IncomingMessage and ServerResponse, so the app keeps the one type every route is written against.
  const tls =
    options.https === undefined ? {} : { https: { key: options.https.key, cert: options.https.cert } };
  const app = Fastify({
    ...(tls as Pick<FastifyServerOptions, never>),
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    requestIdHeader: false,
    genReqId: () => `req_${randomUUID().replaceAll('-', '')}`,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 2048 },
    forceCloseConnections: 'idle',
    trustProxy: options.trustProxy === undefined ? false : [...options.trustProxy],
    schemaController: { compilersFactory: { buildSerializer: serializersOnFirstUse } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Bodies are JSON (forms where a route takes them, bytes for objects): Fastify's own text/plain parser
  // would hand a route a string its schema then refuses as 400, where the media type is what is wrong (415).
  app.removeContentTypeParser('text/plain');

  const ajv = validators();
  app.setValidatorCompiler(({ schema, httpPart }) => ajv.compile(schema, httpPart));
  app.addSchema(Problem);
  app.addSchema(OAuthError);

  await app.register(swagger, {
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Bulkhead',
        version: '0.1.0',
        description: 'Keeps the tenants of a multi-tenant platform apart at every layer, and proves it.',
      },
      components: { securitySchemes: { ...securitySchemes } },
    },
    // What the route schemas cannot say (credentials, media types, headers, servers, tags): contract.ts.
    transformObject: (document) =>
      completeDocument(
        (document as { openapiObject: object }).openapiObject as Parameters<typeof completeDocument>[0],
      ) as object,
  });

  if (tracingEnabled()) traceRequests(app);
  // Counted by the route's template (never the path the client sent) once the answer is out.
  app.addHook('onResponse', async (request, reply) => {
    services.metrics.request(
      request.method,
      request.routeOptions.url ?? null,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
  });

  app.setErrorHandler((error, request, reply) => {
    const problem = toBulkheadError(error as Error);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    // A flood refused for its domain's share is counted and audited per domain, not logged per request.
    else if (problem.code === 'rate_limited') request.log.debug({ code: problem.code }, 'request refused');
    else request.log.info({ code: problem.code }, 'request refused');
    return sendProblem(reply, problem);
  });
  const methods = new MethodTable();
  app.setNotFoundHandler((request, reply) => {
    // A path some route serves, asked with a method none of them takes.
    const allowed = methods.allowed(request.url.split('?', 1)[0]!);
    if (allowed.length === 0) return sendProblem(reply, notFound());
    reply.header('allow', allowed.join(', '));
    return sendProblem(
      reply,
      new BulkheadError(
        'method_not_allowed',
        `${request.method} is not allowed here: use ${allowed.join(', ')}.`,
      ),
    );
  });

  await app.register(authenticate, { services });
  await app.register(fairShare, {
    limits: services.tenantLimits,
    registry: services.isolationMetrics.registry,
  });
  await app.register(preconditions);
  await app.register(idempotency, { services });
  await app.register(loginRate, { limiter: services.loginLimiter });

  // A route that takes no query parameters refuses any, so a smuggled `?domainId=` is an error, not ignored.
  const accessTable: RouteAccess[] = [];
  app.decorate('accessTable', accessTable);
  app.addHook('onRoute', (route) => {
    if (route.method !== 'HEAD') {
      for (const method of [route.method].flat()) {
        methods.add(method, route.url);
        accessTable.push({
          method,
          url: route.url,
          operationId: typeof route.schema?.operationId === 'string' ? route.schema.operationId : null,
          access: route.config?.access ?? null,
        });
      }
    }
    if (route.schema !== undefined && route.schema.querystring === undefined && route.method !== 'HEAD') {
      route.schema.querystring = noQuery;
    }
  });
  // Every documented operation may answer a problem (unless it declares its own error answers, as the
  // OAuth endpoints do), and lists the credentials its access accepts (`[]` for a public one): both are
  // declared here, once, so that a route's schema says only what is its own and a new route cannot
  // leave them out of the OpenAPI document, nor its security differ from what the policy accepts.
  app.addHook('onRoute', (route) => {
    const schema = route.schema;
    if (schema === undefined || schema.hide === true) return;
    schema.response = { ...errorResponses, ...(schema.response as object | undefined) };
    const access = route.config?.access;
    if (access !== undefined) {
      schema.security = securityOf(
        access,
        typeof schema.operationId === 'string' ? schema.operationId : undefined,
      );
    }
  });

  app.get('/openapi.json', { schema: { hide: true }, config: { access: { credentials: [] } } }, () =>
    app.swagger(),
  );
  for (const hook of appHooks) hook(app);
  // Registered after every root hook and decorator above, so each feature inherits them.
  for (const feature of features) await app.register(feature, { services });

  const onClose = options.onClose;
  if (onClose !== undefined) app.addHook('onClose', onClose);
  await app.ready();
  return app;
}
