// The provisioning path. A resource is bound to its domain when it is reserved: the key (live, scoped
// to the kind), the domain (active) and the pool's quota are checked in the one transaction that
// inserts the resource, with the domain row locked, so a revocation or suspension that commits first
// is always seen. Backend work happens after that commit under a lease; the reconciler finishes or
// undoes anything a crash left half done.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { appendAudit } from '../audit/log.js';
import type { AuditAction, AuditEventInput } from '../audit/events.js';
import type { Keyring } from '../crypto/keyring.js';
import type { KeyPrincipal, PendingKeyUse } from '../keys/service.js';
import { newId } from '../domain/ids.js';
import type { ResourceKind } from '../domain/kinds.js';
import { BulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { allows, everyKind, scopeDenied, type KindCheck } from '../policy/scopes.js';
import { backendFailure } from '../providers/failure.js';
import {
  backendName,
  describeBackend,
  sameBackend,
  type BackendIdentity,
  type Credentials,
  type OwnedObject,
  type ProbeReport,
  type Provider,
  type ResourceRef,
} from '../providers/provider.js';
import { howToReach, settingOfKind } from '../providers/settings.js';
import type { ResourceRow, ResourceStatus } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { isUniqueViolation } from '../store/errors.js';
import type { Failpoint } from './failpoints.js';
import { effectiveQuotas, type QuotaDefaults, type Quotas } from './quotas.js';

export type Providers = ReadonlyMap<ResourceKind, Provider>;

export interface ResourceView {
  readonly id: string;
  readonly domainId: string;
  readonly kind: ResourceKind;
  readonly name: string;
  readonly status: ResourceStatus;
  readonly error: string | null;
  readonly usedBytes: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly readyAt: string | null;
  readonly deletedAt: string | null;
}

export function resourceView(row: ResourceRow): ResourceView {
  return {
    id: row.id,
    domainId: row.domain_id,
    kind: row.kind as ResourceKind,
    name: row.name,
    status: row.status,
    error: row.error,
    usedBytes: Number(row.used_bytes),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    readyAt: row.ready_at?.toISOString() ?? null,
    deletedAt: row.deleted_at?.toISOString() ?? null,
  };
}

export type { KeyPrincipal };

export interface ProvisionerOptions {
  readonly store: Store;
  readonly keyring: Keyring;
  readonly providers: Providers;
  readonly quotas: QuotaDefaults;
  /** How long one process may hold a resource while it talks to the backend. */
  readonly leaseMs: number;
  /**
   * Test hook: kill this process (SIGKILL, no clean-up) at a step of the provisioning path, to prove a
   * restart finishes or undoes the work. Never set in production.
   */
  readonly failpoint?: Failpoint | undefined;
  /** Called with failures the reconciler could not fix this round (for logs). */
  readonly onError?: (error: unknown, resourceId: string) => void;
}

export interface ReconcileReport {
  readonly finished: number;
  readonly undone: number;
  readonly deleted: number;
  readonly failed: number;
  readonly orphansRemoved: number;
  readonly keysDestroyed: number;
}

const maxAttempts = 5;
const credentialsPurpose = (resourceId: string) => `credentials:${resourceId}`;

/** A resource of the domain, its row locked for the rest of the transaction; `not_found` otherwise. */
async function lockResource(tx: Tx, domainId: string, resourceId: string): Promise<ResourceRow> {
  const row = await tx
    .selectFrom('resources')
    .selectAll()
    .where('id', '=', resourceId)
    .where('domain_id', '=', domainId)
    .forUpdate()
    .executeTakeFirst();
  if (row === undefined) throw notFound();
  return row;
}

/** The audit event of a reserved resource. */
function created(
  actor: Actor,
  domainId: string,
  resourceId: string,
  input: { kind: ResourceKind; name: string },
  backendName: string,
  keyId: string,
): AuditEventInput {
  return {
    ...actor,
    domainId,
    action: 'resource.create',
    target: resourceId,
    outcome: 'success',
    detail: { kind: input.kind, name: input.name, backendName, keyId },
  };
}

/** The audit event of a resource that moved from `from` to `to`. */
function transition(
  actor: Actor,
  resource: { domainId: string; resourceId: string; kind: string; error: string | null },
  action: AuditAction,
  from: ResourceStatus,
  to: ResourceStatus,
): AuditEventInput {
  return {
    ...actor,
    domainId: resource.domainId,
    action,
    target: resource.resourceId,
    outcome: action === 'resource.failed' ? 'failure' : 'success',
    detail: { kind: resource.kind, from, to, ...(resource.error === null ? {} : { error: resource.error }) },
  };
}

/**
 * Why this server will not `verb` a resource: it lives on `recorded` (null: not recorded, a row from
 * before 0016), and this server's backend for its kind is `configured` (null: none). Names both, and the
 * variable that points a server at the resource's backend.
 */
function notConfigured(
  row: ResourceRow,
  verb: string,
  recorded: BackendIdentity | null,
  configured: BackendIdentity | null,
): BulkheadError {
  const kind = row.kind as ResourceKind;
  const here =
    configured === null
      ? `this server has no ${kind} backend`
      : `this server's ${kind} backend is ${describeBackend(configured)}`;
  const fix =
    recorded === null
      ? `with ${settingOfKind(kind)} set to the backend it was created on`
      : howToReach(recorded);
  const where = recorded === null ? `is a ${kind} resource` : `lives on ${describeBackend(recorded)}`;
  return new BulkheadError(
    'backend_not_configured',
    `${row.id} ${where} and ${here}, so nothing was changed: start a server ${fix} to ${verb} it.`,
    { hint: `start a server ${fix}, then ${verb} it there` },
  );
}

/** The audit event of an operation refused because the resource's backend is not this server's. */
function refused(actor: Actor, row: ResourceRow, action: AuditAction, why: BulkheadError): AuditEventInput {
  return {
    ...actor,
    domainId: row.domain_id,
    action,
    target: row.id,
    outcome: 'refused',
    detail: {
      kind: row.kind,
      reason: why.code,
      backend: row.backend === null ? null : `${row.backend} ${row.backend_location ?? ''}`.trim(),
    },
  };
}

/** The update that makes a resource still `provisioning` ready, with its sealed credentials. */
function markedReady(tx: Tx, resourceId: string, sealedCredentials: string) {
  const now = new Date();
  return tx
    .updateTable('resources')
    .set({
      status: 'ready',
      credentials: sealedCredentials,
      error: null,
      lease_until: null,
      ready_at: now,
      updated_at: now,
    })
    .where('id', '=', resourceId)
    .where('status', '=', 'provisioning')
    .returningAll();
}

export class Provisioner {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  /** Identifies this process's leases in logs; leases themselves are time-based. */
  readonly instance = randomUUID();
  /** Where reconciler failures go; the server points it at its logger. */
  onError: (error: unknown, resourceId: string) => void;

  constructor(private readonly o: ProvisionerOptions) {
    this.onError = o.onError ?? (() => {});
  }

  private crashAt(point: Failpoint): void {
    if (this.o.failpoint === point) process.kill(process.pid, 'SIGKILL');
  }

  get kinds(): ResourceKind[] {
    return [...this.o.providers.keys()];
  }

  private provider(kind: string): Provider {
    const provider = this.o.providers.get(kind as ResourceKind);
    if (provider === undefined) {
      const setting = settingOfKind(kind as ResourceKind);
      throw new BulkheadError(
        'unsupported_kind',
        `No provider for "${kind}" is configured: this server was started without ${setting}.`,
        { hint: `start the server with ${setting} set to offer ${kind} resources` },
      );
    }
    return provider;
  }

  /**
   * The provider of the backend a resource lives on, or why this server cannot reach it: the resource
   * recorded another backend than the one configured for its kind, or its kind has none here. A row from
   * before backends were recorded is taken to live on the configured one.
   */
  private placed(row: ResourceRow, verb: string): { provider: Provider } | { refusal: BulkheadError } {
    const provider = this.o.providers.get(row.kind as ResourceKind);
    const recorded: BackendIdentity | null =
      row.backend === null || row.backend_location === null
        ? null
        : { type: row.backend, location: row.backend_location };
    if (provider !== undefined && (recorded === null || sameBackend(provider.backend, recorded))) {
      return { provider };
    }
    return { refusal: notConfigured(row, verb, recorded, provider?.backend ?? null) };
  }

  /** The provider a resource lives on; throws `backend_not_configured` when this server has another. */
  private providerOf(row: ResourceRow, verb: string): Provider {
    const placed = this.placed(row, verb);
    if ('refusal' in placed) throw placed.refusal;
    return placed.provider;
  }

  async quotas(domainId: string): Promise<Quotas> {
    return this.o.store.withDomain(domainId, (tx) => this.quotasIn(tx, domainId));
  }

  /** The domain's pool settings as the operator set them (quotas and limits), without defaults. */
  async poolOverrides(domainId: string): Promise<Readonly<Record<string, number>>> {
    return this.o.store.withDomain(domainId, (tx) => this.overridesIn(tx, domainId));
  }

  private async quotasIn(db: Tx, domainId: string): Promise<Quotas> {
    return effectiveQuotas(this.o.quotas, await this.overridesIn(db, domainId));
  }

  private async overridesIn(db: Tx, domainId: string): Promise<Readonly<Record<string, number>>> {
    const pool = await db
      .selectFrom('pools')
      .select('quotas')
      .where('domain_id', '=', domainId)
      .executeTakeFirst();
    return pool?.quotas ?? {};
  }

  /**
   * Reserves and allocates a resource for the key's domain. Returns the resource and whether this was
   * a replay of an earlier request with the same idempotency key.
   */
  async create(
    principal: KeyPrincipal,
    requestId: string | null,
    domainId: string,
    input: { kind: ResourceKind; name: string; blueprintId?: string },
    idempotencyKey?: string,
    use?: PendingKeyUse,
  ): Promise<{ resource: ResourceView; replay: boolean }> {
    const provider = this.provider(input.kind);
    const actor: Actor = { actor: principal.actor, requestId };
    const quick = await this.reserveInOneMessage(principal, actor, domainId, input, idempotencyKey, use);
    // The longer way records the key's use first, on its own: a key revoked meanwhile is refused there.
    if (quick === null) await use?.record();
    const reserved = quick ?? (await this.reserve(principal, actor, domainId, input, idempotencyKey));
    if (reserved.replay) return { resource: resourceView(reserved.row), replay: true };
    this.crashAt('after-reserve');
    const row = await this.allocate(provider, reserved.row, actor, quick?.wrappedKey ?? null);
    return { resource: resourceView(row), replay: false };
  }

  /**
   * The reservation of the common case, in one round trip and one commit: the domain row is locked, then
   * a single statement inserts the backend name and the resource only if the key is live and scoped for
   * the kind, the domain active and the pool has room, and the audit event follows when it did. Every
   * check reads after the lock is held, so a revocation or suspension that committed first is seen, as in
   * `reserve`. Null when it inserted nothing or hit a unique index (a taken name, a repeated idempotency
   * key): `reserve` then runs, finds out why, and answers and audits it. Also reads the domain's wrapped
   * data key, for sealing the credentials without another round trip.
   */
  private async reserveInOneMessage(
    principal: KeyPrincipal,
    actor: Actor,
    domainId: string,
    input: { kind: ResourceKind; name: string; blueprintId?: string },
    idempotencyKey: string | undefined,
    use: PendingKeyUse | undefined,
  ): Promise<{ row: ResourceRow; replay: false; wrappedKey: string | null } | null> {
    const now = new Date();
    const id = newId('resource');
    const name = backendName({ domainId, resourceId: id });
    const backend = this.provider(input.kind).backend;
    const inserted = sql`EXISTS (SELECT 1 FROM resources WHERE id = ${id})`;
    let results;
    try {
      results = await this.o.store.change(domainId, async (db) => {
        const lock = db.selectFrom('domains').select('id').where('id', '=', domainId).forUpdate();
        const insert = db
          .with('allowed', (qc) =>
            qc
              .selectFrom('provisioning_keys as k')
              .innerJoin('domains as d', 'd.id', 'k.domain_id')
              .select('k.id as key_id')
              .where('k.id', '=', principal.keyId)
              .where('k.domain_id', '=', domainId)
              .where('d.status', '=', 'active')
              .where('k.revoked_at', 'is', null)
              .where((eb) => eb.or([eb('k.expires_at', 'is', null), eb('k.expires_at', '>', now)]))
              .where(
                sql<boolean>`(k.scopes @> jsonb_build_array(${input.kind}::text)
                  OR k.scopes @> jsonb_build_array(${`${input.kind}:create`}::text))`,
              )
              .where(
                sql<boolean>`(SELECT count(*) FROM resources r
                  WHERE r.domain_id = ${domainId} AND r.kind = ${input.kind} AND r.status <> 'deleted'
                    AND NOT r.refused)
                  < COALESCE((SELECT (p.quotas ->> ${input.kind})::numeric FROM pools p
                    WHERE p.domain_id = ${domainId}), ${this.o.quotas.resourcesPerKind})`,
              ),
          )
          .with('reserved', (qc) =>
            qc
              .insertInto('backend_names')
              .columns(['name', 'kind', 'domain_id', 'resource_id', 'reserved_at'])
              .expression((eb) =>
                eb
                  .selectFrom('allowed')
                  .select([
                    eb.val(name).as('name'),
                    eb.val(input.kind).as('kind'),
                    eb.val(domainId).as('domain_id'),
                    eb.val(id).as('resource_id'),
                    eb.val(now).as('reserved_at'),
                  ]),
              ),
          )
          .insertInto('resources')
          .columns([
            'id',
            'domain_id',
            'kind',
            'name',
            'status',
            'backend_name',
            'idempotency_key',
            'key_id',
            'blueprint_id',
            'lease_until',
            'created_at',
            'updated_at',
            'backend',
            'backend_location',
          ])
          .expression((eb) =>
            eb
              .selectFrom('allowed')
              .select([
                eb.val(id).as('id'),
                eb.val(domainId).as('domain_id'),
                eb.val(input.kind).as('kind'),
                eb.val(input.name).as('name'),
                eb.val('provisioning').as('status'),
                eb.val(name).as('backend_name'),
                eb.val(idempotencyKey ?? null).as('idempotency_key'),
                'allowed.key_id',
                eb.val(input.blueprintId ?? null).as('blueprint_id'),
                eb.val(new Date(now.getTime() + this.o.leaseMs)).as('lease_until'),
                eb.val(now).as('created_at'),
                eb.val(now).as('updated_at'),
                eb.val(backend.type).as('backend'),
                eb.val(backend.location).as('backend_location'),
              ]),
          )
          .returningAll();
        // The key's use, when the request left it to this change, counts with the reservation only.
        await use?.deferTo(db, inserted);
        await appendAudit(db, created(actor, domainId, id, input, name, principal.keyId), { when: inserted });
        const dataKey = db.selectFrom('domain_keys').select('wrapped_key').where('domain_id', '=', domainId);
        return [lock, insert, dataKey] as const;
      });
    } catch (error) {
      // A taken name or a repeated idempotency key: nothing of the message counted.
      if (isUniqueViolation(error)) return null;
      throw error;
    }
    const [, [row], [key]] = results;
    if (row === undefined) return null;
    use?.recorded();
    return { row, replay: false, wrappedKey: key?.wrapped_key ?? null };
  }

  private async reserve(
    principal: KeyPrincipal,
    actor: Actor,
    domainId: string,
    input: { kind: ResourceKind; name: string; blueprintId?: string },
    idempotencyKey: string | undefined,
  ): Promise<{ row: ResourceRow; replay: boolean }> {
    const backend = this.provider(input.kind).backend;
    try {
      return await this.o.store
        .withDomain(domainId, async (tx) => {
          const domain = await tx
            .selectFrom('domains')
            .selectAll()
            .where('id', '=', domainId)
            .forUpdate()
            .executeTakeFirst();
          // Read after the lock is held, in one statement: the key (revocation and suspension take the
          // same lock, so this sees any that committed first), the pool's quotas and the live count.
          const key = await tx
            .selectFrom('provisioning_keys')
            .select(['id', 'revoked_at', 'expires_at', 'scopes'])
            .select((eb) => [
              eb.selectFrom('pools').select('quotas').where('domain_id', '=', domainId).as('pool_quotas'),
              eb
                .selectFrom('resources')
                .select((c) => c.fn.countAll<number>().as('n'))
                .where('domain_id', '=', domainId)
                .where('kind', '=', input.kind)
                .where('status', '<>', 'deleted')
                .where('refused', '=', false)
                .as('live'),
            ])
            .where('id', '=', principal.keyId)
            .where('domain_id', '=', domainId)
            .executeTakeFirst();
          const now = new Date();
          // A refusal is recorded in the same transaction, so the audit trail shows every attempt.
          const deny = (reason: string, extra: Record<string, unknown> = {}) =>
            appendAudit(tx, {
              ...actor,
              domainId,
              action: 'resource.create',
              target: null,
              outcome: 'denied',
              detail: { kind: input.kind, reason, ...extra },
            });
          if (
            domain === undefined ||
            domain.status !== 'active' ||
            key === undefined ||
            key.revoked_at !== null ||
            (key.expires_at !== null && key.expires_at <= now)
          ) {
            await deny('credential_no_longer_valid');
            return { ok: false as const, denied: 'invalid_credentials' as const };
          }
          if (!allows(key.scopes, input.kind, 'create')) {
            await deny('scope');
            return { ok: false as const, denied: 'scope_denied' as const };
          }
          if (idempotencyKey !== undefined) {
            const existing = await tx
              .selectFrom('resources')
              .selectAll()
              .where('domain_id', '=', domainId)
              .where('idempotency_key', '=', idempotencyKey)
              .executeTakeFirst();
            if (existing !== undefined) {
              if (existing.kind !== input.kind || existing.name !== input.name)
                return { ok: false as const, denied: 'idempotency_conflict' as const };
              return { ok: true as const, row: existing, replay: true };
            }
          }
          const quotas = effectiveQuotas(this.o.quotas, key.pool_quotas ?? {});
          if (Number(key.live ?? 0) >= quotas[input.kind]) {
            await deny('quota', { quota: quotas[input.kind] });
            return { ok: false as const, denied: 'quota_exceeded' as const, quota: quotas[input.kind] };
          }
          const id = newId('resource');
          const ref: ResourceRef = { domainId, resourceId: id };
          const name = backendName(ref);
          // The backend name is reserved for good in the same statement that inserts the resource.
          const row = await tx
            .with('reserved', (db) =>
              db
                .insertInto('backend_names')
                .values({ name, kind: input.kind, domain_id: domainId, resource_id: id, reserved_at: now }),
            )
            .insertInto('resources')
            .values({
              id,
              domain_id: domainId,
              kind: input.kind,
              name: input.name,
              status: 'provisioning',
              backend_name: name,
              idempotency_key: idempotencyKey ?? null,
              key_id: key.id,
              blueprint_id: input.blueprintId ?? null,
              lease_until: new Date(now.getTime() + this.o.leaseMs),
              created_at: now,
              updated_at: now,
              backend: backend.type,
              backend_location: backend.location,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await appendAudit(tx, created(actor, domainId, id, input, name, key.id));
          return { ok: true as const, row, replay: false };
        })
        .then((result) => {
          if (result.ok) return { row: result.row, replay: result.replay };
          switch (result.denied) {
            case 'invalid_credentials':
              throw new BulkheadError('invalid_credentials');
            case 'scope_denied':
              throw scopeDenied(input.kind, 'create');
            case 'idempotency_conflict':
              throw new BulkheadError('idempotency_conflict');
            case 'quota_exceeded':
              throw new BulkheadError(
                'quota_exceeded',
                `The domain may have at most ${result.quota ?? 0} ${input.kind} resources.`,
              );
          }
          throw new Error('unreachable');
        });
    } catch (error) {
      if (isUniqueViolation(error, 'resources_live_name')) {
        throw new BulkheadError(
          'name_taken',
          `A ${input.kind} resource named "${input.name}" already exists.`,
        );
      }
      if (isUniqueViolation(error, 'resources_idempotency') && idempotencyKey !== undefined) {
        // A concurrent request with the same key won the race: answer with its result.
        const existing = await this.o.store.withDomain(domainId, (tx) =>
          tx
            .selectFrom('resources')
            .selectAll()
            .where('domain_id', '=', domainId)
            .where('idempotency_key', '=', idempotencyKey)
            .executeTakeFirstOrThrow(),
        );
        if (existing.kind !== input.kind || existing.name !== input.name)
          throw new BulkheadError('idempotency_conflict');
        return { row: existing, replay: true };
      }
      throw error;
    }
  }

  /** Talks to the backend for a reserved resource and records the outcome. */
  private async allocate(
    provider: Provider,
    row: ResourceRow,
    actor: Actor,
    wrappedKey: string | null = null,
  ): Promise<ResourceRow> {
    const ref: ResourceRef = { domainId: row.domain_id, resourceId: row.id };
    let credentials: Credentials;
    try {
      credentials = await provider.create(ref);
    } catch (error) {
      return this.fail(provider, row, actor, error);
    }
    this.crashAt('after-allocate');
    const ready =
      wrappedKey === null
        ? await this.markReady(row, actor, credentials)
        : await this.markReadyInOneMessage(row, actor, credentials, wrappedKey);
    if (ready !== undefined) return ready;
    // The row moved on while the backend worked. Another process may have finished it (its lease ran
    // out and the reconciler took it over): the backend object is then theirs, and stays.
    const [[now]] = await this.o.store.read(row.domain_id, (db) => [
      db.selectFrom('resources').selectAll().where('id', '=', row.id),
    ]);
    if (now?.status === 'ready') return now;
    // Otherwise it was marked for deletion (its domain was deleted): undo.
    await provider.delete(ref);
    return this.finishDeletion(row.domain_id, row.id, actor);
  }

  /**
   * Records a resource ready with its credentials, sealed under the domain's data key as the reservation
   * read it, and its audit event, in one round trip; undefined when the row moved on (`markReady`).
   */
  private async markReadyInOneMessage(
    row: ResourceRow,
    actor: Actor,
    credentials: Credentials,
    wrappedKey: string,
  ): Promise<ResourceRow | undefined> {
    const sealed = this.o.keyring.encryptWithWrapped(
      wrappedKey,
      row.domain_id,
      credentialsPurpose(row.id),
      credentials,
    );
    const [[ready]] = await this.o.store.change(row.domain_id, async (db) => {
      const update = markedReady(db, row.id, sealed);
      // Appended only if the update above changed the row: its version is then this transaction's.
      await appendAudit(
        db,
        transition(
          actor,
          { domainId: row.domain_id, resourceId: row.id, kind: row.kind, error: null },
          'resource.ready',
          'provisioning',
          'ready',
        ),
        {
          when: sql`EXISTS (SELECT 1 FROM resources
            WHERE id = ${row.id} AND xmin = pg_current_xact_id()::xid)`,
        },
      );
      return [update] as const;
    });
    return ready;
  }

  /** Records a resource ready with its credentials, and its audit event; undefined when the row moved on. */
  private async markReady(
    row: ResourceRow,
    actor: Actor,
    credentials: Credentials,
  ): Promise<ResourceRow | undefined> {
    return this.settle(row.domain_id, row.id, 'provisioning', actor, 'resource.ready', async (tx) =>
      markedReady(
        tx,
        row.id,
        await this.o.keyring.encryptIn(tx, row.domain_id, credentialsPurpose(row.id), credentials),
      ).executeTakeFirst(),
    );
  }

  /**
   * Records a failed allocation and answers it with the backend's reason. What the backend made is undone
   * first (the reconciler tries again when that fails too). A refusal before anything was made (an unsafe
   * server, no connection at all) has nothing to undo: the resource is `failed` and `refused`, and gives
   * up its name and its place in the quota, so the same create can be made again once the cause is fixed.
   */
  private async fail(provider: Provider, row: ResourceRow, actor: Actor, error: unknown): Promise<never> {
    const ref: ResourceRef = { domainId: row.domain_id, resourceId: row.id };
    const failure = backendFailure(error, provider.backend);
    let undone = true;
    if (!failure.nothingMade) {
      try {
        await provider.delete(ref);
      } catch {
        undone = false; // the reconciler tries again
      }
    }
    await this.settle(row.domain_id, row.id, 'provisioning', actor, 'resource.failed', (tx) =>
      tx
        .updateTable('resources')
        .set({
          status: undone ? 'failed' : 'provisioning',
          refused: failure.nothingMade,
          error: `${failure.reason}: ${failure.message}`.slice(0, 500),
          lease_until: null,
          updated_at: new Date(),
        })
        .where('id', '=', row.id)
        .where('status', '=', 'provisioning')
        .returningAll()
        .executeTakeFirst(),
    );
    throw new BulkheadError(
      'provisioning_failed',
      `The backend did not allocate resource ${row.id} (${failure.reason}): ${failure.message}.` +
        (failure.nothingMade ? ' Nothing was made; the same create may be made again.' : ''),
      { cause: error, reason: failure.reason, hint: failure.hint },
    );
  }

  /** Runs a state change and its audit event in one transaction; undefined when the row moved on. */
  private async settle(
    domainId: string,
    resourceId: string,
    from: ResourceStatus,
    actor: Actor,
    action: AuditAction,
    change: (tx: Tx) => Promise<ResourceRow | undefined>,
  ): Promise<ResourceRow | undefined> {
    return this.o.store.withDomain(domainId, async (tx) => {
      const row = await change(tx);
      if (row === undefined) return undefined;
      await appendAudit(
        tx,
        transition(
          actor,
          { domainId: row.domain_id, resourceId, kind: row.kind, error: row.error },
          action,
          from,
          row.status,
        ),
      );
      return row;
    });
  }

  private async finishDeletion(domainId: string, resourceId: string, actor: Actor): Promise<ResourceRow> {
    const row = await this.settle(domainId, resourceId, 'deprovisioning', actor, 'resource.deleted', (tx) =>
      tx
        .updateTable('resources')
        .set({
          status: 'deleted',
          credentials: null,
          lease_until: null,
          deleted_at: new Date(),
          updated_at: new Date(),
        })
        .where('id', '=', resourceId)
        .where('status', 'in', ['deprovisioning', 'provisioning', 'pending'])
        .returningAll()
        .executeTakeFirst(),
    );
    return (
      row ??
      (await this.o.store.withDomain(domainId, (tx) =>
        tx.selectFrom('resources').selectAll().where('id', '=', resourceId).executeTakeFirstOrThrow(),
      ))
    );
  }

  /** The domain's resources; with `kinds`, only those of these kinds (what a key may read). */
  async list(
    domainId: string,
    options: { includeDeleted?: boolean | undefined; kinds?: readonly ResourceKind[] } = {},
  ): Promise<ResourceView[]> {
    const kinds = options.kinds;
    if (kinds !== undefined && kinds.length === 0) return [];
    return this.o.store.withDomain(domainId, async (tx) => {
      let q = tx.selectFrom('resources').selectAll().where('domain_id', '=', domainId);
      if (options.includeDeleted !== true) q = q.where('status', '<>', 'deleted');
      if (kinds !== undefined) q = q.where('kind', 'in', kinds);
      return (await q.orderBy('id').execute()).map(resourceView);
    });
  }

  private async row(domainId: string, resourceId: string): Promise<ResourceRow> {
    const row = await this.o.store.withDomain(domainId, (tx) =>
      tx
        .selectFrom('resources')
        .selectAll()
        .where('id', '=', resourceId)
        .where('domain_id', '=', domainId)
        .executeTakeFirst(),
    );
    if (row === undefined) throw notFound();
    return row;
  }

  /** A resource of the domain; `check` sees its kind before it is returned. */
  async get(domainId: string, resourceId: string, check: KindCheck = everyKind): Promise<ResourceView> {
    const row = await this.row(domainId, resourceId);
    check(row.kind);
    return resourceView(row);
  }

  /** A ready resource of the domain, for object access. */
  async readyRef(
    domainId: string,
    resourceId: string,
    kind?: ResourceKind,
    check: KindCheck = everyKind,
  ): Promise<{ ref: ResourceRef; provider: Provider }> {
    const row = await this.row(domainId, resourceId);
    if (kind !== undefined && row.kind !== kind) throw notFound();
    check(row.kind);
    if (row.status !== 'ready')
      throw new BulkheadError('resource_not_ready', `The resource is ${row.status}.`);
    return { ref: { domainId, resourceId }, provider: this.providerOf(row, 'reach') };
  }

  /**
   * The resource's credentials, decrypted; only a principal of its own domain reaches this. `check` sees
   * the stored kind before anything is decrypted or audited as read.
   */
  async credentials(
    actor: Actor,
    domainId: string,
    resourceId: string,
    check: KindCheck = everyKind,
  ): Promise<Credentials> {
    const row = await this.row(domainId, resourceId);
    check(row.kind);
    if (row.status !== 'ready' || row.credentials === null) {
      throw new BulkheadError('resource_not_ready', `The resource is ${row.status}.`);
    }
    // Credentials this server could neither rotate nor vouch for are not handed out by it.
    const placed = this.placed(row, 'read the credentials of');
    if ('refusal' in placed) {
      await this.o.store.withDomain(domainId, (tx) =>
        appendAudit(tx, refused(actor, row, 'resource.credentials', placed.refusal)),
      );
      throw placed.refusal;
    }
    const credentials = await this.o.keyring.decrypt<Credentials>(
      domainId,
      credentialsPurpose(resourceId),
      row.credentials,
    );
    await this.o.store.withDomain(domainId, (tx) =>
      appendAudit(tx, {
        ...actor,
        domainId,
        action: 'resource.credentials',
        target: resourceId,
        outcome: 'success',
        detail: {},
      }),
    );
    return credentials;
  }

  /**
   * Issues new credentials for a ready resource and returns them once: the backend's old ones stop
   * working for new logins (a new password, a new token; Redis and RabbitMQ also end live connections),
   * and the new ones are stored encrypted. The resource row stays locked while the backend works, so two
   * rotations (or a rotation and a delete) never leave the store holding credentials the backend has
   * already replaced. A backend failure changes nothing in the store and is audited. `check` sees the
   * locked row's kind before the backend is asked.
   */
  async rotateCredentials(
    actor: Actor,
    domainId: string,
    resourceId: string,
    check: KindCheck = everyKind,
  ): Promise<Credentials> {
    let kind: string | null = null;
    let backend: BackendIdentity | null = null;
    let refusal: BulkheadError | null = null;
    try {
      const rotated = await this.o.store.withDomain(domainId, async (tx) => {
        const row = await lockResource(tx, domainId, resourceId);
        check(row.kind);
        if (row.status !== 'ready') {
          throw new BulkheadError('resource_not_ready', `The resource is ${row.status}.`);
        }
        const placed = this.placed(row, 'rotate the credentials of');
        if ('refusal' in placed) {
          // Recorded, and nothing else changes: the error is thrown once this has committed.
          refusal = placed.refusal;
          await appendAudit(tx, refused(actor, row, 'resource.credentials_rotated', placed.refusal));
          return null;
        }
        kind = row.kind;
        backend = placed.provider.backend;
        const credentials = await placed.provider.credentials({ domainId, resourceId });
        await tx
          .updateTable('resources')
          .set({
            credentials: await this.o.keyring.encryptIn(
              tx,
              domainId,
              credentialsPurpose(resourceId),
              credentials,
            ),
            updated_at: new Date(),
          })
          .where('id', '=', resourceId)
          .execute();
        await appendAudit(tx, {
          ...actor,
          domainId,
          action: 'resource.credentials_rotated',
          target: resourceId,
          outcome: 'success',
          detail: { kind: row.kind },
        });
        return credentials;
      });
      if (rotated === null) throw refusal ?? new Error('unreachable');
      return rotated;
    } catch (error) {
      if (error instanceof BulkheadError || kind === null || backend === null) throw error;
      const failedKind: string = kind;
      const failure = backendFailure(error, backend);
      await this.o.store.withDomain(domainId, (tx) =>
        appendAudit(tx, {
          ...actor,
          domainId,
          action: 'resource.credentials_rotated',
          target: resourceId,
          outcome: 'failure',
          detail: {
            kind: failedKind,
            reason: failure.reason,
            error: (error instanceof Error ? error.message : String(error)).slice(0, 500),
          },
        }),
      );
      throw new BulkheadError(
        'provisioning_failed',
        `The backend could not issue new credentials for ${resourceId} (${failure.reason}): ${failure.message}.`,
        { cause: error, reason: failure.reason, hint: failure.hint },
      );
    }
  }

  /**
   * Runs the backend's own isolation probe: with A's credentials, try B's resource. Both must be ready
   * resources of the same kind in two different domains. The credentials are read (and their reading
   * audited in each domain) here and go no further than the provider; only the attempts come back.
   */
  async probeIsolation(
    actor: Actor,
    a: ResourceRef,
    b: ResourceRef,
  ): Promise<{ kind: ResourceKind; report: ProbeReport }> {
    if (a.domainId === b.domainId)
      throw new BulkheadError('invalid_request', 'A and B must be resources of two different domains.');
    const [rowA, rowB] = await Promise.all([
      this.row(a.domainId, a.resourceId),
      this.row(b.domainId, b.resourceId),
    ]);
    if (rowA.kind !== rowB.kind)
      throw new BulkheadError(
        'invalid_request',
        `A is ${rowA.kind} and B is ${rowB.kind}: give two of one kind.`,
      );
    const provider = this.providerOf(rowA, 'probe');
    this.providerOf(rowB, 'probe');
    const [credentialsA, credentialsB] = await Promise.all([
      this.credentials(actor, a.domainId, a.resourceId),
      this.credentials(actor, b.domainId, b.resourceId),
    ]);
    try {
      const report = await provider.probeIsolation(
        { ref: a, credentials: credentialsA },
        { ref: b, credentials: credentialsB },
      );
      return { kind: provider.kind, report };
    } catch (error) {
      // A provider's own setup refusal says why in its words; a driver's message stays in the log.
      const setup = (error as { code?: unknown }).code === 'probe_setup';
      throw new BulkheadError(
        'probe_failed',
        `The ${provider.kind} probe could not run${setup ? `: ${(error as Error).message}` : '.'}`,
        { cause: error },
      );
    }
  }

  /**
   * Deprovisions a resource: marked first (so a crash resumes it), then removed from the backend. `check`
   * sees the locked row's kind before anything changes.
   */
  async delete(
    actor: Actor,
    domainId: string,
    resourceId: string,
    check: KindCheck = everyKind,
  ): Promise<ResourceView> {
    const marked = await this.o.store.withDomain(domainId, async (tx) => {
      await tx.selectFrom('domains').select('id').where('id', '=', domainId).forUpdate().executeTakeFirst();
      const row = await lockResource(tx, domainId, resourceId);
      check(row.kind);
      if (row.status === 'deleted') return { row, changed: false };
      // A resource on a backend this server does not reach stays exactly as it is: marking it would let
      // nothing remove it here, and removing nothing must never be reported as deleting it. A create its
      // backend refused made nothing there, so it goes without asking any backend.
      const placed = this.placed(row, 'delete');
      if ('refusal' in placed && !row.refused) {
        await appendAudit(tx, refused(actor, row, 'resource.delete', placed.refusal));
        return { row, changed: false, refusal: placed.refusal };
      }
      const updated = await tx
        .updateTable('resources')
        .set({
          status: 'deprovisioning',
          lease_until: new Date(Date.now() + this.o.leaseMs),
          updated_at: new Date(),
        })
        .where('id', '=', resourceId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: 'resource.delete',
        target: resourceId,
        outcome: 'success',
        detail: { kind: row.kind, from: row.status },
      });
      return { row: updated, changed: true };
    });
    if ('refusal' in marked) throw marked.refusal;
    if (!marked.changed) return resourceView(marked.row);
    this.crashAt('after-mark-delete');
    if (marked.row.refused) return resourceView(await this.finishDeletion(domainId, resourceId, actor));
    const provider = this.providerOf(marked.row, 'delete');
    try {
      await provider.delete({ domainId, resourceId });
    } catch (error) {
      // Marked, so the reconciler finishes it once the backend answers; meanwhile it is not deleted.
      const failure = backendFailure(error, provider.backend);
      throw new BulkheadError(
        'provisioning_failed',
        `The backend could not remove ${resourceId} yet (${failure.reason}): ${failure.message}. It stays ` +
          'deprovisioning and is removed once the backend answers.',
        { cause: error, reason: failure.reason, hint: failure.hint },
      );
    }
    return resourceView(await this.finishDeletion(domainId, resourceId, actor));
  }

  /**
   * Finishes or undoes every resource a crash left half done, removes backend objects whose resource is
   * gone, and destroys the data keys of deleted domains once nothing of theirs is left.
   */
  reconcile(): Promise<ReconcileReport> {
    // One pass at a time per process; a second caller waits for the running pass.
    if (this.running === null) {
      this.running = this.reconcileOnce().finally(() => {
        this.running = null;
      });
    }
    return this.running as Promise<ReconcileReport>;
  }

  private async reconcileOnce(): Promise<ReconcileReport> {
    const report = { finished: 0, undone: 0, deleted: 0, failed: 0, orphansRemoved: 0, keysDestroyed: 0 };
    const actor: Actor = { actor: 'system:reconciler', requestId: null };
    const candidates = await this.o.store.system('reconciler', (tx) =>
      tx
        .selectFrom('resources')
        .select('id')
        .where('status', 'in', ['pending', 'provisioning', 'deprovisioning'])
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', new Date())]))
        // Only what lives on this server's backends (or was never recorded): a resource created on
        // another backend waits, untouched, for a server configured for it.
        .where((eb) =>
          eb.or([
            eb('backend', 'is', null),
            eb('refused', '=', true),
            ...[...this.o.providers].map(([kind, provider]) =>
              eb.and([
                eb('kind', '=', kind),
                eb('backend', '=', provider.backend.type),
                eb('backend_location', '=', provider.backend.location),
              ]),
            ),
          ]),
        )
        .orderBy('id')
        .limit(500)
        .execute(),
    );
    for (const { id } of candidates) {
      const row = await this.claim(id);
      if (row === undefined) continue;
      const ref: ResourceRef = { domainId: row.domain_id, resourceId: row.id };
      const placed = this.placed(row, 'finish');
      try {
        // A create its backend refused made nothing there: nothing to remove, and no backend to ask.
        if (row.status === 'deprovisioning' && row.refused) {
          await this.finishDeletion(row.domain_id, row.id, actor);
          report.deleted++;
          continue;
        }
        if ('refusal' in placed) throw placed.refusal;
        const provider = placed.provider;
        if (row.status === 'deprovisioning') {
          await provider.delete(ref);
          await this.finishDeletion(row.domain_id, row.id, actor);
          report.deleted++;
          continue;
        }
        const domain = await this.o.store.withDomain(row.domain_id, (tx) =>
          tx.selectFrom('domains').select('status').where('id', '=', row.domain_id).executeTakeFirstOrThrow(),
        );
        if (domain.status === 'active') {
          await this.allocate(provider, row, actor);
          report.finished++;
        } else {
          await provider.delete(ref);
          await this.settle(row.domain_id, row.id, row.status, actor, 'resource.failed', (tx) =>
            tx
              .updateTable('resources')
              .set({
                status: 'failed',
                error: `domain is ${domain.status}`,
                lease_until: null,
                updated_at: new Date(),
              })
              .where('id', '=', row.id)
              .where('status', 'in', ['pending', 'provisioning'])
              .returningAll()
              .executeTakeFirst(),
          );
          report.undone++;
        }
      } catch (error) {
        report.failed++;
        this.onError(error, row.id);
        await this.o.store.withDomain(row.domain_id, (tx) =>
          tx
            .updateTable('resources')
            .set({
              error: (error instanceof Error ? error.message : String(error)).slice(0, 500),
              lease_until: null,
              ...(row.attempts + 1 >= maxAttempts && row.status !== 'deprovisioning'
                ? { status: 'failed' as const }
                : {}),
            })
            .where('id', '=', row.id)
            .execute(),
        );
      }
    }
    report.orphansRemoved = await this.removeOrphans(actor);
    report.keysDestroyed = await this.destroyDeletedDomainKeys(actor);
    return report;
  }

  /** Takes the lease on a resource if nobody holds it; counts the attempt. */
  private async claim(resourceId: string): Promise<ResourceRow | undefined> {
    const now = new Date();
    return this.o.store.system('reconciler', (tx) =>
      tx
        .updateTable('resources')
        .set((eb) => ({
          lease_until: new Date(now.getTime() + this.o.leaseMs),
          attempts: eb('attempts', '+', 1),
        }))
        .where('id', '=', resourceId)
        .where('status', 'in', ['pending', 'provisioning', 'deprovisioning'])
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .returningAll()
        .executeTakeFirst(),
    );
  }

  /** Backend objects named for a resource of ours that is deleted or failed: remove them. */
  private async removeOrphans(actor: Actor): Promise<number> {
    let removed = 0;
    for (const [kind, provider] of this.o.providers) {
      let objects: OwnedObject[];
      try {
        objects = await provider.listOwned();
      } catch (error) {
        // A backend that does not answer holds up neither the others nor the rest of the pass.
        this.onError(error, '-');
        continue;
      }
      for (const owned of objects) {
        const row = await this.o.store.system('reconciler', (tx) =>
          tx
            .selectFrom('resources')
            .select(['status', 'domain_id'])
            .where('id', '=', owned.ref.resourceId)
            .where('kind', '=', kind)
            .executeTakeFirst(),
        );
        // Only names this store handed out are ours to remove; anything else is left alone.
        if (row === undefined || row.domain_id !== owned.ref.domainId) continue;
        if (row.status !== 'deleted' && row.status !== 'failed') continue;
        await provider.delete(owned.ref);
        await this.o.store.withDomain(owned.ref.domainId, (tx) =>
          appendAudit(tx, {
            ...actor,
            domainId: owned.ref.domainId,
            action: 'resource.orphan_removed',
            target: owned.ref.resourceId,
            outcome: 'success',
            detail: { kind, name: owned.name },
          }),
        );
        removed++;
      }
    }
    return removed;
  }

  private async destroyDeletedDomainKeys(actor: Actor): Promise<number> {
    const domains = await this.o.store.system('reconciler', (tx) =>
      tx
        .selectFrom('domains')
        .leftJoin('domain_keys', 'domain_keys.domain_id', 'domains.id')
        .select('domains.id')
        .where('domains.status', '=', 'deleted')
        .where((eb) =>
          eb.or([eb('domain_keys.wrapped_key', 'is not', null), eb('domain_keys.domain_id', 'is', null)]),
        )
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('resources')
                .select('resources.id')
                .whereRef('resources.domain_id', '=', 'domains.id')
                .where('resources.status', '<>', 'deleted'),
            ),
          ),
        )
        .execute(),
    );
    let destroyed = 0;
    for (const { id } of domains) {
      const done = await this.o.store.withDomain(id, async (tx) => {
        if (!(await this.o.keyring.destroy(tx, id))) return false;
        await appendAudit(tx, {
          ...actor,
          domainId: id,
          action: 'domain.key_destroyed',
          target: id,
          outcome: 'success',
          detail: {},
        });
        return true;
      });
      if (done) destroyed++;
    }
    return destroyed;
  }

  /** Reconciles now and then every `intervalMs` until stop(). */
  start(intervalMs: number): Promise<ReconcileReport> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.reconcile().catch((error: unknown) => this.onError(error, '-'));
    }, intervalMs);
    this.timer.unref();
    return this.reconcile();
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
