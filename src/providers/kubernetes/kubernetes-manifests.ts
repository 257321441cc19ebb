// What one Kubernetes resource is, as plain manifests: a namespace of its own and the objects that fence it
// in (network policies, quota, limit range) and the one identity a tenant gets inside it (a service
// account bound to a namespaced Role); and the cluster-wide admission policy every such namespace is under.
// Pure: the same ref and options always give the same manifests, and nothing here talks to a cluster.
import { backendName, ProviderError, refFromBackendName, type ResourceRef } from '../provider.js';

/** A Kubernetes object as sent to the API server. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
  };
  readonly [field: string]: unknown;
}

/** Quantities per resource name, as Kubernetes writes them (`500m`, `512Mi`, `10`). */
export type Quantities = Readonly<Record<string, string>>;

export interface ManifestOptions {
  /**
   * The namespace's ResourceQuota (`spec.hard`), merged over the defaults; `null` drops a default. The
   * defaults allow no LoadBalancer or NodePort services: those expose a tenant outside its namespace.
   */
  readonly quota?: Readonly<Record<string, string | null>> | undefined;
  /** Requests a container gets when it names none (LimitRange `defaultRequest`), merged over the defaults. */
  readonly defaultRequests?: Quantities | undefined;
  /** Limits a container gets when it names none (LimitRange `default`), merged over the defaults. */
  readonly defaultLimits?: Quantities | undefined;
  /**
   * Where pods may send DNS queries: the cluster DNS pods. Default: pods labelled `k8s-app=kube-dns` in
   * `kube-system`, which is CoreDNS on kubeadm, kind, GKE, EKS and AKS.
   */
  readonly dns?:
    { readonly namespace: string; readonly podLabels: Readonly<Record<string, string>> } | undefined;
}

export const defaultQuota: Quantities = {
  'requests.cpu': '2',
  'limits.cpu': '4',
  'requests.memory': '4Gi',
  'limits.memory': '8Gi',
  'requests.ephemeral-storage': '10Gi',
  'limits.ephemeral-storage': '20Gi',
  pods: '20',
  services: '10',
  'services.loadbalancers': '0',
  'services.nodeports': '0',
  persistentvolumeclaims: '5',
  'requests.storage': '20Gi',
  configmaps: '50',
  secrets: '50',
};

// Every quantity the quota limits by CPU, memory or ephemeral storage must be set on each container, or
// the pod is refused; these defaults fill in what a container leaves out.
export const defaultRequests: Quantities = { cpu: '100m', memory: '128Mi', 'ephemeral-storage': '256Mi' };
export const defaultLimits: Quantities = { cpu: '500m', memory: '512Mi', 'ephemeral-storage': '1Gi' };
const defaultDns = { namespace: 'kube-system', podLabels: { 'k8s-app': 'kube-dns' } } as const;

/** The names of the objects inside every resource's namespace. */
export const objectNames = {
  ingressPolicy: 'bulkhead-ingress-same-namespace',
  egressPolicy: 'bulkhead-egress-dns-and-same-namespace',
  quota: 'bulkhead-quota',
  limits: 'bulkhead-limits',
  serviceAccount: 'bulkhead-tenant',
  role: 'bulkhead-tenant',
  roleBinding: 'bulkhead-tenant',
} as const;

export const labelKeys = {
  domain: 'bulkhead.domain',
  resource: 'bulkhead.resource',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/** Selects every namespace this provider made (it still checks each name against its labels). */
export const ownedSelector = `${labelKeys.managedBy}=bulkhead,${labelKeys.domain},${labelKeys.resource}`;

const NAMESPACE = /^bh-[0-9a-z]{26}-[0-9a-z]{26}$/;
// A Kubernetes quantity: a decimal number with an optional SI or binary suffix.
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
// A quota or limit resource name: `pods`, `requests.cpu`, `count/jobs.batch`, `requests.nvidia.com/gpu`.
const RESOURCE_NAME = /^[a-z0-9]([-a-z0-9./]*[a-z0-9])?$/;
// A label key (optionally prefixed) and value, as the API server checks them.
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The namespace of a resource: its backend name with `-` for `_`, so a DNS-1123 label of 56 characters
 * (`bh-<domain>-<resource>`) that starts with a letter, as every Kubernetes namespace must.
 */
export function namespaceName(ref: ResourceRef): string {
  return backendName(ref).replaceAll('_', '-');
}

/** Reverses namespaceName; null for a namespace that is not one of ours. */
export function refFromNamespace(name: string): ResourceRef | null {
  return NAMESPACE.test(name) ? refFromBackendName(name.replaceAll('-', '_')) : null;
}

function invalid(message: string): never {
  throw new ProviderError('kubernetes', 'invalid_options', message);
}

function checkQuantities(what: string, values: Readonly<Record<string, string | null>>): void {
  for (const [name, value] of Object.entries(values)) {
    if (!RESOURCE_NAME.test(name)) invalid(`kubernetes ${what}: "${name}" is not a resource name`);
    if (value !== null && (typeof value !== 'string' || !QUANTITY.test(value))) {
      invalid(`kubernetes ${what}: ${name} must be a quantity such as 500m, 2 or 4Gi`);
    }
  }
}

function merge(base: Quantities, over: Readonly<Record<string, string | null>> = {}): Quantities {
  const out: Record<string, string> = { ...base };
  for (const [name, value] of Object.entries(over)) {
    if (value === null) delete out[name];
    else out[name] = value;
  }
  return out;
}

interface Settings {
  readonly quota: Quantities;
  readonly defaultRequests: Quantities;
  readonly defaultLimits: Quantities;
  readonly dns: { readonly namespace: string; readonly podLabels: Readonly<Record<string, string>> };
}

/** Checks the options and fills in the defaults; throws `invalid_options` with one clear line. */
export function manifestSettings(options: ManifestOptions = {}): Settings {
  checkQuantities('quota', options.quota ?? {});
  checkQuantities('defaultRequests', options.defaultRequests ?? {});
  checkQuantities('defaultLimits', options.defaultLimits ?? {});
  const dns = options.dns ?? defaultDns;
  if (!DNS_LABEL.test(dns.namespace)) invalid('kubernetes dns.namespace must be a namespace name');
  const dnsLabels = Object.entries(dns.podLabels);
  // An empty selector would allow DNS port traffic to every pod of the DNS namespace.
  if (dnsLabels.length === 0) invalid('kubernetes dns.podLabels must select the DNS pods');
  for (const [key, value] of dnsLabels) {
    if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(value))
      invalid(`kubernetes dns.podLabels: bad label ${key}`);
  }
  return {
    quota: merge(defaultQuota, options.quota),
    defaultRequests: merge(defaultRequests, options.defaultRequests),
    defaultLimits: merge(defaultLimits, options.defaultLimits),
    dns: { namespace: dns.namespace, podLabels: { ...dns.podLabels } },
  };
}

// What the tenant's service account may do, in its own namespace only (a Role never reaches further).
// Left out on purpose: the objects that make the fence (NetworkPolicy, ResourceQuota, LimitRange, Role,
// RoleBinding, the Namespace) beyond reading the quota and limits; minting tokens; writing Endpoints
// (which could point a Service at another tenant's pods); Ingresses and DaemonSets.
const allVerbs = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
const readVerbs = ['get', 'list', 'watch'];
export const tenantRules = [
  {
    apiGroups: [''],
    resources: [
      'pods',
      'pods/log',
      'pods/exec',
      'pods/attach',
      'pods/portforward',
      'services',
      'configmaps',
      'secrets',
      'persistentvolumeclaims',
    ],
    verbs: allVerbs,
  },
  {
    apiGroups: [''],
    resources: ['events', 'endpoints', 'resourcequotas', 'limitranges', 'serviceaccounts', 'pods/status'],
    verbs: readVerbs,
  },
  {
    apiGroups: ['apps'],
    resources: [
      'deployments',
      'deployments/scale',
      'statefulsets',
      'statefulsets/scale',
      'replicasets',
      'replicasets/scale',
    ],
    verbs: allVerbs,
  },
  { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: allVerbs },
  { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: allVerbs },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: allVerbs },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: readVerbs },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: readVerbs },
] as const;

/**
 * The manifests of one resource, in the order they are applied: the namespace, then everything that
 * fences it in, then the identity the tenant gets. Options are checked first (see manifestSettings).
 *
 * @example
 * const objects = manifests({ domainId: 'dom_…', resourceId: 'res_…' }, { quota: { pods: '50' } });
 */
export function manifests(ref: ResourceRef, options: ManifestOptions = {}): KubeObject[] {
  const s = manifestSettings(options);
  const namespace = namespaceName(ref);
  const labels = {
    [labelKeys.managedBy]: 'bulkhead',
    [labelKeys.domain]: ref.domainId,
    [labelKeys.resource]: ref.resourceId,
  };
  const meta = (name: string) => ({ name, namespace, labels });
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        labels: {
          ...labels,
          // Pod Security admission: only pods that meet the `restricted` profile are admitted.
          'pod-security.kubernetes.io/enforce': 'restricted',
          'pod-security.kubernetes.io/enforce-version': 'latest',
          'pod-security.kubernetes.io/warn': 'restricted',
          'pod-security.kubernetes.io/audit': 'restricted',
        },
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(objectNames.ingressPolicy),
      spec: {
        // Every pod of the namespace accepts traffic only from pods of the same namespace: a peer with a
        // podSelector and no namespaceSelector means "this namespace".
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: {} }] }],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(objectNames.egressPolicy),
      spec: {
        // Pods may reach pods of the same namespace and the cluster DNS on port 53, nothing else: not
        // other tenants, not the node or the API server, not the internet.
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          { to: [{ podSelector: {} }] },
          {
            to: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': s.dns.namespace } },
                podSelector: { matchLabels: s.dns.podLabels },
              },
            ],
            ports: [
              { protocol: 'UDP', port: 53 },
              { protocol: 'TCP', port: 53 },
            ],
          },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: meta(objectNames.quota),
      spec: { hard: s.quota },
    },
    {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: meta(objectNames.limits),
      spec: {
        limits: [{ type: 'Container', defaultRequest: s.defaultRequests, default: s.defaultLimits }],
      },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(objectNames.role),
      rules: tenantRules.map((rule) => ({
        apiGroups: [...rule.apiGroups],
        resources: [...rule.resources],
        verbs: [...rule.verbs],
      })),
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(objectNames.serviceAccount),
      // The tenant's token is for the tenant, not for its pods: none is mounted into them.
      automountServiceAccountToken: false,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(objectNames.roleBinding),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: objectNames.role },
      subjects: [{ kind: 'ServiceAccount', name: objectNames.serviceAccount, namespace }],
    },
  ];
}

/** The name of the admission policy (and of its binding) that every tenant namespace is under. */
export const imagePullPolicyName = 'bulkhead-tenant-image-pull-always';

/**
 * The CEL rule of that policy: every container of a pod (init and ephemeral ones too) pulls its image each
 * time it starts. It runs after the API server has filled in the default pull policy, so a container that
 * names none is judged by the default it got (`IfNotPresent` for a tagged image).
 */
const pullsAlways = (list: string) =>
  `${list}.all(c, has(c.imagePullPolicy) && c.imagePullPolicy == 'Always')`;
export const imagePullAlwaysRule = [
  pullsAlways('object.spec.containers'),
  `(!has(object.spec.initContainers) || ${pullsAlways('object.spec.initContainers')})`,
  `(!has(object.spec.ephemeralContainers) || ${pullsAlways('object.spec.ephemeralContainers')})`,
].join(' && ');

/**
 * The cluster-wide objects every tenant namespace relies on, applied before any namespace and never
 * deleted with one: an admission policy, bound to every namespace this provider made, that refuses a pod
 * whose containers do not pull their image every time. An image a node has cached is otherwise there for
 * any pod on that node with `IfNotPresent`, so one tenant could run another's private image without its
 * pull secret; with `Always` the registry checks the pod's own credentials at each start.
 */
export function clusterManifests(): KubeObject[] {
  const labels = { [labelKeys.managedBy]: 'bulkhead' };
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: imagePullPolicyName, labels },
      spec: {
        // A rule that cannot be evaluated refuses the pod.
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [''],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['pods', 'pods/ephemeralcontainers'],
            },
          ],
        },
        validations: [
          {
            expression: imagePullAlwaysRule,
            message: 'every container in a Bulkhead tenant namespace must set imagePullPolicy: Always',
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: imagePullPolicyName, labels },
      spec: {
        policyName: imagePullPolicyName,
        validationActions: ['Deny'],
        // The namespaces this provider made, as it lists them (ownedSelector); tenants cannot relabel a
        // namespace (their Role has no verb on namespaces).
        matchResources: {
          namespaceSelector: {
            matchLabels: { [labelKeys.managedBy]: 'bulkhead' },
            matchExpressions: [
              { key: labelKeys.domain, operator: 'Exists' },
              { key: labelKeys.resource, operator: 'Exists' },
            ],
          },
        },
      },
    },
  ];
}
