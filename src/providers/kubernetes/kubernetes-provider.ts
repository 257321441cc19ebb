// The Kubernetes provider: a namespace per resource, fenced in by network policies, a quota and a limit
// range, with one service account whose Role reaches nothing outside it. With a cluster (a KubeApi) it
// applies the manifests and issues tokens; without one (dry run) it contacts nothing and its credentials
// and probe reports say so. Assumes ids the core has validated and a cluster whose network plugin
// enforces NetworkPolicy.
import type * as contract from '../provider.js';
import { ProviderError } from '../provider.js';
import { applyAndIssue, refOf, serviceAccountRef, type KubeApi } from './kubernetes-applier.js';
import {
  clusterManifests,
  labelKeys,
  manifests,
  namespaceName,
  objectNames,
  ownedSelector,
  refFromNamespace,
  type ManifestOptions,
} from './kubernetes-manifests.js';
import { probeClusterIsolation } from './kubernetes-probe.js';

export interface KubernetesSettings {
  readonly manifests: ManifestOptions;
  readonly tokenSeconds: number;
}

const namespaceRef = (name: string) => ({ apiVersion: 'v1', kind: 'Namespace', name });

export class KubernetesClusterProvider implements contract.Provider {
  readonly kind = 'kubernetes' as const;
  readonly capabilities = { objects: false } as const;

  constructor(
    private readonly api: KubeApi,
    private readonly settings: KubernetesSettings,
  ) {}

  /** The API server, host:port. */
  get backend(): contract.BackendIdentity {
    let location = this.api.server;
    try {
      location = new URL(this.api.server).host;
    } catch {
      // Not a URL: named as it is.
    }
    return { type: 'kubernetes', location };
  }

  private async issue(ref: contract.ResourceRef): Promise<contract.Credentials> {
    const issued = await applyAndIssue(this.api, ref, this.settings);
    return {
      kind: 'kubernetes',
      mode: 'cluster',
      server: this.api.server,
      namespace: issued.namespace,
      serviceAccount: issued.serviceAccount,
      token: issued.token,
      expiresAt: issued.expiresAt,
      ...(this.api.certificateAuthority === undefined
        ? {}
        : { certificateAuthority: this.api.certificateAuthority }),
    };
  }

  create(ref: contract.ResourceRef): Promise<contract.Credentials> {
    return this.issue(ref);
  }

  async inspect(ref: contract.ResourceRef): Promise<contract.InspectResult> {
    const namespace = namespaceName(ref);
    const state = await this.api.state(namespaceRef(namespace));
    if (state !== 'present') return { exists: false, details: { namespace, state } };
    const missing: string[] = [];
    for (const object of [...clusterManifests(), ...manifests(ref, this.settings.manifests)]) {
      if (object.kind === 'Namespace') continue;
      if ((await this.api.state(refOf(object))) !== 'present')
        missing.push(`${object.kind}/${object.metadata.name}`);
    }
    // A missing piece of the fence is put back by the next credentials() (or a re-create).
    return { exists: true, details: { namespace, state, missing: missing.join(',') } };
  }

  async delete(ref: contract.ResourceRef): Promise<void> {
    const namespace = namespaceName(ref);
    // Access ends first: the binding and the account (and so every token) go before the namespace's
    // contents, which Kubernetes removes in the background once the namespace is marked for deletion.
    await this.api.remove({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      name: objectNames.roleBinding,
      namespace,
    });
    await this.api.remove(serviceAccountRef(namespace));
    await this.api.remove(namespaceRef(namespace));
  }

  async credentials(ref: contract.ResourceRef): Promise<contract.Credentials> {
    if ((await this.api.state(namespaceRef(namespaceName(ref)))) !== 'present') {
      throw new ProviderError('kubernetes', 'not_found', `namespace ${namespaceName(ref)} does not exist`);
    }
    return this.issue(ref);
  }

  probeIsolation(a: contract.ProbeSide, b: contract.ProbeSide): Promise<contract.ProbeReport> {
    return probeClusterIsolation(this.api, a, b);
  }

  async listOwned(): Promise<contract.OwnedObject[]> {
    const owned: contract.OwnedObject[] = [];
    for (const ns of await this.api.listNamespaces(ownedSelector)) {
      // Labels can be set by anyone who may edit a namespace; the name is what Bulkhead derived.
      const ref = refFromNamespace(ns.name);
      if (ref === null || ns.terminating) continue;
      if (ns.labels[labelKeys.domain] !== ref.domainId || ns.labels[labelKeys.resource] !== ref.resourceId)
        continue;
      owned.push({ ref, name: ns.name });
    }
    return owned;
  }

  close(): Promise<void> {
    return this.api.close();
  }
}

const dryRunNote = 'dry run: nothing was applied to a cluster and no token was issued';

/** Without a cluster: manifests only. Nothing is contacted, and nothing claims to be isolated. */
export class KubernetesDryRunProvider implements contract.Provider {
  readonly kind = 'kubernetes' as const;
  readonly capabilities = { objects: false } as const;
  /** Nothing is applied anywhere. */
  readonly backend: contract.BackendIdentity = { type: 'kubernetes-dry-run', location: 'nowhere' };

  constructor(private readonly settings: KubernetesSettings) {}

  async create(ref: contract.ResourceRef): Promise<contract.Credentials> {
    // Built for their checks only: bad options fail here as they would against a cluster.
    manifests(ref, this.settings.manifests);
    return this.credentials(ref);
  }

  inspect(ref: contract.ResourceRef): Promise<contract.InspectResult> {
    return Promise.resolve({ exists: false, details: { namespace: namespaceName(ref), mode: 'dry-run' } });
  }

  async delete(): Promise<void> {}

  credentials(ref: contract.ResourceRef): Promise<contract.Credentials> {
    return Promise.resolve({
      kind: 'kubernetes',
      mode: 'dry-run',
      namespace: namespaceName(ref),
      serviceAccount: objectNames.serviceAccount,
      note: dryRunNote,
    });
  }

  probeIsolation(): Promise<contract.ProbeReport> {
    return Promise.resolve({
      refused: false,
      attempts: [
        {
          attempt: 'probe a live cluster',
          refused: false,
          detail: 'no cluster is configured (BULKHEAD_KUBECONFIG), so nothing was tried and nothing is shown',
        },
      ],
    });
  }

  listOwned(): Promise<contract.OwnedObject[]> {
    return Promise.resolve([]);
  }

  async close(): Promise<void> {}
}
