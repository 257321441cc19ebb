// The HTTP entry point. `buildServer` assembles the Fastify app on given services (tests use it with
// inject()); `startServer` opens the store, listens, attacks itself on a schedule when asked
// (BULKHEAD_VERIFY_EVERY), and shuts down gracefully on SIGINT/SIGTERM.
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import pinoPretty from 'pino-pretty';
import { RevocationPublisher } from '../identity/feed/publisher.js';
import type { Config } from '../config.js';
import { notFound } from '../errors.js';
import { bannerLines, checkBackends } from '../providers/backends.js';
import type { Services } from '../runtime.js';
import { bulkheadTarget } from '../verify/bulkhead-target.js';
import { parseApiDescription } from '../verify/openapi.js';
import { summaryLine } from '../verify/report.js';
import { listRuns, recordRun } from '../verify/runs.js';
import { startSchedule, type Schedule } from '../verify/schedule.js';
import { runVerify } from '../verify/verify.js';
import { authenticate } from './plugins/authenticate.js';
import { fairShare } from './plugins/fair-share.js';
import { sendProblem, toBulkheadError } from './problem.js';
import { listAuditEvents } from './routes/audit/list-audit.js';
import { verifyAuditChain } from './routes/audit/verify-audit.js';
import { createDomain } from './routes/domains/create-domain.js';
import { deleteDomain } from './routes/domains/delete-domain.js';
import { getDomain } from './routes/domains/get-domain.js';
import { listDomains } from './routes/domains/list-domains.js';
import { resumeDomain } from './routes/domains/resume-domain.js';
import { suspendDomain } from './routes/domains/suspend-domain.js';
import { issueKey } from './routes/keys/issue-key.js';
import { listKeys } from './routes/keys/list-keys.js';
import { revokeKey } from './routes/keys/revoke-key.js';
import { rotateKey } from './routes/keys/rotate-key.js';
import { whoami } from './routes/keys/whoami.js';
import { revocations } from './routes/auth/revocations.js';
import { revocationFeedKeys } from './routes/auth/revocation-feed-keys.js';
import { token } from './routes/auth/token.js';
import { jwks } from './routes/identity/jwks.js';
import { principalRoutes } from './routes/principals/principals.js';
import { revokeSession } from './routes/principals/sessions.js';
import { signingKeyRoutes } from './routes/identity/signing-keys.js';
import { objects } from './routes/objects/objects.js';
import { createResource } from './routes/resources/create-resource.js';
import { deleteResource } from './routes/resources/delete-resource.js';
import { getCredentials } from './routes/resources/get-credentials.js';
import { rotateCredentials } from './routes/resources/rotate-credentials.js';
import { getResource } from './routes/resources/get-resource.js';
import { listResources } from './routes/resources/list-resources.js';
import { pool } from './routes/resources/pool.js';
import { health } from './routes/system/health.js';
import { instanceRoutes } from './routes/compute/instances.js';
import { volumeRoutes } from './routes/compute/volumes.js';
import { grantRoutes } from './routes/grants/grants.js';
import { blueprintRoutes } from './routes/resources/blueprints.js';
import { providerProbe } from './routes/verify/provider-probe.js';
import { listVerifyRuns } from './routes/verify/list-runs.js';
import { metrics } from './routes/system/metrics.js';
import { noQuery, Problem } from './schemas.js';
import { validators } from './validation.js';
import type { App, RouteAccess, RouteModule } from './types.js';

export const routes: readonly RouteModule[] = [
  health,
  metrics,
  createDomain,
  listDomains,
  getDomain,
  suspendDomain,
  resumeDomain,
  deleteDomain,
  issueKey,
  listKeys,
  revokeKey,
  rotateKey,
  whoami,
  listAuditEvents,
  verifyAuditChain,
  createResource,
  listResources,
  getResource,
  getCredentials,
  rotateCredentials,
  deleteResource,
  pool,
  objects,
  jwks,
  signingKeyRoutes,
  principalRoutes,
  revokeSession,
  token,
  revocations,
  revocationFeedKeys,
  instanceRoutes,
  volumeRoutes,
  grantRoutes,
  blueprintRoutes,
  providerProbe,
  listVerifyRuns,
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
  /** Runs when the server closes, after in-flight requests have finished (the entry point closes the store). */
  readonly onClose?: () => Promise<void>;
}

export async function buildServer(services: Services, options: ServerOptions = {}): Promise<App> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    requestIdHeader: false,
    genReqId: () => `req_${randomUUID().replaceAll('-', '')}`,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 2048 },
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();

  const ajv = validators();
  app.setValidatorCompiler(({ schema, httpPart }) => ajv.compile(schema, httpPart));
  app.addSchema(Problem);

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
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'The operator token, or a provisioning key (`bhk_…`) for routes of its own domain.',
          },
        },
      },
    },
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
  });

  app.setErrorHandler((error, request, reply) => {
    const problem = toBulkheadError(error as Error);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: problem.code }, 'request refused');
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((_request, reply) => sendProblem(reply, notFound()));

  await app.register(authenticate, { services });
  await app.register(fairShare, {
    limits: services.tenantLimits,
    registry: services.isolationMetrics.registry,
  });

  // A route that takes no query parameters refuses any, so a smuggled `?domainId=` is an error, not ignored.
  const accessTable: RouteAccess[] = [];
  app.decorate('accessTable', accessTable);
  app.addHook('onRoute', (route) => {
    if (route.method !== 'HEAD') {
      for (const method of [route.method].flat()) {
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

  app.get('/openapi.json', { schema: { hide: true }, config: { access: { credentials: [] } } }, () =>
    app.swagger(),
  );
  for (const route of routes) route(app, services);

  const onClose = options.onClose;
  if (onClose !== undefined) app.addHook('onClose', onClose);
  await app.ready();
  return app;
}

/** The URL this process reaches its own listener at: loopback when it listens on every address. */
function selfUrl(app: App): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the server is not listening on TCP');
  const host =
    address.address === '0.0.0.0'
      ? '127.0.0.1'
      : address.address === '::'
        ? '[::1]'
        : address.family === 'IPv6'
          ? `[${address.address}]`
          : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * The server attacking itself on a schedule, from outside through its own listener as any client
 * would, with the operator token; each run is recorded in the store (a failed one audited), counted
 * in /metrics and logged.
 */
function verifySelf(app: App, services: Services, everyMs: number, operatorToken: string): Schedule {
  const url = selfUrl(app);
  return startSchedule({
    everyMs,
    target: url,
    run: (signal) =>
      runVerify({
        target: bulkheadTarget({ url, operatorToken }),
        // The document this process serves, read without a request.
        api: parseApiDescription(JSON.parse(JSON.stringify(app.swagger())) as unknown),
        spec: `${url}/openapi.json`,
        signal,
      }),
    recorders: [{ record: (run) => services.store.system('verify', (tx) => recordRun(tx, run, 'system')) }],
    metrics: services.isolationMetrics,
    onRun: (run, report) => {
      const fields = { runId: run.id, verdict: run.verdict, leaks: run.leaks, unexercised: run.unexercised };
      const message = report === null ? `bulkhead verify: ERROR: ${run.error ?? ''}` : summaryLine(report);
      if (run.verdict === 'clean') app.log.info(fields, message);
      else app.log.error(fields, message);
    },
    onWarning: (message) => app.log.warn(message),
  });
}

/** How long each backend has to answer its health check at start. */
const healthTimeoutMs = 2_000;

/** Where the server's log lines go: JSON lines, or lines for a person to read (`pretty`). */
export function logDestination(format: 'pretty' | 'json', colour: boolean): { write(line: string): void } {
  // Written at once, so the log lines and the banner printed after them come out in that order.
  if (format === 'json') return pino.destination({ dest: 1, sync: true });
  return pinoPretty({
    colorize: colour,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
}

/**
 * Opens the store, checks every backend, listens, then prints the banner: where it listens, each backend
 * with where it points and whether it answered, a warning for each that did not, and last, once, a
 * generated operator token, after the start's log lines. Serves until SIGINT or SIGTERM.
 *
 * @example
 * await startServer(loadConfig(process.env), openServices);
 */
export async function startServer(
  config: Config,
  services: Services,
  print: (line: string) => void,
  options: { readonly logFormat?: 'pretty' | 'json'; readonly colour?: boolean } = {},
): Promise<{ app: App; url: string }> {
  const { generated } = await services.operator.initialise(config.operatorToken);
  // The revocation feed, when Redis is configured: revocations reach verifiers in other services.
  const feed = config.redisUrl === undefined ? null : new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  let publisher: RevocationPublisher | null = null;
  const timers: { volumes?: NodeJS.Timeout } = {};
  let schedule: Schedule | null = null;
  const stream = logDestination(options.logFormat ?? 'json', options.colour ?? false);
  const app = await buildServer(services, {
    bodyLimit: config.bodyLimit,
    logger: {
      level: config.logLevel,
      redact: { paths: redactPaths, censor: '[redacted]' },
      stream,
    },
    onClose: async () => {
      await schedule?.stop();
      clearInterval(timers.volumes);
      await publisher?.stop();
      await feed?.quit().catch(() => undefined);
      await services.close();
    },
  });
  // In parallel with the rest of the start, each within its own short time.
  const checking = checkBackends({
    config,
    providers: services.providers,
    unavailable: services.unavailableProviders,
    timeoutMs: healthTimeoutMs,
  });
  // A start that fails half way (a listen that is refused, a store that stops answering) stops what it
  // started, so the process can exit instead of running a publisher on a closed store.
  let url: string;
  let backends: Awaited<typeof checking>;
  try {
    if (feed !== null) {
      // A Redis that is down fails every reconnection: each different error is logged, a repeat once a minute.
      let last = { message: '', at: 0 };
      feed.on('error', (error: Error) => {
        const now = Date.now();
        if (error.message === last.message && now - last.at < 60_000) return;
        last = { message: error.message, at: now };
        app.log.warn({ err: error }, 'revocation feed: redis error');
      });
      publisher = new RevocationPublisher({
        store: services.store,
        client: feed,
        signer: services.feedKeys,
        onError: (error) => app.log.warn({ err: error }, 'revocation feed: publish failed'),
      });
      await publisher.start();
    }
    services.provisioner.onError = (error, resourceId) =>
      app.log.warn({ err: error, resourceId }, 'reconcile failed');
    // Finish or undo whatever a previous run left half done before taking requests, then keep at it.
    const report = await services.provisioner.start(config.reconcileSeconds * 1000);
    const volumes = await services.compute.reconcile();
    const blueprints = await services.blueprints.reconcile();
    // Reservations of object writes that died with a previous process. An embedded store is this
    // process's alone, so every reservation in it is abandoned; on PostgreSQL, those whose lease ran out.
    const reservations = await services.storageQuota.releaseAbandoned(services.store.kind === 'pglite');
    app.log.info({ report, volumes, blueprints, reservations }, 'reconciled');
    // The last recorded isolation run, for the gauges on /metrics until this process makes its own.
    const [lastRun] = await services.store.system('verify', (tx) => listRuns(tx, { limit: 1 }));
    if (lastRun !== undefined) services.isolationMetrics.restoreLast(lastRun);
    timers.volumes = setInterval(() => {
      services.compute
        .reconcile()
        .catch((error: unknown) => app.log.warn({ err: error }, 'volume reconcile failed'));
      services.blueprints
        .reconcile()
        .catch((error: unknown) => app.log.warn({ err: error }, 'blueprint reconcile failed'));
      services.storageQuota
        .releaseAbandoned()
        .catch((error: unknown) => app.log.warn({ err: error }, 'storage reservation reconcile failed'));
    }, config.reconcileSeconds * 1000);
    timers.volumes.unref();

    url = await app.listen({ host: config.host, port: config.port });
    backends = await checking;
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  for (const b of backends) {
    if (b.state === 'down' || b.state === 'misconfigured') {
      app.log.warn(
        { backend: b.backend, location: b.location, variable: b.variable, reason: b.reason },
        `backend ${b.state}`,
      );
    }
  }
  // The serve command refuses BULKHEAD_VERIFY_EVERY without a configured operator token: a generated one
  // is kept only as a hash, so the server could not present it.
  if (config.verifyEvery !== undefined && config.operatorToken !== undefined) {
    schedule = verifySelf(app, services, config.verifyEvery, config.operatorToken);
    app.log.info({ everyMs: config.verifyEvery }, 'verifying isolation on a schedule');
  }
  // One write, so the banner arrives whole and the token stays its last line, below the start's logs.
  print(
    [
      `Bulkhead listening on ${url} (store: ${services.store.kind})`,
      ...bannerLines(backends),
      ...(generated === null ? [] : [`Operator token (shown once, store it now): ${generated}`]),
    ].join('\n'),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    // A run in progress is stopped while the listener still answers, so it can remove its probe domains.
    (schedule?.stop() ?? Promise.resolve())
      .then(() => app.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          app.log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return { app, url };
}
