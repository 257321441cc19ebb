// The Kubernetes provider without a cluster: every manifest checked against the Kubernetes API's schemas
// (from @kubernetes/client-node's generated models, strictly, and from kubernetes-models) and for what it
// means: the namespace's pods refuse other namespaces, every object stays in the namespace, the tenant's
// Role cannot touch its own fence. Applying is checked against a recording KubeApi, an in-memory stand-in
// that is acceptable here only because no cluster can run on this machine: it proves the order of calls
// (the fence exists before a token is requested), not that a cluster enforces anything. Applying to a
// live cluster, and the isolation probe against one, are not exercised by this suite.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evaluate } from '@marcbachmann/cel-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { newId } from '../../src/domain/ids.js';
import {
  applyOrder,
  clusterManifests,
  createKubernetesProvider,
  imagePullPolicyName,
  manifests,
  manifestsYaml,
  namespaceName,
  objectNames,
  refFromNamespace,
  type KubeApi,
  type KubeObject,
  type NamespaceInfo,
  type ObjectRef,
  type ObjectState,
  type TenantApi,
  type TenantRequest,
} from '../../src/providers/kubernetes/index.js';
import { backendName, type Provider, type ResourceRef } from '../../src/providers/provider.js';
import { openProviders } from '../../src/providers/registry.js';
import { assertBuilt, runCli, tempDir } from '../helpers/processes.js';
import { schemaViolations } from '../helpers/kubernetes-schemas.js';
import { isProviderError } from '../../src/providers/provider.js';

const newRef = (): ResourceRef => ({ domainId: newId('domain'), resourceId: newId('resource') });
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const byKind = (objects: readonly KubeObject[], kind: string) => objects.filter((o) => o.kind === kind);
const one = (objects: readonly KubeObject[], kind: string, name?: string): Record<string, unknown> => {
  const found = byKind(objects, kind).filter((o) => name === undefined || o.metadata.name === name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as unknown as Record<string, unknown>;
};

describe('manifests', () => {
  it('are valid against the Kubernetes schemas, with the defaults and with options', () => {
    const options = [
      {},
      {
        quota: { pods: '50', 'count/jobs.batch': '5', secrets: null },
        defaultRequests: { cpu: '250m' },
        defaultLimits: { memory: '1Gi' },
        dns: { namespace: 'dns', podLabels: { app: 'coredns' } },
      },
    ];
    for (const option of options) {
      const objects = manifests(newRef(), option);
      expect(objects.map((o) => o.kind).sort()).toEqual(
        [
          'LimitRange',
          'Namespace',
          'NetworkPolicy',
          'NetworkPolicy',
          'ResourceQuota',
          'Role',
          'RoleBinding',
          'ServiceAccount',
        ].sort(),
      );
      for (const object of objects) {
        expect(schemaViolations(object), `${object.kind} ${object.metadata.name}`).toEqual([]);
      }
    }
  });

  it('the schema check refuses a misspelt field, a missing required field and a number for a quantity', () => {
    const objects = manifests(newRef());
    const policy = structuredClone(one(objects, 'NetworkPolicy', objectNames.ingressPolicy)) as {
      spec: { ingress: { from: Record<string, unknown>[] }[] };
    };
    policy.spec.ingress[0]!.from[0] = { podSelectr: {} };
    expect(schemaViolations(policy).join('\n')).toMatch(/strict: .*podSelectr/);

    const binding = structuredClone(one(objects, 'RoleBinding')) as { roleRef: Record<string, unknown> };
    delete binding.roleRef['apiGroup'];
    const violations = schemaViolations(binding).join('\n');
    expect(violations).toMatch(/strict: .*apiGroup/);
    expect(violations).toMatch(/upstream: .*apiGroup/);

    const limits = structuredClone(one(objects, 'LimitRange')) as {
      spec: { limits: { default: Record<string, unknown> }[] };
    };
    limits.spec.limits[0]!.default['cpu'] = 1;
    expect(schemaViolations(limits).join('\n')).toMatch(/strict: .*cpu must be string/);
    expect(schemaViolations({ kind: 'ClusterRole' })).toEqual(['no schema for kind ClusterRole']);
  });

  it('name the namespace deterministically: a DNS-1123 label that maps back to the ref', () => {
    fc.assert(
      fc.property(fc.constant(null), () => {
        const ref = newRef();
        const name = namespaceName(ref);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toMatch(DNS_LABEL);
        expect(name).toMatch(/^[a-z]/); // a namespace must start with a letter
        expect(name).toBe(backendName(ref).replaceAll('_', '-'));
        expect(refFromNamespace(name)).toEqual(ref);
        // The same ref gives the same manifests, byte for byte.
        expect(JSON.stringify(manifests(ref))).toBe(JSON.stringify(manifests({ ...ref })));
      }),
      { numRuns: 50 },
    );
    const a = newRef();
    const sameDomain = { domainId: a.domainId, resourceId: newId('resource') };
    const sameResource = { domainId: newId('domain'), resourceId: a.resourceId };
    const names = [a, sameDomain, sameResource].map(namespaceName);
    expect(new Set(names).size).toBe(3);
    for (const name of ['default', 'kube-system', 'bh-short', `${namespaceName(a)}x`, backendName(a)]) {
      expect(refFromNamespace(name)).toBeNull();
    }
  });

  it('give every object a valid DNS name and labels that carry the domain and the resource', () => {
    const ref = newRef();
    for (const object of manifests(ref)) {
      expect(object.metadata.name).toMatch(DNS_LABEL);
      expect(object.metadata.name.length).toBeLessThanOrEqual(63);
      expect(object.metadata.labels).toMatchObject({
        'bulkhead.domain': ref.domainId,
        'bulkhead.resource': ref.resourceId,
        'app.kubernetes.io/managed-by': 'bulkhead',
      });
    }
  });

  it('keep every namespaced object in the namespace; the Namespace is the only cluster-scoped object', () => {
    const ref = newRef();
    const objects = manifests(ref);
    const namespace = one(objects, 'Namespace') as unknown as KubeObject;
    expect(namespace.metadata.name).toBe(namespaceName(ref));
    expect(namespace.metadata.namespace).toBeUndefined();
    for (const object of objects.filter((o) => o.kind !== 'Namespace')) {
      expect(object.metadata.namespace, object.kind).toBe(namespaceName(ref));
    }
    for (const kind of ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Node']) {
      expect(byKind(objects, kind)).toEqual([]);
    }
    expect(objects.every((o) => (applyOrder as readonly string[]).includes(o.kind))).toBe(true);
  });

  it('enforce the restricted Pod Security profile on the namespace', () => {
    const namespace = one(manifests(newRef()), 'Namespace') as unknown as KubeObject;
    expect(namespace.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
    });
  });

  describe('the admission policy every tenant namespace is under', () => {
    const [policy, binding] = clusterManifests() as [KubeObject, KubeObject];
    const spec = policy['spec'] as {
      failurePolicy: string;
      matchConstraints: {
        resourceRules: { apiGroups: string[]; resources: string[]; operations: string[] }[];
      };
      validations: { expression: string }[];
    };
    const bindingSpec = binding['spec'] as {
      policyName: string;
      validationActions: string[];
      matchResources: {
        namespaceSelector: {
          matchLabels: Record<string, string>;
          matchExpressions: { key: string; operator: string }[];
        };
      };
    };
    /** Whether the policy admits the pod: every validation of it evaluates to true, as the API server runs them. */
    const admits = (pod: object) =>
      spec.validations.every((v) => evaluate(v.expression, { object: pod }) === true);
    /** Whether the binding's namespace selector picks a namespace with these labels. */
    const selects = (labels: Readonly<Record<string, string>>) => {
      const { matchLabels, matchExpressions } = bindingSpec.matchResources.namespaceSelector;
      return (
        Object.entries(matchLabels).every(([k, v]) => labels[k] === v) &&
        matchExpressions.every((e) => e.operator === 'Exists' && e.key in labels)
      );
    };
    const container = (name: string, imagePullPolicy?: string) => ({
      name,
      image: `registry.example/private/${name}:1.0`,
      ...(imagePullPolicy === undefined ? {} : { imagePullPolicy }),
    });

    it('is valid against the Kubernetes schemas, cluster-scoped, and applied before any namespace', () => {
      for (const object of clusterManifests()) {
        expect(schemaViolations(object), `${object.kind} ${object.metadata.name}`).toEqual([]);
        expect(object.metadata.namespace).toBeUndefined();
        expect(applyOrder.indexOf(object.kind as never)).toBeLessThan(applyOrder.indexOf('Namespace'));
      }
      expect(bindingSpec.policyName).toBe(policy.metadata.name);
      expect(bindingSpec.validationActions).toEqual(['Deny']);
      expect(spec.failurePolicy).toBe('Fail');
      expect(spec.matchConstraints.resourceRules).toEqual([
        expect.objectContaining({ apiGroups: [''], resources: ['pods', 'pods/ephemeralcontainers'] }),
      ]);
      expect(spec.matchConstraints.resourceRules[0]!.operations.sort()).toEqual(['CREATE', 'UPDATE']);
    });

    it("binds every namespace the provider makes, and no namespace of anyone else's", () => {
      for (let i = 0; i < 5; i++) {
        const namespace = one(manifests(newRef()), 'Namespace') as unknown as KubeObject;
        expect(selects(namespace.metadata.labels ?? {})).toBe(true);
      }
      expect(selects({ 'kubernetes.io/metadata.name': 'default' })).toBe(false);
      expect(
        selects({ 'app.kubernetes.io/managed-by': 'helm', 'bulkhead.domain': 'x', 'bulkhead.resource': 'y' }),
      ).toBe(false);
    });

    it('refuses a pod any of whose containers may start from an image the node has cached', () => {
      const always = container('app', 'Always');
      expect(admits({ spec: { containers: [always] } })).toBe(true);
      expect(
        admits({
          spec: {
            containers: [always, container('sidecar', 'Always')],
            initContainers: [container('init', 'Always')],
            ephemeralContainers: [container('debug', 'Always')],
          },
        }),
      ).toBe(true);
      for (const policy of ['IfNotPresent', 'Never', undefined]) {
        const other = container('other', policy);
        expect(admits({ spec: { containers: [other] } }), `container ${policy}`).toBe(false);
        expect(admits({ spec: { containers: [always, other] } }), `second container ${policy}`).toBe(false);
        expect(admits({ spec: { containers: [always], initContainers: [other] } }), `init ${policy}`).toBe(
          false,
        );
        expect(
          admits({ spec: { containers: [always], ephemeralContainers: [other] } }),
          `ephemeral ${policy}`,
        ).toBe(false);
      }
    });
  });

  it('let pods receive traffic only from pods of the same namespace', () => {
    const policy = one(manifests(newRef()), 'NetworkPolicy', objectNames.ingressPolicy) as {
      spec: { podSelector: unknown; policyTypes: string[]; ingress: { from?: unknown[]; ports?: unknown }[] };
    };
    // Every pod of the namespace is selected, so every pod is isolated for ingress.
    expect(policy.spec.podSelector).toEqual({});
    expect(policy.spec.policyTypes).toContain('Ingress');
    // One rule, whose only peers are pod selectors: with no namespaceSelector and no ipBlock, a peer is
    // a pod of the policy's own namespace. A rule without `from` would admit every source.
    expect(policy.spec.ingress).toHaveLength(1);
    const peers = policy.spec.ingress[0]!.from;
    expect(peers).toEqual([{ podSelector: {} }]);
  });

  it('let pods send traffic only to the same namespace and to the cluster DNS on port 53', () => {
    const policy = one(manifests(newRef()), 'NetworkPolicy', objectNames.egressPolicy) as {
      spec: {
        podSelector: unknown;
        policyTypes: string[];
        egress: { to?: Record<string, unknown>[]; ports?: { protocol: string; port: number }[] }[];
      };
    };
    expect(policy.spec.podSelector).toEqual({});
    expect(policy.spec.policyTypes).toEqual(['Egress']);
    const [sameNamespace, dns, ...rest] = policy.spec.egress;
    expect(rest).toEqual([]);
    expect(sameNamespace).toEqual({ to: [{ podSelector: {} }] });
    expect(dns?.to).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      },
    ]);
    expect(dns?.ports).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
    for (const rule of policy.spec.egress) {
      expect(rule.to, 'a rule without `to` allows every destination').toBeDefined();
      for (const peer of rule.to ?? []) expect(peer).not.toHaveProperty('ipBlock');
    }
  });

  it("bind only the namespace's Role to the namespace's service account", () => {
    const ref = newRef();
    const objects = manifests(ref);
    const binding = one(objects, 'RoleBinding') as {
      metadata: { namespace: string };
      roleRef: { apiGroup: string; kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    const role = one(objects, 'Role') as unknown as KubeObject;
    const account = one(objects, 'ServiceAccount') as unknown as KubeObject;
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata.name,
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: account.metadata.name, namespace: namespaceName(ref) },
    ]);
    expect(binding.metadata.namespace).toBe(namespaceName(ref));
    expect(account['automountServiceAccountToken']).toBe(false);
  });

  it("give the tenant's Role no way to widen its fence or reach beyond the namespace", () => {
    const role = one(manifests(newRef()), 'Role') as {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[]; nonResourceURLs?: unknown }[];
    };
    const writes = ['create', 'update', 'patch', 'delete', 'deletecollection'];
    const fence = [
      'networkpolicies',
      'resourcequotas',
      'limitranges',
      'roles',
      'rolebindings',
      'namespaces',
      'serviceaccounts',
      'serviceaccounts/token',
      'endpoints',
    ];
    const never = ['clusterroles', 'clusterrolebindings', 'nodes', 'persistentvolumes', 'namespaces'];
    for (const rule of role.rules) {
      for (const list of [rule.apiGroups, rule.resources, rule.verbs]) expect(list).not.toContain('*');
      expect(rule.verbs).not.toContain('escalate');
      expect(rule.verbs).not.toContain('bind');
      expect(rule.verbs).not.toContain('impersonate');
      expect(rule.nonResourceURLs).toBeUndefined();
      expect(rule.apiGroups).not.toContain('rbac.authorization.k8s.io');
      expect(rule.apiGroups).not.toContain('networking.k8s.io');
      for (const resource of rule.resources) {
        expect(never).not.toContain(resource);
        if (fence.includes(resource)) {
          expect(
            rule.verbs.filter((v) => writes.includes(v)),
            resource,
          ).toEqual([]);
        }
      }
    }
  });

  it('set a quota from the defaults and the options, with no load balancers or node ports', () => {
    const quota = (objects: KubeObject[]) =>
      (one(objects, 'ResourceQuota') as { spec: { hard: Record<string, string> } }).spec.hard;
    const defaults = quota(manifests(newRef()));
    expect(defaults).toMatchObject({ 'services.loadbalancers': '0', 'services.nodeports': '0', pods: '20' });
    const custom = quota(
      manifests(newRef(), { quota: { pods: '5', secrets: null, 'count/jobs.batch': '3' } }),
    );
    expect(custom['pods']).toBe('5');
    expect(custom['count/jobs.batch']).toBe('3');
    expect(custom).not.toHaveProperty('secrets');
    expect(custom['limits.memory']).toBe(defaults['limits.memory']);
    const limits = one(manifests(newRef(), { defaultLimits: { cpu: '2' } }), 'LimitRange') as {
      spec: { limits: { type: string; default: Record<string, string>; defaultRequest: unknown }[] };
    };
    expect(limits.spec.limits[0]).toMatchObject({
      type: 'Container',
      default: { cpu: '2', memory: '512Mi' },
    });
  });

  it('refuse bad options with invalid_options', () => {
    const ref = newRef();
    for (const options of [
      { quota: { pods: 'many' } },
      { quota: { 'Bad Name': '1' } },
      { defaultLimits: { cpu: '-1' } },
      { dns: { namespace: 'Kube_System', podLabels: { app: 'dns' } } },
      { dns: { namespace: 'kube-system', podLabels: {} } },
    ]) {
      let caught: unknown;
      try {
        manifests(ref, options);
      } catch (error) {
        caught = error;
      }
      expect(
        isProviderError(caught, 'invalid_options') && caught.provider === 'kubernetes',
        JSON.stringify(options),
      ).toBe(true);
    }
  });

  it('render as multi-document YAML that parses back to the manifests', async () => {
    const ref = newRef();
    const documents = parseAllDocuments(await manifestsYaml(ref));
    expect(documents.map((d) => d.errors)).toEqual(documents.map(() => []));
    expect(documents.map((d) => d.toJS() as unknown)).toEqual(manifests(ref));
  });
});

type Call = string;

/** Records every call; objects live in a map. A stand-in for the API server (see the file's header). */
class RecordingKubeApi implements KubeApi {
  readonly server = 'https://kubernetes.test:6443';
  readonly certificateAuthority = 'Q0E=';
  readonly calls: Call[] = [];
  readonly objects = new Map<string, KubeObject>();
  readonly terminating = new Set<string>();
  failOn: string | undefined;
  tenantAnswers: (request: TenantRequest, token: string) => number = () => 403;
  tokens = 0;

  private key(ref: ObjectRef): string {
    return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
  }

  apply(object: KubeObject): Promise<void> {
    const key = this.key({ ...object.metadata, kind: object.kind, apiVersion: object.apiVersion });
    this.calls.push(`apply ${object.kind}/${object.metadata.name}`);
    if (this.failOn === object.kind) return Promise.reject(new Error(`refused ${object.kind}`));
    this.objects.set(key, object);
    return Promise.resolve();
  }

  remove(ref: ObjectRef): Promise<boolean> {
    this.calls.push(`remove ${ref.kind}/${ref.name}`);
    const key = this.key(ref);
    const had = this.objects.delete(key);
    if (ref.kind === 'Namespace') {
      for (const k of [...this.objects.keys()]) if (k.split('/')[1] === ref.name) this.objects.delete(k);
    }
    return Promise.resolve(had);
  }

  state(ref: ObjectRef): Promise<ObjectState> {
    const key = this.key(ref);
    if (this.terminating.has(key)) return Promise.resolve('terminating');
    return Promise.resolve(this.objects.has(key) ? 'present' : 'absent');
  }

  listNamespaces(): Promise<NamespaceInfo[]> {
    return Promise.resolve(
      [...this.objects.values()]
        .filter((o) => o.kind === 'Namespace')
        .map((o) => ({
          name: o.metadata.name,
          labels: o.metadata.labels ?? {},
          terminating: this.terminating.has(this.key({ ...o.metadata, kind: 'Namespace', apiVersion: 'v1' })),
        })),
    );
  }

  requestToken(namespace: string, serviceAccount: string, seconds: number) {
    this.calls.push(`token ${serviceAccount}`);
    const present = this.objects.has(`ServiceAccount/${namespace}/${serviceAccount}`);
    if (!present) return Promise.reject(new Error('no such service account'));
    this.tokens++;
    return Promise.resolve({
      token: `token-${this.tokens}-${namespace}`,
      expiresAt: new Date(Date.UTC(2030, 0, 1) + seconds * 1000).toISOString(),
    });
  }

  asTenant(token: string): TenantApi {
    return { send: (request) => Promise.resolve(this.tenantAnswers(request, token)) };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function clusterProvider(api: KubeApi): Promise<Provider> {
  return createKubernetesProvider({ target: { kind: 'api', api } });
}

describe('applying (against a recording KubeApi; no cluster runs here)', () => {
  it('applies the namespace and its fence before the account and binding, and requests the token last', async () => {
    const api = new RecordingKubeApi();
    const ref = newRef();
    const credentials = await (await clusterProvider(api)).create(ref);
    expect(api.calls).toEqual([
      `apply ValidatingAdmissionPolicy/${imagePullPolicyName}`,
      `apply ValidatingAdmissionPolicyBinding/${imagePullPolicyName}`,
      'apply Namespace/' + namespaceName(ref),
      `apply NetworkPolicy/${objectNames.ingressPolicy}`,
      `apply NetworkPolicy/${objectNames.egressPolicy}`,
      `apply ResourceQuota/${objectNames.quota}`,
      `apply LimitRange/${objectNames.limits}`,
      `apply Role/${objectNames.role}`,
      `remove ServiceAccount/${objectNames.serviceAccount}`,
      `apply ServiceAccount/${objectNames.serviceAccount}`,
      `apply RoleBinding/${objectNames.roleBinding}`,
      `token ${objectNames.serviceAccount}`,
    ]);
    const token = api.calls.indexOf(`token ${objectNames.serviceAccount}`);
    for (const kind of [
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
      'NetworkPolicy',
      'ResourceQuota',
      'LimitRange',
      'RoleBinding',
    ]) {
      const applied = api.calls
        .map((c, i) => (c.startsWith(`apply ${kind}/`) ? i : -1))
        .filter((i) => i >= 0);
      expect(applied.length, kind).toBeGreaterThan(0);
      expect(Math.max(...applied), kind).toBeLessThan(token);
    }
    expect(credentials).toEqual({
      kind: 'kubernetes',
      mode: 'cluster',
      server: api.server,
      namespace: namespaceName(ref),
      serviceAccount: objectNames.serviceAccount,
      token: `token-1-${namespaceName(ref)}`,
      expiresAt: new Date(Date.UTC(2030, 0, 2)).toISOString(),
      certificateAuthority: api.certificateAuthority,
    });
  });

  it.each([
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
    'Namespace',
    'NetworkPolicy',
    'ResourceQuota',
    'LimitRange',
    'Role',
    'RoleBinding',
  ])('requests no token when applying a %s fails', async (kind) => {
    const api = new RecordingKubeApi();
    api.failOn = kind;
    await expect((await clusterProvider(api)).create(newRef())).rejects.toThrow(`refused ${kind}`);
    expect(api.calls.filter((c) => c.startsWith('token'))).toEqual([]);
    expect(api.calls.at(-1)).toMatch(new RegExp(`^apply ${kind}/`));
  });

  it('recreates the service account before each new token, so earlier tokens stop working', async () => {
    const api = new RecordingKubeApi();
    const provider = await clusterProvider(api);
    const ref = newRef();
    const first = await provider.create(ref);
    api.calls.length = 0;
    const second = await provider.credentials(ref);
    expect(second['token']).not.toBe(first['token']);
    const removed = api.calls.indexOf(`remove ServiceAccount/${objectNames.serviceAccount}`);
    const token = api.calls.indexOf(`token ${objectNames.serviceAccount}`);
    expect(removed).toBeGreaterThanOrEqual(0);
    expect(removed).toBeLessThan(token);
    // The whole fence is applied again too, so a piece removed by hand comes back.
    expect(api.calls.filter((c) => c.startsWith('apply'))).toHaveLength(
      clusterManifests().length + manifests(ref).length,
    );
  });

  it('refuses credentials for a resource whose namespace is gone, without applying anything', async () => {
    const api = new RecordingKubeApi();
    const error: unknown = await (await clusterProvider(api)).credentials(newRef()).catch((e: unknown) => e);
    expect(isProviderError(error, 'not_found') && error.provider === 'kubernetes').toBe(true);
    expect(api.calls).toEqual([]);
  });

  it('deletes the binding and the account before the namespace, and deleting twice is fine', async () => {
    const api = new RecordingKubeApi();
    const provider = await clusterProvider(api);
    const ref = newRef();
    await provider.create(ref);
    api.calls.length = 0;
    await provider.delete(ref);
    expect(api.calls).toEqual([
      `remove RoleBinding/${objectNames.roleBinding}`,
      `remove ServiceAccount/${objectNames.serviceAccount}`,
      `remove Namespace/${namespaceName(ref)}`,
    ]);
    // Nothing of the resource is left; the cluster-wide admission policy stays for the other namespaces.
    expect([...api.objects.keys()].sort()).toEqual(
      [
        `ValidatingAdmissionPolicy//${imagePullPolicyName}`,
        `ValidatingAdmissionPolicyBinding//${imagePullPolicyName}`,
      ].sort(),
    );
    await provider.delete(ref);
    expect((await provider.inspect(ref)).exists).toBe(false);
  });

  it('inspects a resource and names any missing piece of its fence', async () => {
    const api = new RecordingKubeApi();
    const provider = await clusterProvider(api);
    const ref = newRef();
    await provider.create(ref);
    expect(await provider.inspect(ref)).toEqual({
      exists: true,
      details: { namespace: namespaceName(ref), state: 'present', missing: '' },
    });
    api.objects.delete(`NetworkPolicy/${namespaceName(ref)}/${objectNames.ingressPolicy}`);
    expect((await provider.inspect(ref)).details['missing']).toBe(
      `NetworkPolicy/${objectNames.ingressPolicy}`,
    );
  });

  it('lists only namespaces whose name matches their labels, and not those already being deleted', async () => {
    const api = new RecordingKubeApi();
    const provider = await clusterProvider(api);
    const [kept, going] = [newRef(), newRef()];
    await provider.create(kept);
    await provider.create(going);
    api.terminating.add(`Namespace//${namespaceName(going)}`);
    const other = newRef();
    // Labelled like one of ours, but its name is not the one Bulkhead derives from the labels.
    const impostor = manifests(other)[0]!;
    await api.apply({ ...impostor, metadata: { ...impostor.metadata, name: namespaceName(newRef()) } });
    await api.apply({ ...impostor, metadata: { ...impostor.metadata, name: 'team-a' } });
    expect(await provider.listOwned()).toEqual([{ ref: kept, name: namespaceName(kept) }]);
  });
});

describe('the isolation probe report', () => {
  async function probed(answer: (request: TenantRequest, token: string) => number) {
    const api = new RecordingKubeApi();
    api.tenantAnswers = answer;
    const provider = await clusterProvider(api);
    const [a, b] = [newRef(), newRef()];
    const sides = [
      { ref: a, credentials: await provider.create(a) },
      { ref: b, credentials: await provider.create(b) },
    ] as const;
    return provider.probeIsolation(sides[0], sides[1]);
  }
  const ownNamespaceOk = (request: TenantRequest, token: string) =>
    request.verb === 'list' && request.kind === 'ConfigMap' && token.endsWith(request.namespace ?? '-')
      ? 200
      : 403;

  it("is refused only when A's token works in A's namespace and every attempt gets 403", async () => {
    const report = await probed(ownNamespaceOk);
    expect(report.attempts.length).toBeGreaterThanOrEqual(10);
    expect(report.attempts.every((a) => a.refused && a.detail === 'refused: 403 Forbidden')).toBe(true);
    expect(report.refused).toBe(true);
  });

  it('is not refused when one attempt is allowed, or answered with anything but 403', async () => {
    for (const status of [200, 404, 500]) {
      const report = await probed((request, token) =>
        request.verb === 'list' && request.kind === 'Secret' ? status : ownNamespaceOk(request, token),
      );
      expect(report.refused, String(status)).toBe(false);
      const secrets = report.attempts.find((a) => a.attempt.includes('secrets'));
      expect(secrets?.refused).toBe(false);
    }
  });

  it("shows nothing when A's token does not work in A's own namespace", async () => {
    const report = await probed(() => 401);
    expect(report.refused).toBe(false);
    expect(report.attempts).toEqual([
      {
        attempt: 'set up the probe',
        refused: false,
        detail: "A's token cannot list config maps in A's own namespace (HTTP 401)",
      },
    ]);
  });
});

describe('without a cluster (dry run)', () => {
  it('issues credentials that say nothing was applied, and a probe that claims nothing', async () => {
    const provider = await createKubernetesProvider({ target: { kind: 'dry-run' } });
    const [a, b] = [newRef(), newRef()];
    const credentials = await provider.create(a);
    expect(credentials).toMatchObject({ kind: 'kubernetes', mode: 'dry-run', namespace: namespaceName(a) });
    expect(credentials).not.toHaveProperty('token');
    expect(String(credentials['note'])).toMatch(/nothing was applied/);
    const report = await provider.probeIsolation(
      { ref: a, credentials },
      { ref: b, credentials: await provider.create(b) },
    );
    expect(report.refused).toBe(false);
    expect(report.attempts).toHaveLength(1);
    expect(report.attempts[0]!.refused).toBe(false);
    expect(report.attempts[0]!.detail).toMatch(/no cluster is configured/);
    expect(await provider.listOwned()).toEqual([]);
    expect((await provider.inspect(a)).exists).toBe(false);
  });
});

describe('configuration', () => {
  let dir: { path: string; remove(): void };
  beforeAll(() => {
    dir = tempDir('bulkhead-k8s-');
  });
  afterAll(() => dir.remove());

  /** A kubeconfig for an API server on a loopback port where nothing listens. */
  function unreachableKubeconfig(): string {
    const path = join(dir.path, 'kubeconfig');
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true } }]',
        'users: [{ name: u, user: { token: not-a-real-token } }]',
        'contexts: [{ name: x, context: { cluster: c, user: u } }]',
        'current-context: x',
      ].join('\n'),
    );
    return path;
  }

  it('reads BULKHEAD_KUBECONFIG, and offers the kind only when it is set', async () => {
    const path = unreachableKubeconfig();
    expect(loadConfig({ BULKHEAD_KUBECONFIG: path }).kubeconfig).toBe(path);
    expect(loadConfig({}).kubeconfig).toBeUndefined();
    const dataKeys = { dataKey: () => Promise.resolve(Buffer.alloc(32)) };
    const without = await openProviders(loadConfig({ BULKHEAD_DATA_DIR: join(dir.path, 'a') }), dataKeys);
    expect(without.has('kubernetes')).toBe(false);
    const withIt = await openProviders(
      loadConfig({ BULKHEAD_DATA_DIR: join(dir.path, 'b'), BULKHEAD_KUBECONFIG: path }),
      dataKeys,
    );
    expect(withIt.get('kubernetes')?.kind).toBe('kubernetes');
    for (const provider of [...without.values(), ...withIt.values()]) await provider.close();
  });

  it('fails create with api_failed when the API server cannot be reached', async () => {
    const provider = await createKubernetesProvider({
      target: { kind: 'kubeconfig', path: unreachableKubeconfig() },
    });
    const error: unknown = await provider.create(newRef()).catch((e: unknown) => e);
    expect(isProviderError(error, 'api_failed') && error.provider === 'kubernetes').toBe(true);
    // The first thing applied is the cluster-wide admission policy.
    expect((error as Error).message).toMatch(
      /^apply ValidatingAdmissionPolicy .*: no answer from the API server$/,
    );
  });

  it('refuses a kubeconfig that cannot be read, and bad options', async () => {
    for (const options of [
      { target: { kind: 'kubeconfig', path: join(dir.path, 'missing') } },
      { target: { kind: 'dry-run' }, tokenSeconds: 60 },
      { target: { kind: 'dry-run' }, manifests: { quota: { pods: 'lots' } } },
    ] as const) {
      const error: unknown = await createKubernetesProvider(options).catch((e: unknown) => e);
      expect(
        isProviderError(error, 'invalid_options') && error.provider === 'kubernetes',
        JSON.stringify(options),
      ).toBe(true);
    }
  });
});

describe('bulkhead resource create --dry-run', () => {
  beforeAll(() => assertBuilt());

  it('prints the manifests of a new resource of the domain as YAML documents', async () => {
    const domainId = newId('domain');
    const result = await runCli([
      'resource',
      'create',
      '--kind',
      'kubernetes',
      '--name',
      'web',
      '--dry-run',
      '--domain',
      domainId,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const documents = parseAllDocuments(result.stdout);
    expect(documents.map((d) => d.errors)).toEqual(documents.map(() => []));
    const objects = documents.map((d) => d.toJS() as KubeObject);
    const ref = refFromNamespace(objects[0]!.metadata.name);
    expect(ref?.domainId).toBe(domainId);
    expect(objects).toEqual(manifests(ref!));
    for (const object of objects) expect(schemaViolations(object)).toEqual([]);
    expect(result.stdout.split('\n')[0]).toMatch(/^# dry run: nothing was applied/);
  });

  it('is refused for other kinds, and --domain is refused without --dry-run', async () => {
    const domainId = newId('domain');
    const postgres = await runCli([
      'resource',
      'create',
      '--kind',
      'postgres',
      '--name',
      'db',
      '--dry-run',
      '--domain',
      domainId,
    ]);
    expect(postgres.code).toBe(2);
    expect(postgres.stderr).toMatch(/--dry-run is only available for --kind kubernetes/);
    const noDryRun = await runCli([
      'resource',
      'create',
      '--kind',
      'kubernetes',
      '--name',
      'web',
      '--domain',
      domainId,
    ]);
    expect(noDryRun.code).toBe(2);
    expect(noDryRun.stderr).toMatch(/--domain goes with --dry-run/);
    expect(noDryRun.stdout).toBe('');
    const badDomain = await runCli([
      'resource',
      'create',
      '--kind',
      'kubernetes',
      '--name',
      'w',
      '--dry-run',
      '--domain',
      'x',
    ]);
    expect(badDomain.code).toBe(2);
    expect(badDomain.stderr).toMatch(/must be a domain id/);
  });
});
