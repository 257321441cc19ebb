// The process around the HTTP app: `startServer` opens what the app runs on besides the services (the
// revocation feed's Redis client), finishes what a previous run left half done, keeps the reconcilers
// and the isolation schedule going, listens, and shuts all of it down on SIGINT/SIGTERM. The app
// (src/http/server.ts) only answers requests; everything with a lifetime of its own starts here.
import { Redis } from 'ioredis';
import { pino } from 'pino';
import pinoPretty from 'pino-pretty';
import { tracingSettings, type Config } from '../config.js';
import { activeTraceIds, startTracing, type Tracing } from '../telemetry/tracing.js';
import { buildServer, redactPaths } from '../http/server.js';
import { loadTls } from './tls.js';
import type { App } from '../http/types.js';
import { RevocationPublisher } from '../identity/feed/publisher.js';
import { bannerLines, checkBackends } from '../providers/backends.js';
import type { Services } from '../runtime.js';
import { listRuns } from '../verify/runs.js';
import type { Schedule } from '../verify/schedule.js';
import { BillingCloser } from '../billing/schedule.js';
import { verifySelf } from './verify-self.js';
import { joinStore, type Membership } from './servers.js';
import { s3LocationOf } from '../providers/registry.js';
import { join } from 'node:path';
import { idempotencyWindowMs } from '../http/plugins/idempotency.js';
import { purgeIdempotentRequests } from '../store/repositories/idempotent-requests.js';

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
 * Builds the app on the services, checks every backend, listens, then prints the banner: where it listens,
 * each backend with where it points and whether it answered, a warning for each that did not, and last,
 * once, a generated operator token, after the start's log lines. Serves until SIGINT or SIGTERM, then
 * closes the app and the services.
 *
 * @example
 * const config = loadConfig(process.env);
 * await startServer(config, await openServices(config), (line) => console.log(line));
 */
export async function startServer(
  config: Config,
  services: Services,
  print: (line: string) => void,
  options: { readonly logFormat?: 'pretty' | 'json'; readonly colour?: boolean } = {},
): Promise<{ app: App; url: string }> {
  const { generated } = await services.operator.initialise(config.operatorToken);
  // Read before anything with a lifetime is opened: a bad certificate stops the start with nothing to close.
  const tls = await loadTls(config, config.tlsSelfSigned ? await services.portal.allHosts() : []);
  // The revocation feed, when Redis is configured: revocations reach verifiers in other services.
  const feed = config.redisUrl === undefined ? null : new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  let publisher: RevocationPublisher | null = null;
  const timers: { volumes?: NodeJS.Timeout } = {};
  let schedule: Schedule | null = null;
  let closer: BillingCloser | null = null;
  let membership: Membership | null = null;
  const stream = logDestination(options.logFormat ?? 'json', options.colour ?? false);
  // Off unless configured; on, before the app is built, so the app adds its request spans.
  const traceTo = tracingSettings(config);
  const tracing: Tracing | null = traceTo === null ? null : await startTracing(traceTo);
  services.metrics.collectProcess();
  // A build that throws has no onClose to run: what was opened above is closed here.
  const app = await buildServer(services, {
    bodyLimit: config.bodyLimit,
    ...(tls === null ? {} : { https: tls }),
    ...(config.trustProxy === undefined ? {} : { trustProxy: config.trustProxy }),
    logger: {
      level: config.logLevel,
      redact: { paths: redactPaths, censor: '[redacted]' },
      stream,
      // A request's lines carry its id (reqId); with tracing on, every line written in a span its trace.
      ...(tracing === null ? {} : { mixin: activeTraceIds }),
    },
    onClose: async () => {
      await schedule?.stop();
      await closer?.stop();
      clearInterval(timers.volumes);
      await membership?.leave();
      // After the last request: the current window's counts are written too.
      await services.meter.stop();
      await publisher?.stop();
      await feed?.quit().catch(() => undefined);
      await services.close();
      // Last: the spans of everything above are flushed.
      await tracing?.shutdown();
    },
  }).catch(async (error: unknown) => {
    await feed?.quit().catch(() => undefined);
    await tracing?.shutdown();
    throw error;
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
        onPublished: (lag) => services.metrics.revocationPublished(lag),
      });
      await publisher.start();
    }
    // Beside other servers on this store only when every one of them reaches the same volume directory.
    // Volumes on S3 are shared by their nature: every server reaches the same bucket.
    const s3 = s3LocationOf(config);
    membership = await joinStore(services.store, {
      volumeDir:
        s3 === null
          ? (config.volumeDir ?? join(config.dataDir, 'volumes'))
          : `s3://${s3.bucket}/${s3.prefix}@${s3.endpoint ?? s3.region}`,
      volumeDirShared: s3 !== null || config.volumeDirShared,
      everyMs: config.reconcileSeconds * 1000,
    });
    services.provisioner.onError = (error, resourceId) =>
      app.log.warn({ err: error, resourceId }, 'reconcile failed');
    // Finish or undo whatever a previous run left half done before taking requests, then keep at it.
    const report = await services.provisioner.start(config.reconcileSeconds * 1000);
    const volumes = await services.compute.reconcile();
    const blueprints = await services.blueprints.reconcile();
    const purged = await services.purge.purge();
    // Reservations of object writes that died with a previous process. An embedded store is this
    // process's alone, so every reservation in it is abandoned; on PostgreSQL, those whose lease ran out.
    const reservations = await services.storageQuota.releaseAbandoned(services.store.kind === 'pglite');
    app.log.info({ report, volumes, blueprints, reservations, purged }, 'reconciled');
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
      // Stripe customers of deleted domains that Stripe did not confirm deleted yet.
      services.payments
        .reconcile()
        .catch((error: unknown) => app.log.warn({ err: error }, 'stripe customer reconcile failed'));
      // Invoices of domains deleted longer ago than BULKHEAD_INVOICE_RETENTION.
      services.billing
        .purgeExpiredInvoices()
        .then((purged) => {
          if (purged > 0) app.log.info({ purged }, 'invoices of deleted domains purged');
        })
        .catch((error: unknown) => app.log.warn({ err: error }, 'invoice purge failed'));
      // Deleted domains with nothing left on their backends: their rows.
      services.purge.purge().catch((error: unknown) => app.log.warn({ err: error }, 'domain purge failed'));
      // Answers kept for an Idempotency-Key once their 24 hours are over.
      services.store
        .system('reconciler', (tx) => purgeIdempotentRequests(tx, new Date(Date.now() - idempotencyWindowMs)))
        .catch((error: unknown) => app.log.warn({ err: error }, 'idempotency key purge failed'));
    }, config.reconcileSeconds * 1000);
    timers.volumes.unref();
    services.meter.onError = (error, what) => app.log.warn({ err: error }, `${what} failed`);
    services.meter.start(config.meterRequestsSeconds * 1000, config.meterStorageSeconds * 1000);

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
  if (config.billingCloseAfter !== null) {
    closer = new BillingCloser(services.billing, {
      afterMs: config.billingCloseAfter,
      // Only a close that wrote invoices is worth a line: most starts find the month closed already.
      onClose: (result) => {
        if (result.created > 0) app.log.info(result, 'billing period closed');
      },
      onError: (error) =>
        app.log.error({ err: error }, 'closing the billing period failed; tried again later'),
    });
    closer.start();
  }
  // One write, so the banner arrives whole and the token stays its last line, below the start's logs.
  print(
    [
      `Bulkhead listening on ${url} (store: ${services.store.kind})`,
      ...(tls === null ? [] : [`  TLS: ${tls.source}`]),
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
