// Applies a resource's manifests and hands out its token, in an order that makes the fence exist before
// the key: the cluster-wide admission policy and its binding, the namespace, its network policies, quota,
// limit range and Role, then the service account and its RoleBinding, and only then a token. Every apply is awaited (the API server has stored the object)
// before the next starts, and any failure stops the sequence before a token is requested.
import { ProviderError, type ResourceRef } from '../provider.js';
import {
  clusterManifests,
  manifests,
  namespaceName,
  objectNames,
  type KubeObject,
  type ManifestOptions,
} from './kubernetes-manifests.js';

/** Names one object on the API server. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string | undefined;
}

export type ObjectState = 'present' | 'terminating' | 'absent';

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly terminating: boolean;
}

/**
 * One request a probe makes as a tenant. Writes are sent as dry runs, so nothing changes even if allowed;
 * `token` asks for a token of the service account `name` (TokenRequest).
 */
export interface TenantRequest {
  readonly verb: 'get' | 'list' | 'create' | 'delete' | 'token';
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
  readonly body?: KubeObject | undefined;
}

/** Acts as a tenant with nothing but its bearer token. */
export interface TenantApi {
  /** The HTTP status the API server answered; rejects only when no answer came (network, TLS). */
  send(request: TenantRequest): Promise<number>;
}

/**
 * The part of the Kubernetes API the provider uses, as the cluster administrator. The real one wraps
 * `@kubernetes/client-node` (kubernetes-client.ts); tests plug in a recording one.
 */
export interface KubeApi {
  /** The API server's URL, as a tenant reaches it. */
  readonly server: string;
  /** The cluster's CA bundle (base64 PEM, as in a kubeconfig), when the kubeconfig names one. */
  readonly certificateAuthority: string | undefined;
  /** Server-side apply as field manager `bulkhead`, taking over conflicting fields; resolves once stored. */
  apply(object: KubeObject): Promise<void>;
  /** Deletes an object; false when there was none (or a namespace is already being deleted). */
  remove(ref: ObjectRef): Promise<boolean>;
  /** Whether the object is there, and whether it is on its way out (a deletion timestamp is set). */
  state(ref: ObjectRef): Promise<ObjectState>;
  /** Namespaces matching a label selector. */
  listNamespaces(labelSelector: string): Promise<NamespaceInfo[]>;
  /** A bound token for a service account (TokenRequest API). */
  requestToken(
    namespace: string,
    serviceAccount: string,
    expirationSeconds: number,
  ): Promise<{ token: string; expiresAt: string }>;
  /** A client of the same API server that authenticates with `token` only. */
  asTenant(token: string): TenantApi;
  close(): Promise<void>;
}

/** The order kinds are applied in; anything else in a manifest list is a bug and stops the apply. */
export const applyOrder = [
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'Namespace',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'Role',
  'ServiceAccount',
  'RoleBinding',
] as const;

export function refOf(object: KubeObject): ObjectRef {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    namespace: object.metadata.namespace,
  };
}

function rank(object: KubeObject): number {
  const index = (applyOrder as readonly string[]).indexOf(object.kind);
  if (index < 0) throw new Error(`no apply order for kind ${object.kind}`);
  return index;
}

export function serviceAccountRef(namespace: string): ObjectRef {
  return { apiVersion: 'v1', kind: 'ServiceAccount', name: objectNames.serviceAccount, namespace };
}

export interface IssueOptions {
  readonly manifests: ManifestOptions;
  readonly tokenSeconds: number;
}

/**
 * Applies every manifest of `ref` and issues a token for its service account. The service account is
 * deleted and made again first, so tokens issued before (for example by a create that crashed before its
 * credentials were stored) stop working: a bound token names the account's uid.
 */
export async function applyAndIssue(
  api: KubeApi,
  ref: ResourceRef,
  options: IssueOptions,
): Promise<{ namespace: string; serviceAccount: string; token: string; expiresAt: string }> {
  // The cluster-wide admission policy goes first, so no pod of the namespace is ever admitted without it;
  // applying it again with each resource is a no-op that also puts it back if someone removed it.
  const objects = [...clusterManifests(), ...manifests(ref, options.manifests)]
    .map((object, index) => ({ object, index }))
    .sort((a, b) => rank(a.object) - rank(b.object) || a.index - b.index)
    .map(({ object }) => object);
  const namespace = namespaceName(ref);
  for (const object of objects) {
    if (object.kind === 'ServiceAccount') await api.remove(refOf(object));
    await api.apply(object);
  }
  const { token, expiresAt } = await api.requestToken(
    namespace,
    objectNames.serviceAccount,
    options.tokenSeconds,
  );
  if (typeof token !== 'string' || token === '') {
    throw new ProviderError('kubernetes', 'api_failed', `no token was issued in namespace ${namespace}`);
  }
  return { namespace, serviceAccount: objectNames.serviceAccount, token, expiresAt };
}
