// What the CLI can ask of Bulkhead, with two ways to ask: straight through the services on the store
// (the same code the API runs), or through a running server's HTTP API when --url is given — the only
// way in while a server holds an embedded data directory.
import type { ChainReport } from '../audit/chain.js';
import type { AuditEvent } from '../audit/events.js';
import type { AuditFilter } from '../audit/log.js';
import type { Scope } from '../policy/scopes.js';
import type { PrincipalRole } from '../store/schema.js';
import type { NewPrincipal, PrincipalView } from '../identity/principals.js';
import type { SigningKeyView } from '../identity/signing-keys.js';
import type { ClientView, NewClientInput } from '../identity/oidc/clients.js';
import type { IssuedKey, KeyView } from '../keys/service.js';
import type { DomainListOptions, DomainView } from '../services/domains.js';
import type { BlueprintView } from '../provisioner/blueprints.js';
import type { GrantInput, GrantView } from '../policy/grants.js';
import type { VerifyRun } from '../verify/runs.js';
import type { BillingDetailsInput, BillingDetailsView } from '../billing/details.js';
import type {
  CloseResult,
  InvoiceView,
  InvoiceWithLines,
  PriceBookInput,
  PriceBookView,
  UsageBucket,
} from '../billing/service.js';
import type { BrandingInput, PortalSettingsView } from '../services/portal.js';
import type { PoolView } from './tenant-plane.js';

/** The quotas and limits to change; those not named keep their values. */
export interface PoolChange {
  readonly quotas?: Record<string, number>;
  readonly limits?: Record<string, number>;
}

export interface ControlPlane {
  createDomain(input: { slug: string; name: string }): Promise<DomainView>;
  listDomains(options: DomainListOptions): Promise<DomainView[]>;
  getDomain(domainId: string): Promise<DomainView>;
  /** `reason`: `billing` for non-payment (paying the domain's invoices resumes it); default `operator`. */
  suspendDomain(domainId: string, reason?: string): Promise<DomainView>;
  resumeDomain(domainId: string): Promise<DomainView>;
  deleteDomain(domainId: string): Promise<DomainView>;
  issueKey(
    domainId: string,
    input: { name?: string | undefined; scopes?: Scope[] | undefined; expiresAt?: Date | undefined },
  ): Promise<IssuedKey>;
  listKeys(domainId: string): Promise<KeyView[]>;
  revokeKey(domainId: string, keyId: string): Promise<KeyView>;
  rotateKey(
    domainId: string,
    keyId: string,
    overlapSeconds: number,
  ): Promise<{ key: IssuedKey; previous: KeyView }>;
  listAudit(filter: AuditFilter): Promise<AuditEvent[]>;
  verifyAudit(): Promise<ChainReport>;
  /** Recorded isolation runs, newest first. */
  listVerifyRuns(options: { limit: number }): Promise<VerifyRun[]>;
  /** Gives a user a new password and ends every session it has. */
  setPrincipalPassword(domainId: string, principalId: string, password: string): Promise<PrincipalView>;
  createPrincipal(domainId: string, input: NewPrincipal): Promise<PrincipalView & { clientSecret?: string }>;
  listPrincipals(domainId: string): Promise<PrincipalView[]>;
  disablePrincipal(domainId: string, principalId: string): Promise<PrincipalView>;
  /** Gives a principal another role and ends every session it has (none when the role is the same). */
  setPrincipalRole(domainId: string, principalId: string, role: PrincipalRole): Promise<PrincipalView>;
  deletePrincipal(domainId: string, principalId: string): Promise<PrincipalView>;
  /** Ends a session of a user of the domain; false when the domain has no such live session. */
  revokeSession(domainId: string, sessionId: string): Promise<void>;
  createGrant(input: GrantInput): Promise<GrantView>;
  listGrants(filter: {
    domainId?: string | undefined;
    includeInactive?: boolean | undefined;
  }): Promise<GrantView[]>;
  revokeGrant(grantId: string): Promise<GrantView>;
  getPool(domainId: string): Promise<PoolView>;
  setPool(domainId: string, change: PoolChange): Promise<PoolView>;
  getBlueprint(domainId: string, blueprintId: string): Promise<BlueprintView>;
  listSigningKeys(domainId: string): Promise<SigningKeyView[]>;
  rotateSigningKey(domainId: string): Promise<SigningKeyView[]>;
  createOAuthClient(domainId: string, input: NewClientInput): Promise<ClientView & { clientSecret?: string }>;
  listOAuthClients(domainId: string): Promise<ClientView[]>;
  deleteOAuthClient(domainId: string, id: string): Promise<void>;
  getPrices(): Promise<PriceBookView>;
  setPrices(input: PriceBookInput): Promise<PriceBookView>;
  /** The domain's portal hosts and branding. */
  getPortal(domainId: string): Promise<PortalSettingsView>;
  /** Replaces the domain's portal hosts and branding (its logo is kept). */
  setPortal(
    domainId: string,
    input: { hosts: readonly string[]; branding: BrandingInput },
  ): Promise<PortalSettingsView>;
  /** Stores the domain's portal logo (PNG, JPEG or WebP bytes). */
  setPortalLogo(domainId: string, bytes: Buffer): Promise<PortalSettingsView>;
  getBillingDetails(domainId: string): Promise<BillingDetailsView>;
  setBillingDetails(domainId: string, input: BillingDetailsInput): Promise<BillingDetailsView>;
  /** Closes a period for every domain, or for one. */
  closePeriod(period: string, domainId?: string): Promise<CloseResult>;
  listUsage(
    domainId: string,
    filter: { from: string; to: string; meter?: string | undefined },
  ): Promise<UsageBucket[]>;
  listInvoices(
    domainId: string,
    filter: { limit: number; before?: number | undefined },
  ): Promise<InvoiceView[]>;
  getInvoice(domainId: string, invoiceId: string): Promise<InvoiceWithLines>;
  invoicePdf(domainId: string, invoiceId: string): Promise<Uint8Array>;
  setInvoiceStatus(
    domainId: string,
    invoiceId: string,
    status: 'paid' | 'void' | 'uncollectible',
    reference?: string,
  ): Promise<InvoiceView>;
  close(): Promise<void>;
}
