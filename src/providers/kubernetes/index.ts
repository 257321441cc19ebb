// The Kubernetes provider's public surface: the factory, its options, the pure manifest builder and its
// errors. Only kubernetes-client.ts imports `@kubernetes/client-node`, and only when a kubeconfig is used:
// the client takes about a second to load, which no other command should pay for (YAML is loaded lazily
// for the same reason).
import { type Provider, ProviderError, type ResourceRef } from '../provider.js';
import type { KubeApi } from './kubernetes-applier.js';
import { manifests, manifestSettings, type ManifestOptions } from './kubernetes-manifests.js';
import { KubernetesClusterProvider, KubernetesDryRunProvider } from './kubernetes-provider.js';

export {
  applyOrder,
  type KubeApi,
  type NamespaceInfo,
  type ObjectRef,
  type ObjectState,
  type TenantApi,
  type TenantRequest,
} from './kubernetes-applier.js';
export {
  clusterManifests,
  defaultLimits,
  defaultQuota,
  defaultRequests,
  imagePullAlwaysRule,
  imagePullPolicyName,
  manifests,
  namespaceName,
  objectNames,
  refFromNamespace,
  type KubeObject,
  type ManifestOptions,
} from './kubernetes-manifests.js';

export interface KubernetesProviderOptions {
  /**
   * Where manifests go: a kubeconfig file (its current context, which must be allowed to manage
   * namespaces, RBAC and token requests), an API of your own, or nowhere (`dry-run`).
   */
  readonly target:
    | { readonly kind: 'kubeconfig'; readonly path: string }
    | { readonly kind: 'api'; readonly api: KubeApi }
    | { readonly kind: 'dry-run' };
  /** Quota, container defaults and DNS; see ManifestOptions for the defaults. */
  readonly manifests?: ManifestOptions | undefined;
  /** How long an issued token lives. Default 86400 (a day); the API server may shorten it. */
  readonly tokenSeconds?: number | undefined;
}

/**
 * Builds the `kubernetes` provider. Options are checked here; a cluster is first contacted by the first
 * call that needs it. In `dry-run` it contacts nothing: credentials say so and probes show nothing.
 *
 * @example
 * const provider = await createKubernetesProvider({ target: { kind: 'kubeconfig', path: '/etc/bulkhead/kubeconfig' } });
 * const credentials = await provider.create({ domainId, resourceId }); // { server, namespace, serviceAccount, token, … }
 */
export async function createKubernetesProvider(options: KubernetesProviderOptions): Promise<Provider> {
  const tokenSeconds = options.tokenSeconds ?? 86_400;
  // The TokenRequest API refuses less than 10 minutes.
  if (!Number.isSafeInteger(tokenSeconds) || tokenSeconds < 600 || tokenSeconds > 366 * 86_400) {
    throw new ProviderError(
      'kubernetes',
      'invalid_options',
      'kubernetes tokenSeconds must be from 600 to 31622400',
    );
  }
  const manifests = options.manifests ?? {};
  manifestSettings(manifests);
  const settings = { manifests, tokenSeconds };
  switch (options.target.kind) {
    case 'dry-run':
      return new KubernetesDryRunProvider(settings);
    case 'api':
      return new KubernetesClusterProvider(options.target.api, settings);
    case 'kubeconfig': {
      if (typeof options.target.path !== 'string' || options.target.path === '') {
        throw new ProviderError('kubernetes', 'invalid_options', 'kubernetes kubeconfig must be a path');
      }
      const { kubeApiFromKubeconfig } = await import('./kubernetes-client.js');
      return new KubernetesClusterProvider(kubeApiFromKubeconfig(options.target.path), settings);
    }
  }
}

/**
 * The manifests of a resource as one multi-document YAML stream (`---` between documents), as
 * `kubectl apply -f -` reads it. Contacts nothing (the YAML library is loaded on first use).
 *
 * @example
 * process.stdout.write(await manifestsYaml({ domainId, resourceId }));
 */
export async function manifestsYaml(ref: ResourceRef, options: ManifestOptions = {}): Promise<string> {
  const { toYaml } = await import('./kubernetes-yaml.js');
  return toYaml(manifests(ref, options));
}
