// The provisioning path's one door, for the routes, the CLI and blueprints. A resource is bound to its
// domain when it is reserved (`reservation.ts`); backend work happens after that commit under a lease
// (`lifecycle.ts`); the reconciler finishes or undoes anything a crash left half done (`reconciler.ts`).
// This class only assembles them and keeps the public API; it holds no logic of its own.
import { randomUUID } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.js';
import type { ResourceKind } from '../domain/kinds.js';
import type { KeyPrincipal } from '../keys/service.js';
import { BulkheadError, notFound as notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { everyKind, type KindCheck } from '../policy/scopes.js';
import type { Credentials, ProbeReport, Provider, ResourceRef } from '../providers/provider.js';
import { poolQuotas } from '../store/repositories/pools.js';
import type { Store } from '../store/store.js';
import type { ProvisionerContext } from './context.js';
import { probeIsolation, readCredentials, rotateCredentials } from './credentials.js';
import type { Failpoint } from '../domain/failpoints.js';
import { allocate, deleteResource } from './lifecycle.js';
import { Placement, type Providers } from './placement.js';
import { effectiveQuotas, type QuotaDefaults, type Quotas } from '../domain/quotas.js';
import { listViews, resourceRow, resourceView, type ResourceView } from './reads.js';
import { Reconciler, type ReconcileReport } from './reconciler.js';
import { reserve, type CreateOptions } from './reservation.js';

export type { CreateOptions, KeyPrincipal, Providers, ReconcileReport, ResourceView };
export { resourceView };

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

export class Provisioner {
  /** Identifies this process's leases in logs; leases themselves are time-based. */
  readonly instance = randomUUID();
  /** Where reconciler failures go; the server points it at its logger. */
  onError: (error: unknown, resourceId: string) => void;
  private readonly ctx: ProvisionerContext;
  private readonly reconciler: Reconciler;

  constructor(o: ProvisionerOptions) {
    this.onError = o.onError ?? (() => {});
    this.ctx = {
      store: o.store,
      keyring: o.keyring,
      placement: new Placement(o.providers),
      quotas: o.quotas,
      leaseMs: o.leaseMs,
      crashAt: (point) => {
        if (o.failpoint === point) process.kill(process.pid, 'SIGKILL');
      },
      slowAt: (point) =>
        o.failpoint === point
          ? new Promise((resolve) => setTimeout(resolve, 2 * o.leaseMs))
          : Promise.resolve(),
    };
    this.reconciler = new Reconciler(this.ctx, (error, resourceId) => this.onError(error, resourceId));
  }

  get kinds(): ResourceKind[] {
    return this.ctx.placement.kinds;
  }

  /** Throws `unsupported_kind` (with the setting that would offer it) unless this server offers `kind`. */
  requireKind(kind: ResourceKind): void {
    this.ctx.placement.provider(kind);
  }

  async quotas(domainId: string): Promise<Quotas> {
    return effectiveQuotas(this.ctx.quotas, await this.poolOverrides(domainId));
  }

  /** The domain's pool settings as the operator set them (quotas and limits), without defaults. */
  poolOverrides(domainId: string): Promise<Readonly<Record<string, number>>> {
    return this.ctx.store.withDomain(domainId, (tx) => poolQuotas(tx, domainId));
  }

  /**
   * Reserves and allocates a resource for the key's domain. Returns the resource and whether this was
   * a replay of an earlier request with the same idempotency key.
   */
  async create(o: CreateOptions): Promise<{ resource: ResourceView; replay: boolean }> {
    const provider = this.ctx.placement.provider(o.kind);
    const reserved = await reserve(this.ctx, o);
    if (reserved.replay) return { resource: resourceView(reserved.row), replay: true };
    this.ctx.crashAt('after-reserve');
    const actor: Actor = { actor: o.principal.actor, requestId: o.requestId };
    const row = await allocate(this.ctx, provider, reserved.row, actor, reserved.wrappedKey);
    return { resource: resourceView(row), replay: false };
  }

  /** The domain's resources; with `kinds`, only those of these kinds (what a key may read). */
  list(
    domainId: string,
    options: { includeDeleted?: boolean | undefined; kinds?: readonly ResourceKind[] } = {},
  ): Promise<ResourceView[]> {
    return listViews(this.ctx.store, domainId, options);
  }

  /** A resource of the domain; `check` sees its kind before it is returned. */
  async get(domainId: string, resourceId: string, check: KindCheck = everyKind): Promise<ResourceView> {
    const row = await resourceRow(this.ctx.store, domainId, resourceId);
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
    const row = await resourceRow(this.ctx.store, domainId, resourceId);
    if (kind !== undefined && row.kind !== kind) throw notFound();
    check(row.kind);
    if (row.status !== 'ready')
      throw new BulkheadError('resource_not_ready', `The resource is ${row.status}.`);
    return { ref: { domainId, resourceId }, provider: this.ctx.placement.providerOf(row, 'reach') };
  }

  /** The resource's credentials, decrypted and their reading audited (`credentials.ts`). */
  credentials(actor: Actor, domainId: string, resourceId: string, check?: KindCheck): Promise<Credentials> {
    return readCredentials(this.ctx, actor, domainId, resourceId, check);
  }

  /** New credentials from the backend, returned once and stored sealed (`credentials.ts`). */
  rotateCredentials(
    actor: Actor,
    domainId: string,
    resourceId: string,
    check?: KindCheck,
  ): Promise<Credentials> {
    return rotateCredentials(this.ctx, actor, domainId, resourceId, check);
  }

  /** The backend's own probe: with A's credentials, try B's resource (`credentials.ts`). */
  probeIsolation(
    actor: Actor,
    a: ResourceRef,
    b: ResourceRef,
  ): Promise<{ kind: ResourceKind; report: ProbeReport }> {
    return probeIsolation(this.ctx, actor, a, b);
  }

  /** Deprovisions a resource (`lifecycle.ts`); `check` sees its kind before anything changes. */
  async delete(actor: Actor, domainId: string, resourceId: string, check?: KindCheck): Promise<ResourceView> {
    return resourceView(await deleteResource(this.ctx, actor, domainId, resourceId, check));
  }

  /** One reconciler pass (`reconciler.ts`); a second caller waits for the running one. */
  reconcile(): Promise<ReconcileReport> {
    return this.reconciler.reconcile();
  }

  /** Reconciles now and then every `intervalMs` until stop(). */
  start(intervalMs: number): Promise<ReconcileReport> {
    return this.reconciler.start(intervalMs);
  }

  stop(): Promise<void> {
    return this.reconciler.stop();
  }
}
