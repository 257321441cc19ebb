// Assembles the store, the server secret and the services from a Config. Only entry points (the CLI
// and the HTTP server's start) call this; everything below receives what it needs.
import { hkdfSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, decodeSecret, type Config } from './config.js';
import type { ResourceKind } from './domain/kinds.js';
import { FeedKeys } from './identity/feed/feed-keys.js';
import { PrincipalService } from './identity/principals.js';
import { PortalService } from './services/portal.js';
import { LoginLimiter, type LimiterOptions } from './identity/login-limiter.js';
import { SessionService } from './identity/sessions.js';
import { SigningKeys } from './identity/signing-keys.js';
import { TokenService } from './identity/tokens.js';
import { ClientService } from './identity/oidc/clients.js';
import { Issuers } from './identity/oidc/issuers.js';
import { tokenAgeGraceSeconds } from '@bulkhead/sdk/profile';
import { BillingService } from './billing/service.js';
import { PaymentService, type StripeSettings } from './billing/payments.js';
import { storedBytesIn, UsageMeter } from './billing/metering.js';
import { KeyService } from './keys/service.js';
import { ComputeService, type VolumeDisks as ComputeVolumeDisks } from './services/compute.js';
import { DomainPurge } from './services/domain-purge.js';
import { DomainService } from './services/domains.js';
import { GrantService } from './policy/grants.js';
import { VolumeDisks } from './providers/storage/volume-disks.js';
import { OperatorService } from './services/operator.js';
import { consoleHostOf } from './domain/hosts.js';
import { deriveMasterKey, Keyring } from './crypto/keyring.js';
import type { Failpoint } from './domain/failpoints.js';
import { Blueprints } from './provisioner/blueprints.js';
import { Provisioner, type Providers } from './provisioner/provisioner.js';
import { defaultQuotas, type QuotaDefaults } from './domain/quotas.js';
import { StorageQuota } from './provisioner/storage-quota.js';
import { hasObjects, type DataKeySource } from './providers/provider.js';
import { openProviders, volumeDisksOf } from './providers/registry.js';
import { deriveNoticeKey } from './store/notices.js';
import { openStore, type Store, type StoreOptions } from './store/store.js';
import { appendAudit } from './audit/log.js';
import { defaultTenantLimits, TenantLimits, type TenantLimitValues } from './services/tenant-limits.js';
import { IsolationMetrics } from './verify/metrics.js';
import { ServerMetrics } from './telemetry/metrics.js';
import { observeProvider } from './providers/observed.js';

export interface Services {
  readonly store: Store;
  /** The providers of this server, one per kind it offers. */
  readonly providers: Providers;
  /** Kinds whose provider the configuration could not build, with the reason (the server runs without). */
  readonly unavailableProviders: ReadonlyMap<ResourceKind, unknown>;
  readonly domains: DomainService;
  readonly keys: KeyService;
  readonly operator: OperatorService;
  readonly keyring: Keyring;
  /** Signs the paging cursors lists give out (derived from the server secret), so one altered is refused. */
  readonly cursorKey: Buffer;
  readonly provisioner: Provisioner;
  readonly compute: ComputeService;
  /** Deletes the rows of deleted domains whose backends are empty (services/domain-purge.ts). */
  readonly purge: DomainPurge;
  /** Reservations against each domain's storage quota, for object writes. */
  readonly storageQuota: StorageQuota;
  readonly blueprints: Blueprints;
  readonly grants: GrantService;
  /** Usage, the price book and invoices (docs/billing.md). */
  readonly billing: BillingService;
  /** Each domain's Stripe customer, its payment methods, charges and Stripe's webhooks (off without a key). */
  readonly payments: PaymentService;
  /** Counts API requests per domain and samples stored bytes, into usage (docs/billing.md). */
  readonly meter: UsageMeter;
  readonly signingKeys: SigningKeys;
  /** Signs the revocation feed; its public keys are served at /v1/revocations/jwks.json. */
  readonly feedKeys: FeedKeys;
  readonly principals: PrincipalService;
  /** Each domain's portal hosts and branding (docs/portal.md). */
  readonly portal: PortalService;
  readonly tokens: TokenService;
  /** Each domain's issuer URL, and the domains that are OpenID Providers (docs/identity.md). */
  readonly issuers: Issuers;
  /** Each domain's registered OAuth clients. */
  readonly oauthClients: ClientService;
  readonly sessions: SessionService;
  readonly loginLimiter: LoginLimiter;
  readonly limits: { readonly maxObjectBytes: number };
  /** Each domain's share of this server: its request rate and requests in flight. */
  readonly tenantLimits: TenantLimits;
  /** The isolation runs' Prometheus metrics, served at /metrics. */
  readonly isolationMetrics: IsolationMetrics;
  /** The server's own metrics (requests, authentication, providers, audit, feed, grants), same registry. */
  readonly metrics: ServerMetrics;
  /** Stops the reconciler, closes the providers, then the store. */
  close(): Promise<void>;
}

/** Everything buildServices needs besides the store and the secret; tests pass their own. */
export interface ServiceOptions {
  readonly providers: Providers;
  readonly unavailableProviders?: ReadonlyMap<ResourceKind, unknown> | undefined;
  readonly masterKey?: Buffer | undefined;
  readonly quotas?: Partial<QuotaDefaults> | undefined;
  /** Bytes per second the background worker overwrites of deleted volumes. */
  readonly volumeZeroBytesPerSecond?: number | undefined;
  readonly leaseMs?: number | undefined;
  readonly slugQuarantineMs?: number | undefined;
  readonly maxObjectBytes?: number | undefined;
  /** Failed sign-ins allowed per account and per client address, and the window they count in. */
  readonly loginLimits?: LimiterOptions | undefined;
  readonly onError?: (error: unknown, resourceId: string) => void;
  readonly failpoint?: Failpoint | undefined;
  /** The longest an access token may live (at most 300 s). */
  readonly accessTokenSeconds?: number | undefined;
  readonly sessionSeconds?: number | undefined;
  readonly sessionIdleSeconds?: number | undefined;
  /** The `iss` of access tokens while there is no public URL (and of tokens signed before there was one). */
  readonly issuer?: string | undefined;
  /** The public base URL: each domain's issuer is `<publicUrl>/d/<slug>` (BULKHEAD_PUBLIC_URL). */
  readonly publicUrl?: string | undefined;
  /** Where volumes keep their bytes (default: a new directory under the system's temporary directory). */
  readonly volumeRoot?: string | undefined;
  /** The volumes' store when it is not a directory (S3); `volumeRoot` is then unused. */
  readonly volumeDisks?: ComputeVolumeDisks | undefined;
  readonly maxVolumeBytes?: number | undefined;
  /** A bearer token that reads /metrics and nothing else. */
  readonly metricsToken?: string | undefined;
  readonly feedToken?: string | undefined;
  /** Each domain's default share of the server (the pool may override it per domain). */
  readonly tenantLimits?: TenantLimitValues | undefined;
  /** How long a refusal of a domain over its share is held before it is answered (default 1000 ms). */
  readonly refusalHoldMs?: number | undefined;
  /** Which version of the revocation feed's key signs (default 1). */
  readonly feedKeyVersion?: number | undefined;
  /** Stripe's keys (and another API address, for tests); unset: payments through Stripe are off. */
  readonly stripe?: StripeSettings | undefined;
  /** The platform's name on invoice PDFs (default `Bulkhead`). */
  readonly billingPlatformName?: string | undefined;
  /** How long a deleted domain's invoices are kept after its deletion (default 10 years of 366 days). */
  readonly invoiceRetentionMs?: number | undefined;
  /** Whether closing a period charges each new invoice through Stripe (default false; needs `stripe`). */
  readonly autoCharge?: boolean | undefined;
}

/** The HMAC key for stored secrets: configured, or generated once into the embedded data directory. */
export function resolveSecret(config: Config): Buffer {
  if (config.secret !== undefined) return decodeSecret(config.secret);
  if (config.databaseUrl !== undefined) {
    throw new ConfigError(
      'invalid configuration: BULKHEAD_SECRET is required with BULKHEAD_DATABASE_URL (every server must share it)',
    );
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const file = join(config.dataDir, 'secret.key');
  try {
    return decodeSecret(readFileSync(file, 'utf8').trim());
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const secret = randomBytes(32).toString('hex');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return decodeSecret(secret);
}

export function buildServices(store: Store, secret: Buffer, options: ServiceOptions): Services {
  const isolationMetrics = new IsolationMetrics();
  const metrics = new ServerMetrics(isolationMetrics.registry);
  store.observer = metrics;
  // Every call to a backend is timed by kind and operation (and traced): the provisioning metrics.
  const providers: Providers = new Map(
    [...options.providers].map(([kind, provider]) => [
      kind,
      observeProvider(provider, (k, op, ok, seconds) => metrics.providerCall(k, op, ok, seconds)),
    ]),
  );
  const keyring = new Keyring({ store, masterKey: options.masterKey ?? deriveMasterKey(secret) });
  const quotas: QuotaDefaults = { ...defaultQuotas, ...options.quotas };
  const provisioner = new Provisioner({
    store,
    keyring,
    providers,
    quotas,
    leaseMs: options.leaseMs ?? 30_000,
    ...(options.onError === undefined ? {} : { onError: options.onError }),
    failpoint: options.failpoint,
  });
  const accessTokenSeconds = options.accessTokenSeconds ?? 300;
  const signingKeys = new SigningKeys({ store, keyring, maxTokenSeconds: accessTokenSeconds });
  const portal = new PortalService({ store, consoleHost: consoleHostOf(options.publicUrl) });
  const issuers = new Issuers({
    store,
    portalSite: async (host) => (await portal.siteAndSession(host, null, new Date())).site,
    publicUrl: options.publicUrl,
    legacyIssuer: options.issuer ?? 'bulkhead',
    legacyGraceMs: (accessTokenSeconds + tokenAgeGraceSeconds) * 1000,
  });
  const tokens = new TokenService({
    store,
    secret,
    signingKeys,
    issuers,
    accessTokenSeconds,
    sessionSeconds: options.sessionSeconds ?? 12 * 3600,
  });
  const volumeRoot = options.volumeRoot ?? mkdtempSync(join(tmpdir(), 'bulkhead-volumes-'));
  const objectProviders = [...providers.values()].filter(hasObjects);
  // Only object providers take object writes, and each resource lives in exactly one of them.
  const measureStorage = async (ref: { readonly domainId: string; readonly resourceId: string }) => {
    let total = 0;
    for (const provider of objectProviders) total += await provider.usedBytes(ref);
    return total;
  };
  const storageQuota = new StorageQuota({
    store,
    quotas,
    leaseMs: options.leaseMs ?? 30_000,
    measure: measureStorage,
  });
  const disks = options.volumeDisks ?? new VolumeDisks(volumeRoot);
  const compute = new ComputeService({
    store,
    disks,
    maxVolumeBytes: options.maxVolumeBytes ?? 1024 ** 3,
    quotas,
    zeroBytesPerSecond: options.volumeZeroBytesPerSecond ?? 64 * 1024 ** 2,
    leaseMs: options.leaseMs ?? 30_000,
  });
  const keys = new KeyService({ store, secret });
  const tenantLimits = new TenantLimits({
    defaults: options.tenantLimits ?? defaultTenantLimits,
    refusalHoldMs: options.refusalHoldMs ?? 1_000,
    overrides: (domainId) => provisioner.poolOverrides(domainId),
    // A refused request writes nothing of its own; each domain's refusals are audited together.
    recordRefusals: (domainId, tally) =>
      store.withDomain(domainId, (tx) =>
        appendAudit(tx, {
          actor: 'system',
          requestId: null,
          domainId,
          action: 'access.rate_limited',
          target: null,
          outcome: 'denied',
          detail: { refused: tally.rate + tally.concurrency, ...tally },
        }),
      ),
  });
  // A payment that settles a domain resumes it if it was suspended for non-payment; a deleted domain's
  // Stripe customer is deleted right after (or by the reconciler, if Stripe is not reached then), and
  // its volumes start being zeroed (or at the next volume reconcile, after a crash).
  const domains: DomainService = new DomainService({
    store,
    slugQuarantineMs: options.slugQuarantineMs ?? 30 * 86_400_000,
    afterDelete: (domainId): Promise<void> => {
      compute.kick();
      return payments.deleteCustomer(domainId).then(() => undefined);
    },
  });
  const billing: BillingService = new BillingService({
    store,
    failpoint: options.failpoint,
    platformName: options.billingPlatformName,
    invoiceRetentionMs: options.invoiceRetentionMs,
    onSettled: (tx, actor, domainId): Promise<boolean> => domains.liftBillingSuspension(tx, actor, domainId),
    // Closing a period charges each domain's invoice when Stripe is configured and auto-charge is on.
    afterClose: (actor, domainId, period): Promise<unknown> => payments.chargeClosed(actor, domainId, period),
  });
  const payments: PaymentService = new PaymentService({
    store,
    billing,
    stripe: options.stripe,
    autoCharge: options.autoCharge,
  });
  return {
    store,
    providers,
    unavailableProviders: options.unavailableProviders ?? new Map(),
    domains,
    keys,
    operator: new OperatorService({
      store,
      secret,
      metricsToken: options.metricsToken,
      feedToken: options.feedToken,
    }),
    keyring,
    cursorKey: Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'bulkhead paging cursor v1', 32)),
    provisioner,
    blueprints: new Blueprints({ store, provisioner, leaseMs: options.leaseMs ?? 30_000 }),
    compute,
    purge: new DomainPurge({ store, disks }),
    storageQuota,
    grants: new GrantService({ store, onUse: (used) => metrics.grantUse(used) }),
    billing,
    payments,
    meter: new UsageMeter({
      billing,
      serverId: randomBytes(6).toString('hex'),
      source: storedBytesIn(store, measureStorage),
    }),
    signingKeys,
    feedKeys: new FeedKeys({ secret, version: options.feedKeyVersion ?? 1 }),
    principals: new PrincipalService({ store }),
    portal,
    sessions: new SessionService({
      store,
      secret,
      absoluteSeconds: options.sessionSeconds ?? 12 * 3600,
      idleSeconds: options.sessionIdleSeconds ?? 30 * 60,
    }),
    loginLimiter: new LoginLimiter(options.loginLimits),
    tokens,
    issuers,
    oauthClients: new ClientService({ store }),
    limits: { maxObjectBytes: options.maxObjectBytes ?? 100 * 1024 ** 2 },
    tenantLimits,
    isolationMetrics,
    metrics,
    async close() {
      await tenantLimits.recordRefusals();
      await provisioner.stop();
      await compute.stop();
      await tokens.close();
      await keys.close();
      await Promise.allSettled([...providers.values()].map((p) => p.close()));
      await store.close();
    },
  };
}

/** The store the configuration names: its PostgreSQL database, or the embedded data directory. */
export function storeOptions(config: Config): StoreOptions {
  if (config.databaseUrl === undefined) return { kind: 'pglite', dataDir: join(config.dataDir) };
  return {
    kind: 'postgres',
    url: config.databaseUrl,
    poolSize: config.databasePoolSize,
    ...(config.databaseSessionUrl === undefined ? {} : { sessionUrl: config.databaseSessionUrl }),
    ...(config.databaseSystemUrl === undefined ? {} : { systemUrl: config.databaseSystemUrl }),
  };
}

/** Opens the store named by the configuration and builds the services on it. */
export async function openServices(config: Config): Promise<Services> {
  const secret = resolveSecret(config);
  const noticeKey = deriveNoticeKey(secret);
  const store = await openStore({ ...storeOptions(config), noticeKey });
  // The storage provider needs the keyring, which buildServices creates: hand it a late-bound source.
  let keyring: Keyring | undefined;
  const dataKeys: DataKeySource = {
    dataKey: (domainId) => {
      if (keyring === undefined) throw new Error('the keyring is not ready');
      return keyring.dataKey(domainId);
    },
  };
  try {
    // A backend the configuration cannot build is left out and reported in the start banner; only the
    // store is needed to start.
    const unavailableProviders = new Map<ResourceKind, unknown>();
    const providers = await openProviders(config, dataKeys, (kind, error) =>
      unavailableProviders.set(kind, error),
    );
    const services = buildServices(store, secret, {
      providers,
      unavailableProviders,
      masterKey: config.masterKey === undefined ? undefined : Buffer.from(config.masterKey, 'hex'),
      quotas: {
        resourcesPerKind: config.quotaResources,
        storageBytes: config.quotaStorageBytes,
        instances: config.quotaInstances,
        volumes: config.quotaVolumes,
        volumeBytes: config.quotaVolumeBytes,
      },
      volumeZeroBytesPerSecond: config.volumeZeroBytesPerSecond,
      leaseMs: config.leaseSeconds * 1000,
      slugQuarantineMs: config.slugQuarantineDays * 86_400_000,
      maxObjectBytes: config.maxObjectBytes,
      failpoint: config.failpoint,
      accessTokenSeconds: config.accessTokenSeconds,
      sessionSeconds: config.sessionSeconds,
      sessionIdleSeconds: config.sessionIdleSeconds,
      issuer: config.issuer,
      publicUrl: config.publicUrl,
      volumeRoot: config.volumeDir ?? join(config.dataDir, 'volumes'),
      volumeDisks: volumeDisksOf(config, dataKeys),
      maxVolumeBytes: config.maxVolumeBytes,
      metricsToken: config.metricsToken,
      feedToken: config.feedToken,
      tenantLimits: {
        requestsPerSecond: config.domainRequestsPerSecond,
        requestBurst: config.domainRequestBurst,
        concurrentRequests: config.domainConcurrentRequests,
      },
      refusalHoldMs: config.domainRefusalHoldMs,
      feedKeyVersion: config.feedKeyVersion,
      stripe:
        config.stripeSecretKey === undefined || config.stripeWebhookSecret === undefined
          ? undefined
          : {
              secretKey: config.stripeSecretKey,
              webhookSecret: config.stripeWebhookSecret,
              apiUrl: config.stripeApiUrl,
            },
      billingPlatformName: config.billingPlatformName,
      invoiceRetentionMs: config.invoiceRetention,
      // On by default once Stripe is configured: that is what configuring it is for.
      autoCharge: (config.billingAutoCharge ?? 'on') === 'on',
    });
    keyring = services.keyring;
    return services;
  } catch (error) {
    await store.close();
    throw error;
  }
}
