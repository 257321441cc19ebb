// What the CLI can ask of Bulkhead, with two ways to ask: straight through the services on the store
// (the same code the API runs), or through a running server's HTTP API when --url is given — the only
// way in while a server holds an embedded data directory.
import type { ChainReport } from '../audit/chain.js';
import type { AuditEvent } from '../audit/events.js';
import type { AuditFilter } from '../audit/log.js';
import type { Scope } from '../policy/scopes.js';
import type { PrincipalView } from '../identity/principals.js';
import type { SigningKeyView } from '../identity/signing-keys.js';
import type { IssuedKey, KeyView } from '../keys/service.js';
import type { DomainListOptions, DomainView } from '../services/domains.js';
import type { VerifyRun } from '../verify/runs.js';

export interface ControlPlane {
  createDomain(input: { slug: string; name: string }): Promise<DomainView>;
  listDomains(options: DomainListOptions): Promise<DomainView[]>;
  getDomain(domainId: string): Promise<DomainView>;
  suspendDomain(domainId: string): Promise<DomainView>;
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
  listSigningKeys(domainId: string): Promise<SigningKeyView[]>;
  rotateSigningKey(domainId: string): Promise<SigningKeyView[]>;
  close(): Promise<void>;
}
