// The isolation probe on a live cluster: with A's token, exactly as A would use it, try to read and change
// B's namespace, and try to widen A's own fence. Writes are sent as server-side dry runs (`dryRun=All`):
// the API server authorises them in full but stores nothing, so a probe that finds a hole breaks nothing.
// A refusal counts only when it is a 403 and A's token is shown to work in A's own namespace first; any
// other answer proves nothing and is reported as not refused.
import type { Credentials, ProbeAttempt, ProbeReport, ProbeSide } from '../provider.js';
import type { KubeApi, TenantApi, TenantRequest } from './kubernetes-applier.js';
import { objectNames } from './kubernetes-manifests.js';

function text(credentials: Credentials, field: string): string | undefined {
  const value = credentials[field];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function notShown(detail: string): ProbeReport {
  return { refused: false, attempts: [{ attempt: 'set up the probe', refused: false, detail }] };
}

const configMap = (namespace: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'bulkhead-probe', namespace },
  data: { probe: 'written by another tenant' },
});

export async function probeClusterIsolation(api: KubeApi, a: ProbeSide, b: ProbeSide): Promise<ProbeReport> {
  const token = text(a.credentials, 'token');
  const aNamespace = text(a.credentials, 'namespace');
  const bNamespace = text(b.credentials, 'namespace');
  if (token === undefined || aNamespace === undefined) {
    return notShown("A's credentials hold no token and namespace (issued without a cluster?)");
  }
  if (bNamespace === undefined) return notShown("B's credentials name no namespace");
  const tenant: TenantApi = api.asTenant(token);

  // A token that works nowhere is refused everywhere; that would prove nothing about isolation.
  const own: TenantRequest = { verb: 'list', apiVersion: 'v1', kind: 'ConfigMap', namespace: aNamespace };
  let ownStatus: number;
  try {
    ownStatus = await tenant.send(own);
  } catch (error) {
    return notShown(`A's token could not reach the API server: ${(error as Error).message}`);
  }
  if (ownStatus !== 200) {
    return notShown(`A's token cannot list config maps in A's own namespace (HTTP ${ownStatus})`);
  }

  const inB = (verb: TenantRequest['verb'], apiVersion: string, kind: string, name?: string) => ({
    verb,
    apiVersion,
    kind,
    namespace: bNamespace,
    name,
  });
  const tries: [string, TenantRequest][] = [
    ["list pods in B's namespace", inB('list', 'v1', 'Pod')],
    ["list secrets in B's namespace", inB('list', 'v1', 'Secret')],
    ["list config maps in B's namespace", inB('list', 'v1', 'ConfigMap')],
    ["read B's service account", inB('get', 'v1', 'ServiceAccount', objectNames.serviceAccount)],
    [
      "request a token for B's service account",
      inB('token', 'v1', 'ServiceAccount', objectNames.serviceAccount),
    ],
    [
      "create a config map in B's namespace",
      { ...inB('create', 'v1', 'ConfigMap'), body: configMap(bNamespace) },
    ],
    [
      "delete B's ingress network policy",
      inB('delete', 'networking.k8s.io/v1', 'NetworkPolicy', objectNames.ingressPolicy),
    ],
    ["read B's namespace", { verb: 'get', apiVersion: 'v1', kind: 'Namespace', name: bNamespace }],
    ["delete B's namespace", { verb: 'delete', apiVersion: 'v1', kind: 'Namespace', name: bNamespace }],
    ['list every namespace', { verb: 'list', apiVersion: 'v1', kind: 'Namespace' }],
    [
      "delete A's own ingress network policy",
      {
        verb: 'delete',
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        namespace: aNamespace,
        name: objectNames.ingressPolicy,
      },
    ],
    [
      "delete A's own resource quota",
      {
        verb: 'delete',
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        namespace: aNamespace,
        name: objectNames.quota,
      },
    ],
    [
      "bind a role to A's account in A's namespace",
      {
        verb: 'create',
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        namespace: aNamespace,
        body: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'bulkhead-probe', namespace: aNamespace },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
          subjects: [{ kind: 'ServiceAccount', name: objectNames.serviceAccount, namespace: aNamespace }],
        },
      },
    ],
  ];

  const attempts: ProbeAttempt[] = [];
  for (const [attempt, request] of tries) {
    try {
      const status = await tenant.send(request);
      attempts.push({
        attempt,
        refused: status === 403,
        detail:
          status === 403
            ? 'refused: 403 Forbidden'
            : status < 300
              ? `allowed (HTTP ${status})`
              : `HTTP ${status}, which is not a refusal by authorisation`,
      });
    } catch (error) {
      attempts.push({ attempt, refused: false, detail: `no answer: ${(error as Error).message}` });
    }
  }
  return { refused: attempts.every((x) => x.refused), attempts };
}
