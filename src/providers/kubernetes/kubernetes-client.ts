// The only file that imports `@kubernetes/client-node`: it turns a kubeconfig into the small KubeApi the
// provider uses. Objects are written with server-side apply (field manager `bulkhead`), so applying the
// same manifests again changes nothing. Every request is bounded in time: a hung API server is a failure
// the reconciler retries, never a refusal and never a provisioning call that waits forever.
import { readFileSync } from 'node:fs';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type Cluster,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type {
  KubeApi,
  NamespaceInfo,
  ObjectRef,
  ObjectState,
  TenantApi,
  TenantRequest,
} from './kubernetes-applier.js';
import type { KubeObject } from './kubernetes-manifests.js';
import { ProviderError } from '../provider.js';

const FIELD_MANAGER = 'bulkhead';
const REQUEST_TIMEOUT_MS = 30_000;

/** The HTTP status of an API server answer, or undefined when no answer came. */
export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException && typeof error.code === 'number' ? error.code : undefined;
}

async function bounded<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ProviderError('kubernetes', 'api_failed', `${what}: no answer in ${REQUEST_TIMEOUT_MS} ms`),
        ),
      REQUEST_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    const status = statusOf(error);
    throw new ProviderError(
      'kubernetes',
      'api_failed',
      `${what}: ${status === undefined ? 'no answer from the API server' : `the API server answered ${status}`}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

function header(
  ref: ObjectRef,
): KubernetesObject & { apiVersion: string; kind: string; metadata: { name: string } } {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: ref.namespace === undefined ? { name: ref.name } : { name: ref.name, namespace: ref.namespace },
  };
}

/** Reads the CA bundle a kubeconfig names, as base64 PEM, so a tenant can verify the API server. */
function caOf(cluster: Cluster): string | undefined {
  if (cluster.caData !== undefined && cluster.caData !== '') return cluster.caData;
  if (cluster.caFile !== undefined && cluster.caFile !== '') {
    return readFileSync(cluster.caFile).toString('base64');
  }
  return undefined;
}

class TenantClient implements TenantApi {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;

  constructor(cluster: Cluster, token: string) {
    const config = new KubeConfig();
    config.loadFromClusterAndUser(cluster, { name: 'bulkhead-probe', token });
    this.objects = KubernetesObjectApi.makeApiClient(config);
    this.core = config.makeApiClient(CoreV1Api);
  }

  async send(request: TenantRequest): Promise<number> {
    const ref = {
      apiVersion: request.apiVersion,
      kind: request.kind,
      namespace: request.namespace,
      name: request.name ?? '',
    };
    const call = async (): Promise<unknown> => {
      switch (request.verb) {
        case 'list':
          return this.objects.list(request.apiVersion, request.kind, request.namespace);
        case 'get':
          return this.objects.read(header(ref));
        case 'create':
          return this.objects.create(request.body ?? header(ref), undefined, 'All');
        case 'delete':
          return this.objects.delete(header(ref), undefined, 'All');
        case 'token':
          return this.core.createNamespacedServiceAccountToken({
            name: ref.name,
            namespace: ref.namespace ?? '',
            body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [] } },
            dryRun: 'All',
          });
      }
    };
    try {
      await bounded(`${request.verb} ${request.kind}`, call());
      return 200;
    } catch (error) {
      const status = statusOf((error as { cause?: unknown }).cause);
      if (status === undefined) throw error;
      return status;
    }
  }
}

class ClientKubeApi implements KubeApi {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;

  constructor(
    config: KubeConfig,
    private readonly cluster: Cluster,
    readonly certificateAuthority: string | undefined,
  ) {
    this.objects = KubernetesObjectApi.makeApiClient(config);
    this.core = config.makeApiClient(CoreV1Api);
  }

  get server(): string {
    return this.cluster.server;
  }

  async apply(object: KubeObject): Promise<void> {
    const where = `apply ${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    await bounded(
      where,
      this.objects.patch(
        object as KubernetesObject,
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      ),
    );
  }

  async remove(ref: ObjectRef): Promise<boolean> {
    try {
      await bounded(`delete ${ref.kind} ${ref.name}`, this.objects.delete(header(ref)));
      return true;
    } catch (error) {
      const status = statusOf((error as { cause?: unknown }).cause);
      // 409: a namespace that is already being deleted.
      if (status === 404 || (status === 409 && ref.kind === 'Namespace')) return false;
      throw error;
    }
  }

  async state(ref: ObjectRef): Promise<ObjectState> {
    try {
      const found = await bounded(`read ${ref.kind} ${ref.name}`, this.objects.read(header(ref)));
      return found.metadata?.deletionTimestamp === undefined ? 'present' : 'terminating';
    } catch (error) {
      if (statusOf((error as { cause?: unknown }).cause) === 404) return 'absent';
      throw error;
    }
  }

  async listNamespaces(labelSelector: string): Promise<NamespaceInfo[]> {
    const list = await bounded('list namespaces', this.core.listNamespace({ labelSelector }));
    return list.items.map((item) => ({
      name: item.metadata?.name ?? '',
      labels: item.metadata?.labels ?? {},
      terminating: item.metadata?.deletionTimestamp !== undefined,
    }));
  }

  async requestToken(
    namespace: string,
    serviceAccount: string,
    expirationSeconds: number,
  ): Promise<{ token: string; expiresAt: string }> {
    const answer = await bounded(
      `request a token in ${namespace}`,
      this.core.createNamespacedServiceAccountToken({
        name: serviceAccount,
        namespace,
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: [], expirationSeconds },
        },
      }),
    );
    const expires = answer.status?.expirationTimestamp;
    return {
      token: answer.status?.token ?? '',
      expiresAt: expires instanceof Date ? expires.toISOString() : String(expires ?? ''),
    };
  }

  asTenant(token: string): TenantApi {
    return new TenantClient(this.cluster, token);
  }

  async close(): Promise<void> {
    // The client keeps no connections of its own beyond the HTTP agent's idle sockets.
  }
}

/**
 * Builds the KubeApi from a kubeconfig file (its current context). Reads the file now; contacts nothing.
 *
 * @example
 * const api = kubeApiFromKubeconfig('/etc/bulkhead/kubeconfig');
 */
export function kubeApiFromKubeconfig(path: string): KubeApi {
  const config = new KubeConfig();
  try {
    config.loadFromFile(path);
  } catch (error) {
    throw new ProviderError('kubernetes', 'invalid_options', `kubeconfig ${path} could not be read`, {
      cause: error,
    });
  }
  const cluster = config.getCurrentCluster();
  if (cluster === null) {
    throw new ProviderError('kubernetes', 'invalid_options', `kubeconfig ${path} has no current context`);
  }
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new ProviderError('kubernetes', 'invalid_options', `kubeconfig ${path}: the server is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ProviderError(
      'kubernetes',
      'invalid_options',
      `kubeconfig ${path}: the server must be an http(s) URL`,
    );
  }
  let ca: string | undefined;
  try {
    ca = caOf(cluster);
  } catch (error) {
    throw new ProviderError(
      'kubernetes',
      'invalid_options',
      `kubeconfig ${path}: the CA file could not be read`,
      {
        cause: error,
      },
    );
  }
  return new ClientKubeApi(config, cluster, ca);
}
