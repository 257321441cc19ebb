// Blueprints: a set of resources provisioned as one saga. The blueprint is recorded first (under a
// lease), then each resource goes through the ordinary provisioning path, tagged with the blueprint. If
// every one ends `ready`, so does the blueprint; if any fails, every resource of the blueprint is
// deprovisioned and the domain is left as it was. A crash in between is rolled back by `reconcile`
// once the lease has run out. Every step is audited.
import { succeeded } from '../audit/events.js';
import { appendAudit } from '../audit/log.js';
import { newId } from '../domain/ids.js';
import type { ResourceKind } from '../domain/kinds.js';
import { BulkheadError, isBulkheadError, notFound } from '../errors.js';
import type { Actor } from '../policy/principal.js';
import { allows, everyKind, scopeDenied, type KindCheck } from '../policy/scopes.js';
import {
  blueprintResources,
  findBlueprint,
  insertBlueprint,
  setBlueprintStatus,
  staleBlueprints,
} from '../store/repositories/blueprints.js';
import { domainStatus } from '../store/repositories/domains.js';
import type { BlueprintRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { resourceView, type KeyPrincipal, type Provisioner, type ResourceView } from './provisioner.js';

export interface BlueprintItem {
  readonly kind: ResourceKind;
  readonly name: string;
}

export interface BlueprintView {
  readonly id: string;
  readonly domainId: string;
  readonly name: string;
  readonly status: BlueprintRow['status'];
  readonly error: string | null;
  readonly resources: ResourceView[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export const maxBlueprintItems = 10;

export class Blueprints {
  constructor(
    private readonly o: {
      readonly store: Store;
      readonly provisioner: Provisioner;
      readonly leaseMs: number;
    },
  ) {}

  /** Provisions every item, or none: on any failure, what was done is undone and the error is thrown. */
  async create(
    principal: KeyPrincipal,
    requestId: string | null,
    domainId: string,
    input: { name: string; resources: readonly BlueprintItem[] },
  ): Promise<BlueprintView> {
    if (input.resources.length === 0 || input.resources.length > maxBlueprintItems)
      throw new BulkheadError('invalid_request', `A blueprint has 1 to ${maxBlueprintItems} resources.`);
    const seen = new Set(input.resources.map((r) => `${r.kind}/${r.name}`));
    if (seen.size !== input.resources.length)
      throw new BulkheadError('invalid_request', 'Each resource of a blueprint needs its own kind and name.');
    for (const item of input.resources) {
      if (!allows(principal.scopes, item.kind, 'create')) throw scopeDenied(item.kind, 'create');
    }
    // A kind this server cannot provision is refused before anything is recorded, like a lone create.
    for (const item of input.resources) this.o.provisioner.requireKind(item.kind);
    const actor: Actor = { actor: principal.actor, requestId };
    const id = newId('blueprint');
    await this.o.store.withDomain(domainId, async (tx) => {
      if ((await domainStatus(tx, domainId)) === undefined) throw notFound();
      const now = new Date();
      await insertBlueprint(tx, {
        id,
        domainId,
        name: input.name,
        spec: input.resources,
        at: now,
        leaseUntil: new Date(now.getTime() + this.o.leaseMs),
      });
      await appendAudit(
        tx,
        succeeded(actor, domainId, 'blueprint.create', id, {
          name: input.name,
          resources: input.resources.map((r) => `${r.kind}/${r.name}`),
        }),
      );
    });
    // The steps run side by side; each is the ordinary, race-free provisioning path.
    const results = await Promise.allSettled(
      input.resources.map((item) =>
        this.o.provisioner.create({ principal, requestId, domainId, ...item, blueprintId: id }),
      ),
    );
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    const notReady = results.find((r) => r.status === 'fulfilled' && r.value.resource.status !== 'ready');
    if (failure === undefined && notReady === undefined) {
      await this.settle(actor, domainId, id, 'ready', null);
      return this.get(domainId, id);
    }
    const reason = failure === undefined ? 'a resource did not become ready' : describe(failure.reason);
    await this.rollBack(actor, domainId, id, reason);
    if (failure !== undefined && isBulkheadError(failure.reason)) throw failure.reason;
    throw new BulkheadError('provisioning_failed', `The blueprint was rolled back: ${reason}.`);
  }

  /** A blueprint and its resources; `check` sees every kind it holds before anything is returned. */
  async get(domainId: string, blueprintId: string, check: KindCheck = everyKind): Promise<BlueprintView> {
    const { row, resources } = await this.o.store.withDomain(domainId, async (tx) => {
      const found = await findBlueprint(tx, domainId, blueprintId);
      if (found === undefined) throw notFound();
      for (const item of found.spec) check(item.kind);
      const items = await blueprintResources(tx, domainId, blueprintId);
      return { row: found, resources: items };
    });
    return {
      id: row.id,
      domainId: row.domain_id,
      name: row.name,
      status: row.status,
      error: row.error,
      resources: resources.map(resourceView),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    };
  }

  private async settle(
    actor: Actor,
    domainId: string,
    id: string,
    status: 'ready' | 'rolled_back',
    error: string | null,
  ): Promise<void> {
    await this.o.store.withDomain(domainId, async (tx) => {
      await setBlueprintStatus(tx, domainId, id, status, error);
      await appendAudit(tx, {
        ...actor,
        domainId,
        action: status === 'ready' ? 'blueprint.ready' : 'blueprint.rolled_back',
        target: id,
        outcome: status === 'ready' ? 'success' : 'failure',
        detail: error === null ? {} : { error },
      });
    });
  }

  /** Deprovisions every resource of the blueprint, then marks it rolled back. */
  private async rollBack(actor: Actor, domainId: string, id: string, reason: string): Promise<void> {
    await this.o.store.withDomain(domainId, (tx) =>
      setBlueprintStatus(tx, domainId, id, 'rolling_back', reason.slice(0, 500)),
    );
    const created = await this.o.store.withDomain(domainId, (tx) =>
      blueprintResources(tx, domainId, id, true),
    );
    // A resource whose backend refuses to go now is left `deprovisioning`; the reconciler finishes it.
    await Promise.allSettled(created.map((r) => this.o.provisioner.delete(actor, domainId, r.id)));
    await this.settle(actor, domainId, id, 'rolled_back', reason.slice(0, 500));
  }

  /** Rolls back every blueprint a crash left half done (its lease ran out). */
  async reconcile(): Promise<number> {
    const stale = await this.o.store.system('reconciler', (tx) => staleBlueprints(tx, 100));
    const actor: Actor = { actor: 'system:reconciler', requestId: null };
    for (const b of stale) await this.rollBack(actor, b.domain_id, b.id, 'interrupted before it finished');
    return stale.length;
  }
}

function describe(error: unknown): string {
  if (isBulkheadError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
