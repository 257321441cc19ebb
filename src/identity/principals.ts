// Principals are the people (users: email + password) and services (client id + secret) of exactly one
// domain. The same email in two domains is two unrelated principals. Disabling or deleting one, giving a
// user a new password or changing a role revokes its sessions, so its tokens stop working for the very
// next request.
import { randomBytes } from 'node:crypto';
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import type { PrincipalRole, PrincipalRow } from '../store/schema.js';
import { deferOrRun, type DomainTx, type Store } from '../store/store.js';
import { isUniqueViolation } from '../store/errors.js';
import { rowView } from '../store/views.js';
import { lockDomain } from '../store/repositories/domains.js';
import {
  activeClientStatement,
  findActiveUser,
  insertPrincipal,
  livePrincipals,
  lockIfUnchanged,
  lockLivePrincipal,
  setPrincipalRole,
  setPrincipalSecret,
  setPrincipalStatus,
} from '../store/repositories/principals.js';
import {
  insertSessionStatement,
  revokeLivePrincipalSessions,
  revokePrincipalSessions,
} from '../store/repositories/sessions.js';
import {
  canonicalEmail,
  userAccountKey,
  type AccountKey,
  type ClientId,
  type DomainRef,
  type Email,
} from './names.js';
import { CheckedSecrets } from './checked-secrets.js';
import { decoyHash, hashSecret, verifySecret } from './passwords.js';
import { recordRevocation } from './revocations.js';

export interface PrincipalView {
  readonly id: string;
  readonly domainId: string;
  readonly kind: 'user' | 'service';
  readonly email: string | null;
  readonly clientId: string | null;
  readonly status: 'active' | 'disabled' | 'deleted';
  readonly role: PrincipalRole;
  readonly createdAt: string;
  readonly updatedAt: string;
}

function view(row: PrincipalRow): PrincipalView {
  return rowView(row, [
    'id',
    'domain_id',
    'kind',
    'email',
    'client_id',
    'status',
    'role',
    'created_at',
    'updated_at',
  ]);
}

export const minPasswordLength = 12;

function checkStrength(password: string): void {
  if ([...password].length < minPasswordLength) {
    throw new BulkheadError('weak_password', `A password needs at least ${minPasswordLength} characters.`);
  }
}

/**
 * Opens a session for the principal whose secret was just checked, living `seconds` from `at` (a browser
 * session with its cookie's hash). The principal must still be active with that same secret, and is
 * locked against a change until the calling transaction ends; otherwise `refusal`. A login that checked
 * the old password while the password was being changed finds the change here, rather than opening a
 * session that outlives it. The session's row is written with the commit when it can be (answers true),
 * so what the caller adds about the session must wait for the commit too.
 */
export async function openCheckedSession(
  tx: DomainTx,
  checked: PrincipalRow,
  session: {
    readonly id: string;
    readonly at: Date;
    readonly seconds: number;
    readonly refusal: 'invalid_grant' | 'invalid_client';
    readonly cookie?: { hash: string; idleUntil: Date; portalHost?: string | undefined };
  },
): Promise<boolean> {
  if (!(await lockIfUnchanged(tx, checked))) throw new BulkheadError(session.refusal);
  return deferOrRun(
    tx,
    insertSessionStatement(tx, {
      id: session.id,
      domainId: checked.domain_id,
      principalId: checked.id,
      at: session.at,
      expiresAt: new Date(session.at.getTime() + session.seconds * 1000),
      ...(session.cookie === undefined ? {} : { cookie: session.cookie }),
    }),
  );
}

/** The domain's principal that is not deleted, locked until the transaction ends; else not found. */
async function lockLive(tx: DomainTx, domainId: string, principalId: string): Promise<PrincipalRow> {
  const row = await lockLivePrincipal(tx, domainId, principalId);
  if (row === undefined) throw notFound();
  return row;
}

/** An account a password login names: the key its failures count under, and its user if there is one. */
export interface Account {
  readonly key: AccountKey;
  readonly row: PrincipalRow | undefined;
}

/** A new principal; `role` defaults to `member`. */
export type NewPrincipal = ({ kind: 'user'; email: string; password: string } | { kind: 'service' }) & {
  role?: PrincipalRole;
};

/** The changes to a principal that end its sessions, and the reason its sessions' revocations give. */
const sessionsEndedBy = {
  'principal.password_changed': 'password changed',
  'principal.role': 'role changed',
} as const;

export class PrincipalService {
  private readonly secrets: CheckedSecrets;

  constructor(private readonly deps: { readonly store: Store; readonly secrets?: CheckedSecrets }) {
    this.secrets = deps.secrets ?? new CheckedSecrets();
  }

  /** Creates a principal; a service's secret is returned this once. */
  async create(
    actor: Actor,
    domainId: string,
    input: NewPrincipal,
  ): Promise<PrincipalView & { clientSecret?: string }> {
    let secret: string;
    let email: string | null = null;
    let clientId: string | null = null;
    let clientSecret: string | undefined;
    if (input.kind === 'user') {
      checkStrength(input.password);
      email = canonicalEmail(input.email);
      secret = input.password;
    } else {
      clientId = `bhc_${randomBytes(16).toString('hex')}`;
      clientSecret = `bhs_${randomBytes(32).toString('base64url')}`;
      secret = clientSecret;
    }
    const secretHash = await hashSecret(secret);
    try {
      const row = await this.deps.store.withDomain(domainId, async (tx) => {
        if ((await lockDomain(tx, domainId)).status === 'deleted') throw new BulkheadError('domain_deleted');
        const inserted = await insertPrincipal(tx, {
          id: newId('principal'),
          domainId,
          kind: input.kind,
          email,
          clientId,
          secretHash,
          role: input.role ?? 'member',
          at: new Date(),
        });
        await appendAudit(
          tx,
          succeeded(actor, domainId, 'principal.create', inserted.id, {
            kind: input.kind,
            role: input.role ?? 'member',
            ...(clientId === null ? {} : { clientId }),
          }),
        );
        return inserted;
      });
      return clientSecret === undefined ? view(row) : { ...view(row), clientSecret };
    } catch (error) {
      if (isUniqueViolation(error, 'principals_live_email')) throw new BulkheadError('email_taken');
      throw error;
    }
  }

  async list(domainId: string): Promise<PrincipalView[]> {
    const rows = await this.deps.store.withDomain(domainId, (tx) => livePrincipals(tx, domainId));
    return rows.map(view);
  }

  /** Disables or deletes a principal of this domain and revokes its sessions in the same transaction. */
  async setStatus(
    actor: Actor,
    domainId: string,
    principalId: string,
    status: 'disabled' | 'deleted',
  ): Promise<PrincipalView> {
    return this.deps.store.withDomain(domainId, async (tx) => {
      await lockLive(tx, domainId, principalId);
      const now = new Date();
      const updated = await setPrincipalStatus(tx, principalId, status, now);
      await revokePrincipalSessions(tx, principalId, `principal ${status}`, now);
      await recordRevocation(this.deps.store, tx, 'principal', principalId, domainId);
      await appendAudit(
        tx,
        succeeded(
          actor,
          domainId,
          status === 'disabled' ? 'principal.disable' : 'principal.delete',
          principalId,
          {},
        ),
      );
      return view(updated);
    });
  }

  /**
   * Gives a user of this domain a new password and ends every live session of it in the same
   * transaction, so the old password and every token issued under it are refused from the next request
   * on. A disabled user may get one too (it stays disabled); a service account, a deleted principal and
   * another domain's principal are not found, exactly like an unknown id.
   */
  async setPassword(
    actor: Actor,
    domainId: string,
    principalId: string,
    password: string,
  ): Promise<PrincipalView> {
    checkStrength(password);
    // Hashed before the transaction so that the row lock is not held through scrypt; an unknown id pays
    // the same hashing as a known one.
    const secretHash = await hashSecret(password);
    return this.deps.store.withDomain(domainId, async (tx) => {
      if ((await lockLive(tx, domainId, principalId)).kind !== 'user') throw notFound();
      const now = new Date();
      const updated = await setPrincipalSecret(tx, principalId, secretHash, now);
      await this.endSessions(tx, actor, domainId, principalId, now, 'principal.password_changed', {});
      return view(updated);
    });
  }

  /**
   * Ends every live session of a principal after a change to it (`action`), session by session rather
   * than the principal: verifiers elsewhere refuse a revoked principal for good, and the logins that
   * follow the change must work. The change is audited with `detail` and how many sessions it ended.
   */
  private async endSessions(
    tx: DomainTx,
    actor: Actor,
    domainId: string,
    principalId: string,
    now: Date,
    action: keyof typeof sessionsEndedBy,
    detail: Readonly<Record<string, unknown>>,
  ): Promise<void> {
    const ended = await revokeLivePrincipalSessions(tx, principalId, sessionsEndedBy[action], now);
    for (const sessionId of ended)
      await recordRevocation(this.deps.store, tx, 'session', sessionId, domainId);
    await appendAudit(
      tx,
      succeeded(actor, domainId, action, principalId, { ...detail, revokedSessions: ended.length }),
    );
  }

  /**
   * Gives a principal of this domain (a user or a service, as at its creation) another role and ends
   * every live session of it in the same transaction: its tokens carry the role they were issued with,
   * so none of them may keep the old one past the next request. The same role again changes nothing and
   * writes nothing. A deleted principal and another domain's principal are not found, like an unknown id.
   */
  async setRole(
    actor: Actor,
    domainId: string,
    principalId: string,
    role: PrincipalRole,
  ): Promise<PrincipalView> {
    return this.deps.store.withDomain(domainId, async (tx) => {
      const current = await lockLive(tx, domainId, principalId);
      if (current.role === role) return view(current);
      const now = new Date();
      const updated = await setPrincipalRole(tx, principalId, role, now);
      await this.endSessions(tx, actor, domainId, principalId, now, 'principal.role', {
        from: current.role,
        to: role,
      });
      return view(updated);
    });
  }

  /**
   * The account a password login names: the active user with this email in the active domain the
   * reference names (by id or slug), if there is one, and the key its failed logins are counted under.
   * Whatever the spelling of the domain or the email, an existing account has one key: its domain's id
   * and the canonical email.
   */
  async findUser(domain: DomainRef, email: Email): Promise<Account> {
    // One statement whether or not the domain exists, so the time taken says nothing of which part is
    // missing. Without a user there is no account to protect, and the reference keys the count.
    const row = await this.deps.store.system('authenticate', (tx) => findActiveUser(tx, domain, email));
    return { key: userAccountKey(row?.domain_id ?? null, domain, email), row };
  }

  /**
   * The account's principal if the password is its own, or null. An account without a user costs the
   * same hashing as a wrong password.
   */
  async checkPassword(account: Account, password: string): Promise<PrincipalRow | null> {
    const ok = await verifySecret(password, account.row?.secret_hash ?? (await decoyHash()));
    return ok && account.row !== undefined ? account.row : null;
  }

  /**
   * The active service with this client id and secret in an active domain, or null. The service and its
   * stored hash are read every time (a disabled or deleted service is refused at once); only scrypt is
   * spared for a secret that matched that same hash a moment ago (`CheckedSecrets`).
   */
  async checkClient(clientId: ClientId, clientSecret: string): Promise<PrincipalRow | null> {
    const [[row]] = await this.deps.store.systemRead('authenticate', (db) => [
      activeClientStatement(db, clientId),
    ]);
    const ok = await this.secrets.verify(clientSecret, row?.secret_hash ?? (await decoyHash()));
    return ok && row !== undefined ? row : null;
  }
}
