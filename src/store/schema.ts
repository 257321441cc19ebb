// The control-plane tables as Kysely sees them. Migrations in ./migrations.ts create them.
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

export type DomainStatus = 'active' | 'suspended' | 'deleted';

export interface DomainsTable {
  id: string;
  slug: string;
  name: string;
  status: DomainStatus;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
  suspended_at: Date | null;
  deleted_at: Date | null;
  /** Why it is suspended (`billing`: non-payment); null when it is not, or was suspended before 0024. */
  suspend_reason: Generated<string | null>;
  /** When everything it owned was removed but its audit trail and invoices (0028); null until then. */
  purged_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface ProvisioningKeysTable {
  id: string;
  domain_id: string;
  name: string | null;
  prefix: string;
  hash: string;
  scopes: ColumnType<string[], string, string>;
  created_at: ColumnType<Date, Date, never>;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  replaces_key_id: string | null;
}

export interface AuditEventsTable {
  seq: number;
  id: string;
  at: Date;
  domain_id: string | null;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  request_id: string | null;
  detail: ColumnType<Record<string, unknown>, string, string>;
  prev_hash: string;
  hash: string;
}

/** The head of one audit chain: a domain's (`chain` is its id) or that of the events of no domain (`system`). */
export interface AuditHeadsTable {
  chain: string;
  domain_id: string | null;
  seq: ColumnType<string, string | number, string | number>;
  hash: string;
}

export interface SettingsTable {
  name: string;
  value: string;
  updated_at: Generated<Date>;
}

export type ResourceStatus = 'pending' | 'provisioning' | 'ready' | 'failed' | 'deprovisioning' | 'deleted';

export interface ResourcesTable {
  id: string;
  domain_id: string;
  kind: string;
  name: string;
  status: ResourceStatus;
  backend_name: string;
  /** The domain's data key encrypts this; null until ready and again once deleted. */
  credentials: string | null;
  idempotency_key: string | null;
  /** The provisioning key that asked for it. */
  key_id: string | null;
  blueprint_id: ColumnType<string | null, string | null | undefined, string | null>;
  error: string | null;
  used_bytes: Generated<number>;
  lease_until: Date | null;
  attempts: Generated<number>;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
  ready_at: Date | null;
  deleted_at: Date | null;
  /** The backend it was created on (`postgres-server` …); null for rows older than migration 0016. */
  backend: ColumnType<string | null, string | null | undefined, string | null>;
  /** Where that backend is (host:port and mode, or a directory); null exactly when `backend` is. */
  backend_location: ColumnType<string | null, string | null | undefined, string | null>;
  /** The backend refused its create before making anything: it holds neither its name nor quota. */
  refused: ColumnType<boolean, boolean | undefined, boolean>;
}

export interface PoolsTable {
  domain_id: string;
  /** Per-kind resource limits and storage bytes, e.g. {"postgres": 5, "storageBytes": 1073741824}. */
  quotas: ColumnType<Record<string, number>, string, string>;
  updated_at: Date;
}

export interface DomainKeysTable {
  domain_id: string;
  /** The domain's data key, wrapped by the master key; null once destroyed. */
  wrapped_key: string | null;
  created_at: ColumnType<Date, Date, never>;
  destroyed_at: Date | null;
}

export interface BackendNamesTable {
  name: string;
  kind: string;
  domain_id: string;
  resource_id: string;
  reserved_at: ColumnType<Date, Date, never>;
}

export interface SigningKeysTable {
  kid: string;
  domain_id: string;
  state: 'next' | 'current' | 'retired';
  public_jwk: ColumnType<Record<string, string>, string, string>;
  /** The private key (PKCS#8), sealed under the domain's data key. */
  private_key: string;
  created_at: ColumnType<Date, Date, never>;
  activated_at: Date | null;
  retired_at: Date | null;
  /** A retired key stays in the JWKS until every token it signed has expired. */
  publish_until: Date | null;
}

export interface PrincipalsTable {
  id: string;
  domain_id: string;
  kind: 'user' | 'service';
  email: string | null;
  client_id: string | null;
  /** scrypt, in the self-describing form of identity/passwords.ts. */
  secret_hash: string;
  status: 'active' | 'disabled' | 'deleted';
  /** An admin manages the domain's principals and sessions; a member does not. */
  role: ColumnType<PrincipalRole, PrincipalRole | undefined, PrincipalRole>;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
}

export type PrincipalRole = 'member' | 'admin';

export interface SessionsTable {
  id: string;
  domain_id: string;
  principal_id: string;
  created_at: ColumnType<Date, Date, never>;
  expires_at: Date;
  revoked_at: Date | null;
  revoke_reason: string | null;
  /** Keyed hash of a browser session's cookie value; null for token sessions. */
  cookie_hash: ColumnType<string | null, string | null | undefined, string | null>;
  last_seen_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** A cookie session ends when it has not been used until then (the idle timeout). */
  idle_until: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** The portal host a portal session was opened on (migration 0026): only that host accepts it. */
  portal_host: ColumnType<string | null, string | null | undefined, never>;
  /**
   * For a token session opened by an authorization code, the browser session that authorized it
   * (migration 0034): RP-initiated logout ends it too.
   */
  browser_session_id: ColumnType<string | null, string | null | undefined, never>;
}

export interface RefreshTokensTable {
  /** HMAC of the token under the server secret; the token itself is never stored. */
  hash: string;
  session_id: string;
  domain_id: string;
  created_at: ColumnType<Date, Date, never>;
  used_at: Date | null;
  /** The registered client the token was issued to; null for the password grant's (migration 0032). */
  client_id: ColumnType<string | null, string | null | undefined, never>;
}

export interface RevocationsTable {
  seq: Generated<number>;
  kind: 'session' | 'principal' | 'domain' | 'domain_restored';
  target: string;
  domain_id: string;
  at: Date;
}

export interface InstancesTable {
  id: string;
  domain_id: string;
  name: string;
  status: 'running' | 'deleted';
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
  deleted_at: Date | null;
}

export type VolumeStatus = 'available' | 'attached' | 'deleting' | 'deleted';

export interface VolumesTable {
  id: string;
  domain_id: string;
  name: string;
  size_bytes: number;
  status: VolumeStatus;
  instance_id: string | null;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
  attached_at: Date | null;
  deleted_at: Date | null;
  /** While a worker zeroes a deleting volume: until when it holds it. */
  lease_until: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface StorageReservationsTable {
  id: string;
  domain_id: string;
  resource_id: string;
  bytes: ColumnType<number, number, number>;
  created_at: ColumnType<Date, Date, never>;
  lease_until: Date;
}

export type BlueprintStatus = 'provisioning' | 'ready' | 'rolling_back' | 'rolled_back';

export interface BlueprintsTable {
  id: string;
  domain_id: string;
  name: string;
  status: BlueprintStatus;
  spec: ColumnType<{ kind: string; name: string }[], string, string>;
  error: string | null;
  lease_until: Date | null;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
}

export interface GrantsTable {
  id: string;
  from_domain_id: string;
  to_domain_id: string;
  actions: ColumnType<string[], string, string>;
  resources: ColumnType<string[], string, string>;
  reason: string;
  created_by: string;
  created_at: ColumnType<Date, Date, never>;
  expires_at: Date;
  revoked_at: Date | null;
}

export type VerifyRunVerdict = 'clean' | 'leak' | 'incomplete' | 'error';

/** One run of the isolation verifier: a system record, no domain's. */
export interface VerifyRunsTable {
  id: string;
  started_at: Date;
  finished_at: Date;
  target: string;
  verdict: VerifyRunVerdict;
  operations: number;
  exercised: number;
  unexercised: number;
  checks: number;
  leaks: number;
  inconclusive: number;
  error: string | null;
  report: ColumnType<Record<string, unknown> | null, string | null, never>;
}

/** One metered quantity of one domain, counted once per (domain, event id); never changed once written. */
/** Who recorded usage: the API, a close (resource time), the request meter, the storage sampler. */
export type UsageSource = 'api' | 'resources' | 'requests' | 'storage';

export interface UsageRecordsTable {
  domain_id: string;
  event_id: string;
  meter: string;
  quantity: ColumnType<number | bigint, number | bigint | string, never>;
  at: ColumnType<Date, Date, never>;
  recorded_at: ColumnType<Date, Date, never>;
  source: ColumnType<UsageSource, UsageSource, never>;
}

/** A meter of the price book: `unit_price` minor units per `per` units beyond `included` a period. */
export interface BillingMetersTable {
  meter: string;
  unit: string;
  unit_price: ColumnType<number | bigint, number | bigint | string, number | bigint | string>;
  per: ColumnType<number | bigint, number | bigint | string, number | bigint | string>;
  included: ColumnType<number | bigint, number | bigint | string, number | bigint | string>;
  updated_at: Date;
}

/** One domain's own price for one meter of the book. */
export interface PriceOverridesTable {
  domain_id: string;
  meter: string;
  unit_price: ColumnType<number | bigint, number | bigint | string, number | bigint | string>;
  per: ColumnType<number | bigint, number | bigint | string, number | bigint | string>;
  included: ColumnType<number | bigint, number | bigint | string, number | bigint | string>;
}

export type InvoiceStatus = 'open' | 'paid' | 'void' | 'uncollectible';

/** A closed period's invoice; only its status columns can change (migration 0022). */
export interface InvoicesTable {
  id: ColumnType<string, string, never>;
  domain_id: ColumnType<string, string, never>;
  number: ColumnType<number, number, never>;
  period: ColumnType<string, string, never>;
  currency: ColumnType<string, string, never>;
  subtotal: ColumnType<number | bigint, number | bigint | string, never>;
  total: ColumnType<number | bigint, number | bigint | string, never>;
  content_hash: ColumnType<string, string, never>;
  closed_at: ColumnType<Date, Date, never>;
  status: InvoiceStatus;
  status_changed_at: Date | null;
  payment_reference: string | null;
}

export interface InvoiceLinesTable {
  invoice_id: string;
  domain_id: string;
  position: number;
  meter: string;
  unit: string;
  quantity: ColumnType<number | bigint, number | bigint | string, never>;
  included: ColumnType<number | bigint, number | bigint | string, never>;
  billable: ColumnType<number | bigint, number | bigint | string, never>;
  unit_price: ColumnType<number | bigint, number | bigint | string, never>;
  per: ColumnType<number | bigint, number | bigint | string, never>;
  amount: ColumnType<number | bigint, number | bigint | string, never>;
}

export interface StripeCustomersTable {
  domain_id: string;
  customer_id: string;
  created_at: Date;
  /** When Stripe confirmed the customer deleted (the domain was deleted); null while it exists. */
  deleted_at: Date | null;
}

export type PaymentStatus = 'pending' | 'processing' | 'succeeded' | 'failed';

export interface InvoicePaymentsTable {
  invoice_id: string;
  attempt: number;
  domain_id: string;
  idempotency_key: string;
  payment_intent_id: string | null;
  status: PaymentStatus;
  failure_code: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface StripeEventsTable {
  event_id: string;
  domain_id: string;
  type: string;
  received_at: Date;
}

/** A domain's billing details, printed on its invoices (migration 0023). */
export interface BillingDetailsTable {
  domain_id: string;
  name: string;
  address_lines: ColumnType<string[], string, string>;
  city: string;
  postal_code: string;
  country: string;
  email: string;
  tax_id: string | null;
  updated_at: Date;
}

/** A server running on the store, by host and volume directory (migration 0028). */
export interface ServersTable {
  host: string;
  volume_dir: string;
  volume_dir_shared: boolean;
  started_at: Date;
  seen_at: Date;
}

export type ServerRow = Selectable<ServersTable>;

export interface OAuthClientsTable {
  id: string;
  domain_id: string;
  client_id: string;
  name: string;
  kind: 'confidential' | 'public';
  /** scrypt of a confidential client's secret; null for a public client. */
  secret_hash: string | null;
  auth_method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
  /** The public keys of a `private_key_jwt` client (a JWK Set); null for any other (migration 0029). */
  jwks: ColumnType<{ keys: Record<string, unknown>[] } | null, string | null, never>;
  redirect_uris: ColumnType<string[], string, never>;
  grant_types: ColumnType<string[], string, never>;
  scopes: ColumnType<string[], string, never>;
  allowed_origins: ColumnType<string[], string, never>;
  /** Where end-session may send the browser back to, compared exactly (migration 0032). */
  post_logout_redirect_uris: ColumnType<string[], string | undefined, never>;
  created_at: ColumnType<Date, Date, never>;
  deleted_at: Date | null;
}

export type OAuthClientRow = Selectable<OAuthClientsTable>;

/** An authorization code of a domain, kept as its SHA-256 (migration 0029). */
export interface OAuthCodesTable {
  code_hash: string;
  domain_id: string;
  client_id: string;
  principal_id: string;
  redirect_uri: string;
  code_challenge: string;
  scope: string;
  nonce: string | null;
  auth_time: Date;
  created_at: ColumnType<Date, Date, never>;
  expires_at: Date;
  used_at: Date | null;
  session_id: string | null;
  /** The browser session that authorized the code (migration 0034); the token session inherits it. */
  browser_session_id: ColumnType<string | null, string | null | undefined, never>;
}

export type OAuthCodeRow = Selectable<OAuthCodesTable>;

/** A `private_key_jwt` assertion's `jti`, spent until the assertion expires (migration 0029). */
export interface OAuthAssertionsTable {
  domain_id: string;
  client_id: string;
  jti: string;
  expires_at: Date;
}

/** A portal host (normal form) and the one domain it names (migration 0026). */
export interface PortalHostsTable {
  host: string;
  domain_id: string;
  created_at: Date;
}

/** A domain's portal branding, its logo included (migration 0026). */
export interface PortalBrandingTable {
  domain_id: string;
  display_name: string;
  primary_color: string;
  accent_color: string;
  support_email: string | null;
  support_url: string | null;
  /** The logo's bytes in base64. */
  logo: string | null;
  logo_type: string | null;
  logo_hash: string | null;
  updated_at: Date;
}

export type PortalBrandingRow = Selectable<PortalBrandingTable>;

/** The first answer to a create sent with an Idempotency-Key, in its domain (migration 0030). */
export interface IdempotentRequestsTable {
  domain_id: string;
  credential: string;
  key: string;
  fingerprint: string;
  /** NULL while the first request runs. */
  status: number | null;
  body: string | null;
  headers: ColumnType<Record<string, string> | null, string | null, string | null>;
  created_at: Date;
  /** While the first request runs: until when its server holds the claim (renewed), NULL once answered. */
  claimed_until: Date | null;
}

/** The same for creates that name no domain yet, the operator's; system context only (migration 0030). */
export type OperatorIdempotentRequestsTable = Omit<IdempotentRequestsTable, 'domain_id'>;

export interface Database {
  domains: DomainsTable;
  provisioning_keys: ProvisioningKeysTable;
  audit_events: AuditEventsTable;
  audit_heads: AuditHeadsTable;
  settings: SettingsTable;
  resources: ResourcesTable;
  pools: PoolsTable;
  domain_keys: DomainKeysTable;
  backend_names: BackendNamesTable;
  signing_keys: SigningKeysTable;
  principals: PrincipalsTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  revocations: RevocationsTable;
  instances: InstancesTable;
  volumes: VolumesTable;
  storage_reservations: StorageReservationsTable;
  grants: GrantsTable;
  blueprints: BlueprintsTable;
  verify_runs: VerifyRunsTable;
  usage_records: UsageRecordsTable;
  billing_meters: BillingMetersTable;
  price_overrides: PriceOverridesTable;
  invoices: InvoicesTable;
  invoice_lines: InvoiceLinesTable;
  stripe_customers: StripeCustomersTable;
  invoice_payments: InvoicePaymentsTable;
  stripe_events: StripeEventsTable;
  billing_details: BillingDetailsTable;
  servers: ServersTable;
  oauth_clients: OAuthClientsTable;
  oauth_codes: OAuthCodesTable;
  oauth_assertions: OAuthAssertionsTable;
  portal_hosts: PortalHostsTable;
  portal_branding: PortalBrandingTable;
  idempotent_requests: IdempotentRequestsTable;
  operator_idempotent_requests: OperatorIdempotentRequestsTable;
}

export type StripeCustomerRow = Selectable<StripeCustomersTable>;
export type InvoicePaymentRow = Selectable<InvoicePaymentsTable>;

export type UsageRecordRow = Selectable<UsageRecordsTable>;
export type BillingMeterRow = Selectable<BillingMetersTable>;
export type PriceOverrideRow = Selectable<PriceOverridesTable>;
export type InvoiceRow = Selectable<InvoicesTable>;
export type InvoiceLineRow = Selectable<InvoiceLinesTable>;
export type BillingDetailsRow = Selectable<BillingDetailsTable>;

export type VerifyRunRow = Selectable<VerifyRunsTable>;
export type NewVerifyRunRow = Insertable<VerifyRunsTable>;

export type BlueprintRow = Selectable<BlueprintsTable>;

export type InstanceRow = Selectable<InstancesTable>;
export type VolumeRow = Selectable<VolumesTable>;
export type GrantRow = Selectable<GrantsTable>;

export type PrincipalRow = Selectable<PrincipalsTable>;
export type RevocationRow = Selectable<RevocationsTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;

export type ResourceRow = Selectable<ResourcesTable>;

export type DomainRow = Selectable<DomainsTable>;
export type DomainKeyRow = Selectable<DomainKeysTable>;
export type KeyRow = Selectable<ProvisioningKeysTable>;
export type AuditRow = Selectable<AuditEventsTable>;
export type NewAuditRow = Insertable<AuditEventsTable>;
