// Configuration is read here and only here: environment variables (BULKHEAD_…) merged with command-line
// flags, checked by one schema, frozen, and passed down. A bad value stops the start with one line.
import { z } from 'zod';
import { normalizePostgresUrl, PostgresUrlError } from './util/postgres-url.js';
import { failpoints } from './domain/failpoints.js';
import { parseDuration, parseRetention } from './util/duration.js';
import { parseTrustedProxies } from './util/proxies.js';

const port = z.coerce.number().int().min(0).max(65535);

/**
 * A PostgreSQL URL, in the one form the server reads: a socket directory (`?host=/var/run/postgresql`, or
 * percent-encoded in the host position, as libpq allows) comes out percent-encoded in the host position.
 */
const postgresUrl = z.string().transform((value, ctx) => {
  try {
    return normalizePostgresUrl(value);
  } catch (error) {
    if (!(error instanceof PostgresUrlError)) throw error;
    ctx.addIssue({ code: 'custom', message: error.message });
    return z.NEVER;
  }
});

/**
 * A URL of one of `schemes` that `new URL` reads and that names a host, and that `also` accepts; `base`
 * holds what is checked of the text first (its length, say).
 */
function serverUrl(
  schemes: readonly string[],
  message: string,
  also: (url: URL, value: string) => boolean = () => true,
  base: z.ZodString = z.string(),
) {
  return base.refine((value) => {
    try {
      const url = new URL(value);
      return schemes.includes(url.protocol) && url.hostname !== '' && also(url, value);
    } catch {
      return false;
    }
  }, message);
}

/** A URL without a user, a password, a query or a fragment. */
const bare = (url: URL) => url.username === '' && url.password === '' && url.search === '' && url.hash === '';

const schema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8080),
    dataDir: z.string().min(1).default('.bulkhead'),
    databaseUrl: postgresUrl.optional(),
    /** Where the store listens for notifications: a session of its own (PostgreSQL, or a session pooler). */
    databaseSessionUrl: postgresUrl.optional(),
    /**
     * A login that is a member of `bulkhead_system` only, for the system context's own pool; unset: the
     * system context switches roles on the application pool (the owner's login, unseparated).
     */
    databaseSystemUrl: postgresUrl.optional(),
    /** Connections of each of the store's pools (application, system), per process. */
    databasePoolSize: z.coerce.number().int().min(1).max(1000).default(10),
    operatorToken: z.string().min(32, 'must be at least 32 characters').optional(),
    metricsToken: z.string().min(32, 'must be at least 32 characters').optional(),
    feedToken: z.string().min(32, 'must be at least 32 characters').optional(),
    /** Milliseconds between the server's own isolation runs; unset: no scheduled verification. */
    verifyEvery: z
      .string()
      .refine((v) => {
        try {
          parseDuration(v);
          return true;
        } catch {
          return false;
        }
      }, 'must be a duration from 1s to 7d, e.g. 30s, 15m, 1h')
      .transform(parseDuration)
      .optional(),
    secret: z.string().min(32, 'must be at least 32 characters (for example 64 hex digits)').optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `pretty`: lines for a person; `json`: one JSON object a line. Unset: pretty on a terminal. */
    logFormat: z.enum(['pretty', 'json'], { message: 'must be pretty or json' }).optional(),
    /** Addresses and CIDR ranges of the reverse proxies whose forwarded headers are believed. */
    trustProxy: z
      .string()
      .refine(
        (text) => parseTrustedProxies(text) !== null,
        'must be a comma-separated list of IP addresses or CIDR ranges, e.g. 10.0.0.5, 10.1.0.0/16',
      )
      .transform((text) => parseTrustedProxies(text)!)
      .optional(),
    /**
     * How long after a month's end the server closes it for every domain (a duration), or `off` to close
     * months only when asked.
     */
    billingCloseAfter: z
      .string()
      .refine((v) => {
        if (v.trim() === 'off') return true;
        try {
          parseDuration(v);
          return true;
        } catch {
          return false;
        }
      }, 'must be off or a duration from 1s to 7d, e.g. 1h, 1d')
      .transform((v) => (v.trim() === 'off' ? null : parseDuration(v)))
      .default(60 * 60_000),
    /** A PEM certificate chain file: with `tlsKey`, the server speaks HTTPS (the portal needs it). */
    tlsCert: z.string().min(1).optional(),
    /** The PEM private key file of `tlsCert`. */
    tlsKey: z.string().min(1).optional(),
    /** Development only: HTTPS with a certificate made at start for localhost and the portal hosts. */
    tlsSelfSigned: z
      .enum(['true', 'false'], { message: 'must be true or false' })
      .default('false')
      .transform((v) => v === 'true'),
    bodyLimit: z.coerce
      .number()
      .int()
      .min(1024)
      .max(10 * 1024 * 1024)
      .default(64 * 1024),
    url: z.url().optional(),
    provisioningKey: z.string().min(1).optional(),
    masterKey: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits')
      .optional(),
    postgresUrl: postgresUrl.optional(),
    postgresMode: z.enum(['database', 'schema']).default('database'),
    storageDir: z.string().min(1).optional(),
    /** Where storage areas keep their objects: a local directory (`dir`), or an S3-compatible store. */
    storage: z.enum(['dir', 's3']).default('dir'),
    s3Endpoint: serverUrl(['http:', 'https:'], 'must be an http:// or https:// URL').optional(),
    s3Region: z.string().min(1).default('us-east-1'),
    s3Bucket: z.string().min(1).optional(),
    s3Prefix: z
      .string()
      .regex(/^([^/]+\/)*$/, 'must be empty or end with /, e.g. bulkhead/')
      .default('bulkhead/'),
    s3AccessKeyId: z.string().min(1).optional(),
    s3SecretAccessKey: z.string().min(1).optional(),
    volumeDir: z.string().min(1).optional(),
    volumeDirShared: z
      .enum(['true', 'false'], { message: 'must be true or false' })
      .default('false')
      .transform((v) => v === 'true'),
    maxVolumeBytes: z.coerce
      .number()
      .int()
      .min(1)
      .max(1024 ** 4)
      .default(1024 ** 3),
    quotaResources: z.coerce.number().int().min(0).max(100_000).default(10),
    quotaStorageBytes: z.coerce
      .number()
      .int()
      .min(0)
      .default(1024 ** 3),
    quotaInstances: z.coerce.number().int().min(0).max(1_000_000).default(50),
    quotaVolumes: z.coerce.number().int().min(0).max(1_000_000).default(50),
    quotaVolumeBytes: z.coerce
      .number()
      .int()
      .min(0)
      .default(10 * 1024 ** 3),
    volumeZeroBytesPerSecond: z.coerce
      .number()
      .int()
      .min(64 * 1024)
      .max(100 * 1024 ** 3)
      .default(64 * 1024 ** 2),
    maxObjectBytes: z.coerce
      .number()
      .int()
      .min(1)
      .max(5 * 1024 ** 3)
      .default(100 * 1024 ** 2),
    /** Each domain's share of one server: sustained requests per second (0: no rate limit). */
    domainRequestsPerSecond: z.coerce.number().int().min(0).max(1_000_000).default(200),
    /** Requests a domain may send at once above its rate. */
    domainRequestBurst: z.coerce.number().int().min(1).max(1_000_000).default(400),
    /** Requests of one domain answered at the same time (0: no limit). */
    domainConcurrentRequests: z.coerce.number().int().min(0).max(100_000).default(16),
    /** How long a refusal of a domain over its share is held before it is answered (0: at once). */
    domainRefusalHoldMs: z.coerce.number().int().min(0).max(10_000).default(1_000),
    reconcileSeconds: z.coerce.number().int().min(1).max(86_400).default(30),
    leaseSeconds: z.coerce.number().int().min(1).max(3600).default(30),
    slugQuarantineDays: z.coerce.number().min(0).max(3650).default(30),
    failpoint: z.enum(failpoints).optional(),
    accessTokenSeconds: z.coerce.number().int().min(10).max(300).default(300),
    sessionSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * 86_400)
      .default(12 * 3600),
    issuer: z.string().min(1).max(200).default('bulkhead'),
    /**
     * The public base URL of this installation (scheme, host, port, optional path): each domain's OpenID
     * issuer is `<this>/d/<slug>`; unset: tokens keep the one `issuer` above and no domain is a provider.
     */
    publicUrl: serverUrl(
      ['http:', 'https:'],
      'must be an https:// (or http://) URL with a host, no user, query, fragment or trailing slash',
      (url, value) => bare(url) && !value.endsWith('/'),
      z.string().max(200),
    ).optional(),
    redisUrl: serverUrl(['redis:', 'rediss:'], 'must be a redis:// or rediss:// URL with a host').optional(),
    feedKeyVersion: z.coerce.number().int().min(1).max(1_000_000).default(1),
    redisAllowOpenDefaultUser: z
      .enum(['true', 'false'], { message: 'must be true or false' })
      .default('false')
      .transform((v) => v === 'true'),
    postgresAllowPasswordlessLogin: z
      .enum(['true', 'false'], { message: 'must be true or false' })
      .default('false')
      .transform((v) => v === 'true'),
    sessionIdleSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(30 * 60),
    kubeconfig: z.string().min(1).optional(),
    rabbitmqUrl: z
      .string()
      .regex(
        /^https?:\/\/[^/@]+:[^/@]*@/,
        'must be an http:// URL of the management API with user and password',
      )
      .pipe(serverUrl(['http:', 'https:'], 'must be an http:// URL of the management API with a host'))
      .optional(),
    rabbitmqAmqpUrl: serverUrl(
      ['amqp:', 'amqps:'],
      'must be an amqp:// or amqps:// URL with a host',
    ).optional(),
    /** Stripe's secret (or restricted) API key; unset: no payment provider, invoices are settled by hand. */
    /** The platform's name, at the head of every invoice PDF. */
    billingPlatformName: z
      .string()
      .regex(/^[\x20-\x7e\xa0-\xff]{1,100}$/, 'must be 1–100 printable Latin-1 characters')
      .default('Bulkhead'),
    /**
     * How long a deleted domain's invoices stay readable by the operator after its deletion before they
     * are purged (a duration or years; default 10 years of 366 days: invoices are legal records).
     */
    invoiceRetention: z
      .string()
      .refine((v) => {
        try {
          parseRetention(v);
          return true;
        } catch {
          return false;
        }
      }, 'must be a retention period from 1s to 100y, e.g. 10y, 3650d')
      .transform((v) => parseRetention(v))
      .default(10 * 366 * 86_400_000),
    /**
     * Whether closing a period charges each new invoice through Stripe (`on`, `off`); unset: on when
     * Stripe is configured.
     */
    billingAutoCharge: z.enum(['on', 'off'], { message: 'must be on or off' }).optional(),
    /** Seconds between flushes of the API request counts into usage (meter `api.requests`). */
    meterRequestsSeconds: z.coerce.number().int().min(1).max(3600).default(60),
    /** Seconds between samples of each domain's stored bytes (meter `storage.bytes`, in byte-hours). */
    meterStorageSeconds: z.coerce.number().int().min(10).max(86_400).default(3600),
    stripeSecretKey: z
      .string()
      .regex(/^(sk|rk)_(test|live)_[0-9A-Za-z]{8,247}$/, 'must be a Stripe secret key (sk_test_…, sk_live_…)')
      .optional(),
    /** The signing secret of the webhook endpoint Stripe sends to (`whsec_…`). */
    stripeWebhookSecret: z
      .string()
      .regex(/^whsec_[0-9A-Za-z+/=]{8,247}$/, 'must be a Stripe webhook signing secret (whsec_…)')
      .optional(),
    /** Where the Stripe client sends its requests instead of https://api.stripe.com (tests, proxies). */
    stripeApiUrl: serverUrl(
      ['http:', 'https:'],
      'must be an http:// or https:// URL of a host and port only (no path, user or query)',
      (url) => bare(url) && url.pathname === '/',
    ).optional(),
    /** `otlp`: export traces over OTLP/HTTP; `off`; unset: as the OTEL_* variables say. */
    tracing: z.enum(['off', 'otlp'], { message: 'must be off or otlp' }).optional(),
    otelTracesExporter: z
      .enum(['otlp', 'none'], { message: 'must be otlp or none (the exporters this server has)' })
      .optional(),
    otelEndpoint: serverUrl(['http:', 'https:'], 'must be an http:// or https:// URL').optional(),
    otelTracesEndpoint: serverUrl(['http:', 'https:'], 'must be an http:// or https:// URL').optional(),
    otelServiceName: z.string().min(1).default('bulkhead'),
    otelSdkDisabled: z.enum(['true', 'false'], { message: 'must be true or false' }).optional(),
  })
  .superRefine((config, ctx) => {
    // Stripe is on with its secret key, and then only with the webhook's secret: a payment would
    // otherwise never be seen to succeed. The other two mean nothing without the key.
    if (config.stripeSecretKey !== undefined && config.stripeWebhookSecret === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['stripeWebhookSecret'],
        message: 'is required with BULKHEAD_STRIPE_SECRET_KEY',
      });
    if (config.billingAutoCharge === 'on' && config.stripeSecretKey === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['billingAutoCharge'],
        message:
          'is on but BULKHEAD_STRIPE_SECRET_KEY is not set: invoices can only be charged through Stripe',
      });
    // HTTPS from files takes both of them; a self-signed certificate is the other way, not a third.
    if ((config.tlsCert === undefined) !== (config.tlsKey === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [config.tlsCert === undefined ? 'tlsCert' : 'tlsKey'],
        message: `is required with ${config.tlsCert === undefined ? 'BULKHEAD_TLS_KEY' : 'BULKHEAD_TLS_CERT'}`,
      });
    if (config.tlsSelfSigned && config.tlsCert !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['tlsSelfSigned'],
        message: 'and BULKHEAD_TLS_CERT are two ways to the same thing: set one of them',
      });
    // S3 takes a bucket and credentials; the variables mean nothing with the local directory.
    if (config.storage === 's3') {
      for (const key of ['s3Bucket', 's3AccessKeyId', 's3SecretAccessKey'] as const)
        if (config[key] === undefined)
          ctx.addIssue({ code: 'custom', path: [key], message: 'is required with BULKHEAD_STORAGE=s3' });
      if (config.storageDir !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['storageDir'],
          message: 'is set but BULKHEAD_STORAGE=s3 keeps objects in the bucket',
        });
    }
    for (const key of ['stripeWebhookSecret', 'stripeApiUrl'] as const)
      if (config[key] !== undefined && config.stripeSecretKey === undefined)
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'is set but BULKHEAD_STRIPE_SECRET_KEY is not',
        });
  });

export type Config = Readonly<z.infer<typeof schema>>;
export type ConfigInput = Partial<Record<keyof z.input<typeof schema>, string | number | undefined>>;

const envNames: Record<keyof z.input<typeof schema>, string> = {
  host: 'BULKHEAD_HOST',
  port: 'BULKHEAD_PORT',
  dataDir: 'BULKHEAD_DATA_DIR',
  databaseUrl: 'BULKHEAD_DATABASE_URL',
  databaseSessionUrl: 'BULKHEAD_DATABASE_SESSION_URL',
  databaseSystemUrl: 'BULKHEAD_DATABASE_SYSTEM_URL',
  databasePoolSize: 'BULKHEAD_DATABASE_POOL_SIZE',
  operatorToken: 'BULKHEAD_OPERATOR_TOKEN',
  metricsToken: 'BULKHEAD_METRICS_TOKEN',
  feedToken: 'BULKHEAD_FEED_TOKEN',
  verifyEvery: 'BULKHEAD_VERIFY_EVERY',
  secret: 'BULKHEAD_SECRET',
  logLevel: 'BULKHEAD_LOG_LEVEL',
  logFormat: 'BULKHEAD_LOG_FORMAT',
  trustProxy: 'BULKHEAD_TRUST_PROXY',
  billingCloseAfter: 'BULKHEAD_BILLING_CLOSE_AFTER',
  bodyLimit: 'BULKHEAD_BODY_LIMIT',
  tlsCert: 'BULKHEAD_TLS_CERT',
  tlsKey: 'BULKHEAD_TLS_KEY',
  tlsSelfSigned: 'BULKHEAD_TLS_SELF_SIGNED',
  url: 'BULKHEAD_URL',
  provisioningKey: 'BULKHEAD_KEY',
  masterKey: 'BULKHEAD_MASTER_KEY',
  postgresUrl: 'BULKHEAD_POSTGRES_URL',
  postgresMode: 'BULKHEAD_POSTGRES_MODE',
  postgresAllowPasswordlessLogin: 'BULKHEAD_POSTGRES_ALLOW_PASSWORDLESS_LOGIN',
  storageDir: 'BULKHEAD_STORAGE_DIR',
  storage: 'BULKHEAD_STORAGE',
  s3Endpoint: 'BULKHEAD_S3_ENDPOINT',
  s3Region: 'BULKHEAD_S3_REGION',
  s3Bucket: 'BULKHEAD_S3_BUCKET',
  s3Prefix: 'BULKHEAD_S3_PREFIX',
  s3AccessKeyId: 'BULKHEAD_S3_ACCESS_KEY_ID',
  s3SecretAccessKey: 'BULKHEAD_S3_SECRET_ACCESS_KEY',
  volumeDir: 'BULKHEAD_VOLUME_DIR',
  volumeDirShared: 'BULKHEAD_VOLUME_DIR_SHARED',
  maxVolumeBytes: 'BULKHEAD_MAX_VOLUME_BYTES',
  quotaResources: 'BULKHEAD_QUOTA_RESOURCES',
  quotaStorageBytes: 'BULKHEAD_QUOTA_STORAGE_BYTES',
  quotaInstances: 'BULKHEAD_QUOTA_INSTANCES',
  quotaVolumes: 'BULKHEAD_QUOTA_VOLUMES',
  quotaVolumeBytes: 'BULKHEAD_QUOTA_VOLUME_BYTES',
  volumeZeroBytesPerSecond: 'BULKHEAD_VOLUME_ZERO_BYTES_PER_SECOND',
  maxObjectBytes: 'BULKHEAD_MAX_OBJECT_BYTES',
  domainRequestsPerSecond: 'BULKHEAD_DOMAIN_REQUESTS_PER_SECOND',
  domainRequestBurst: 'BULKHEAD_DOMAIN_REQUEST_BURST',
  domainConcurrentRequests: 'BULKHEAD_DOMAIN_CONCURRENT_REQUESTS',
  domainRefusalHoldMs: 'BULKHEAD_DOMAIN_REFUSAL_HOLD_MS',
  reconcileSeconds: 'BULKHEAD_RECONCILE_SECONDS',
  leaseSeconds: 'BULKHEAD_LEASE_SECONDS',
  slugQuarantineDays: 'BULKHEAD_SLUG_QUARANTINE_DAYS',
  failpoint: 'BULKHEAD_TEST_FAILPOINT',
  accessTokenSeconds: 'BULKHEAD_ACCESS_TOKEN_SECONDS',
  sessionSeconds: 'BULKHEAD_SESSION_SECONDS',
  issuer: 'BULKHEAD_ISSUER',
  publicUrl: 'BULKHEAD_PUBLIC_URL',
  sessionIdleSeconds: 'BULKHEAD_SESSION_IDLE_SECONDS',
  redisUrl: 'BULKHEAD_REDIS_URL',
  redisAllowOpenDefaultUser: 'BULKHEAD_REDIS_ALLOW_OPEN_DEFAULT_USER',
  feedKeyVersion: 'BULKHEAD_FEED_KEY_VERSION',
  kubeconfig: 'BULKHEAD_KUBECONFIG',
  rabbitmqUrl: 'BULKHEAD_RABBITMQ_URL',
  rabbitmqAmqpUrl: 'BULKHEAD_RABBITMQ_AMQP_URL',
  billingPlatformName: 'BULKHEAD_BILLING_PLATFORM_NAME',
  invoiceRetention: 'BULKHEAD_INVOICE_RETENTION',
  billingAutoCharge: 'BULKHEAD_BILLING_AUTO_CHARGE',
  meterRequestsSeconds: 'BULKHEAD_METER_REQUESTS_SECONDS',
  meterStorageSeconds: 'BULKHEAD_METER_STORAGE_SECONDS',
  stripeSecretKey: 'BULKHEAD_STRIPE_SECRET_KEY',
  stripeWebhookSecret: 'BULKHEAD_STRIPE_WEBHOOK_SECRET',
  stripeApiUrl: 'BULKHEAD_STRIPE_API_URL',
  tracing: 'BULKHEAD_TRACING',
  otelTracesExporter: 'OTEL_TRACES_EXPORTER',
  otelEndpoint: 'OTEL_EXPORTER_OTLP_ENDPOINT',
  otelTracesEndpoint: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  otelServiceName: 'OTEL_SERVICE_NAME',
  otelSdkDisabled: 'OTEL_SDK_DISABLED',
};

/** Thrown when configuration is wrong; its message is the one line the user sees. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Builds the configuration from the environment and flags (flags win). Empty strings count as unset.
 *
 * @example
 * const config = loadConfig(process.env, { port: 9000 });
 */
export function loadConfig(env: NodeJS.ProcessEnv, flags: ConfigInput = {}): Config {
  const raw: Record<string, string | number> = {};
  for (const [key, name] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '') as keyof typeof envNames;
    throw new ConfigError(`invalid configuration: ${envNames[key] ?? key} ${issue.message}`);
  }
  return Object.freeze(parsed.data);
}

/**
 * Where traces go, or null when tracing is off: BULKHEAD_TRACING decides when set; otherwise the
 * standard variables do (on when OTEL_TRACES_EXPORTER is otlp or an OTLP endpoint is named, off when
 * the exporter is none or OTEL_SDK_DISABLED is true). The endpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 * as given, or OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces, or the collector's default on localhost.
 */
export function tracingSettings(config: Config): { endpoint: string; serviceName: string } | null {
  const byStandard =
    config.otelSdkDisabled !== 'true' &&
    config.otelTracesExporter !== 'none' &&
    (config.otelTracesExporter === 'otlp' ||
      config.otelEndpoint !== undefined ||
      config.otelTracesEndpoint !== undefined);
  if (!(config.tracing === undefined ? byStandard : config.tracing === 'otlp')) return null;
  const endpoint =
    config.otelTracesEndpoint ??
    (config.otelEndpoint === undefined
      ? 'http://localhost:4318/v1/traces'
      : `${config.otelEndpoint.replace(/\/+$/, '')}/v1/traces`);
  return { endpoint, serviceName: config.otelServiceName };
}

/** Decodes the server secret: 64+ hex digits as bytes, anything else as its UTF-8 bytes. */
export function decodeSecret(secret: string): Buffer {
  if (/^([0-9a-fA-F]{2}){32,}$/.test(secret)) return Buffer.from(secret, 'hex');
  return Buffer.from(secret, 'utf8');
}
