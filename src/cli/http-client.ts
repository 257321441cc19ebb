import { Readable } from 'node:stream';
import type { ChainReport } from '../audit/chain.js';
import type { AuditEvent } from '../audit/events.js';
import type { PrincipalView } from '../identity/principals.js';
import type { GrantView } from '../policy/grants.js';
import type { BlueprintView } from '../provisioner/blueprints.js';
import type { SigningKeyView } from '../identity/signing-keys.js';
import type { ClientView } from '../identity/oidc/clients.js';
import type { IssuedKey, KeyView } from '../keys/service.js';
import type { DomainView } from '../services/domains.js';
import type { VerifyRun } from '../verify/runs.js';
import type { BillingDetailsView } from '../billing/details.js';
import type {
  CloseResult,
  InvoiceView,
  InvoiceWithLines,
  PriceBookView,
  UsageBucket,
} from '../billing/service.js';
import { apiClient, type QueryValue } from './api-client.js';
import type { ControlPlane } from './control-plane.js';
import { sniffImage } from '../domain/images.js';
import type { PortalSettingsView } from '../services/portal.js';
import type { PoolView } from './tenant-plane.js';

/** The control plane through a running server's API, with the operator token. */
export function httpControlPlane(baseUrl: string, token: string): ControlPlane {
  const api = apiClient(baseUrl, token);
  const call = <T>(method: string, path: string, body?: unknown, query?: Record<string, QueryValue>) =>
    api<T>(method, path, { body, ...(query === undefined ? {} : { query }) });

  const d = (id: string) => `/v1/domains/${encodeURIComponent(id)}`;
  return {
    createDomain: (input) => call<DomainView>('POST', '/v1/domains', input),
    getPrices: () => call<PriceBookView>('GET', '/v1/billing/prices'),
    setPrices: (input) => call<PriceBookView>('PUT', '/v1/billing/prices', input),
    getPortal: (id) => call<PortalSettingsView>('GET', `${d(id)}/portal`),
    setPortal: (id, input) =>
      call<PortalSettingsView>('PUT', `${d(id)}/portal`, { hosts: input.hosts, ...input.branding }),
    setPortalLogo: async (id, bytes) => {
      // The server decides by the bytes; the type sent is what they say (anything else is refused there).
      const response = await api.raw('PUT', `${d(id)}/portal/logo`, {
        body: Readable.from([bytes]),
        headers: { 'content-type': sniffImage(bytes) ?? 'application/octet-stream' },
      });
      return (await response.json()) as PortalSettingsView;
    },
    getBillingDetails: (id) => call<BillingDetailsView>('GET', `${d(id)}/billing`),
    setBillingDetails: (id, input) => call<BillingDetailsView>('PUT', `${d(id)}/billing`, input),
    closePeriod: (period, domainId) =>
      call<CloseResult>(
        'POST',
        `${domainId === undefined ? '/v1' : d(domainId)}/billing/periods/${encodeURIComponent(period)}/close`,
      ),
    listUsage: async (id, filter) =>
      (await call<{ items: UsageBucket[] }>('GET', `${d(id)}/usage`, undefined, { ...filter })).items,
    listInvoices: async (id, filter) =>
      (await call<{ items: InvoiceView[] }>('GET', `${d(id)}/invoices`, undefined, { ...filter })).items,
    getInvoice: (id, invoiceId) =>
      call<InvoiceWithLines>('GET', `${d(id)}/invoices/${encodeURIComponent(invoiceId)}`),
    invoicePdf: async (id, invoiceId) => {
      const response = await api.raw('GET', `${d(id)}/invoices/${encodeURIComponent(invoiceId)}.pdf`);
      return new Uint8Array(await response.arrayBuffer());
    },
    setInvoiceStatus: (id, invoiceId, status, reference) =>
      call<InvoiceView>(
        'POST',
        `${d(id)}/invoices/${encodeURIComponent(invoiceId)}/${status === 'paid' ? 'pay' : status}`,
        status === 'paid' ? { reference } : undefined,
      ),
    listDomains: async (o) =>
      (await call<{ items: DomainView[] }>('GET', '/v1/domains', undefined, { ...o })).items,
    getDomain: (id) => call<DomainView>('GET', d(id)),
    suspendDomain: (id, reason) =>
      call<DomainView>('POST', `${d(id)}/suspend`, undefined, reason === undefined ? undefined : { reason }),
    resumeDomain: (id) => call<DomainView>('POST', `${d(id)}/resume`),
    deleteDomain: (id) => call<DomainView>('DELETE', d(id)),
    issueKey: (id, input) =>
      call<IssuedKey>('POST', `${d(id)}/keys`, {
        ...(input.name === undefined ? {} : { name: input.name }),
        ...(input.scopes === undefined ? {} : { scopes: input.scopes }),
        ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt.toISOString() }),
      }),
    listKeys: async (id) => (await call<{ items: KeyView[] }>('GET', `${d(id)}/keys`)).items,
    revokeKey: (id, keyId) => call<KeyView>('DELETE', `${d(id)}/keys/${encodeURIComponent(keyId)}`),
    rotateKey: (id, keyId, overlapSeconds) =>
      call('POST', `${d(id)}/keys/${encodeURIComponent(keyId)}/rotate`, { overlapSeconds }),
    listAudit: async (f) =>
      (await call<{ items: AuditEvent[] }>('GET', '/v1/audit', undefined, { ...f })).items,
    verifyAudit: () => call<ChainReport>('GET', '/v1/audit/verify'),
    listVerifyRuns: async (o) =>
      (await call<{ items: VerifyRun[] }>('GET', '/v1/verify/runs', undefined, { limit: o.limit })).items,
    setPrincipalPassword: (id, principalId, password) =>
      call<PrincipalView>('POST', `${d(id)}/principals/${encodeURIComponent(principalId)}/password`, {
        password,
      }),
    createPrincipal: (id, input) => call('POST', `${d(id)}/principals`, input),
    listPrincipals: async (id) =>
      (await call<{ items: PrincipalView[] }>('GET', `${d(id)}/principals`)).items,
    disablePrincipal: (id, p) =>
      call<PrincipalView>('POST', `${d(id)}/principals/${encodeURIComponent(p)}/disable`),
    setPrincipalRole: (id, p, role) =>
      call<PrincipalView>('PUT', `${d(id)}/principals/${encodeURIComponent(p)}/role`, { role }),
    deletePrincipal: (id, p) => call<PrincipalView>('DELETE', `${d(id)}/principals/${encodeURIComponent(p)}`),
    revokeSession: async (id, s) => {
      await call('DELETE', `${d(id)}/sessions/${encodeURIComponent(s)}`);
    },
    createGrant: (input) =>
      call<GrantView>('POST', '/v1/grants', { ...input, expiresAt: input.expiresAt.toISOString() }),
    listGrants: async (f) =>
      (await call<{ items: GrantView[] }>('GET', '/v1/grants', undefined, { ...f })).items,
    revokeGrant: (grantId) => call<GrantView>('DELETE', `/v1/grants/${encodeURIComponent(grantId)}`),
    getPool: (id) => call<PoolView>('GET', `${d(id)}/pool`),
    setPool: (id, change) => call<PoolView>('PUT', `${d(id)}/pool`, change),
    getBlueprint: (id, b) => call<BlueprintView>('GET', `${d(id)}/blueprints/${encodeURIComponent(b)}`),
    listSigningKeys: async (id) =>
      (await call<{ items: SigningKeyView[] }>('GET', `${d(id)}/signing-keys`)).items,
    rotateSigningKey: async (id) =>
      (await call<{ items: SigningKeyView[] }>('POST', `${d(id)}/signing-keys/rotate`)).items,
    createOAuthClient: (id, input) =>
      call<ClientView & { clientSecret?: string }>('POST', `${d(id)}/oauth-clients`, input),
    listOAuthClients: async (id) =>
      (await call<{ items: ClientView[] }>('GET', `${d(id)}/oauth-clients`)).items,
    deleteOAuthClient: async (id, c) => {
      await call('DELETE', `${d(id)}/oauth-clients/${encodeURIComponent(c)}`);
    },
    close: () => Promise.resolve(),
  };
}
