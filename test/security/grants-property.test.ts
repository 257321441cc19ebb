// A property: whatever the interleaving of creates, attaches, deletes, grants and revocations across three
// domains, no call returns or changes anything of a domain that neither is the caller's nor has granted
// the caller that action by a live grant.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import type { Services } from '../../src/runtime.js';
import { operatorToken } from '../helpers/api.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { createTenant, credentialHeaders, domainState, type Tenant } from '../helpers/tenants.js';

type Op =
  | { op: 'createInstance' | 'createVolume' | 'listVolumes'; by: number; in: number }
  | { op: 'getVolume' | 'deleteVolume' | 'detach'; by: number; in: number; volume: number }
  | { op: 'attach'; by: number; in: number; volume: number; instanceOf: number; instance: number }
  | { op: 'grant'; from: number; to: number; write: boolean; all: boolean; volume: number }
  | { op: 'revoke'; grant: number };

const domain = fc.integer({ min: 0, max: 2 });
const index = fc.nat({ max: 5 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom('createInstance', 'createVolume', 'listVolumes'), by: domain, in: domain }),
  fc.record({
    op: fc.constantFrom('getVolume', 'deleteVolume', 'detach'),
    by: domain,
    in: domain,
    volume: index,
  }),
  fc.record({
    op: fc.constant('attach'),
    by: domain,
    in: domain,
    volume: index,
    instanceOf: domain,
    instance: index,
  }),
  fc.record({
    op: fc.constant('grant'),
    from: domain,
    to: domain,
    write: fc.boolean(),
    all: fc.boolean(),
    volume: index,
  }),
  fc.record({ op: fc.constant('revoke'), grant: index }),
);

interface LiveGrant {
  id: string;
  from: number;
  to: number;
  actions: string[];
  resources: string[];
  live: boolean;
}

describe.each(backends)('grant interleavings on $name', (backend) => {
  let services: Services & { drop(): Promise<void> };
  let app: App;
  let tenants: Tenant[];
  let seq = 0;

  beforeAll(async () => {
    services = await openTestServices(backend);
    await services.operator.initialise(operatorToken);
    app = await buildServer(services);
    tenants = [];
    for (const name of ['p', 'q', 'r'])
      tenants.push(await createTenant(app, operatorToken, `prop-${name}-${process.pid}`));
  });

  afterAll(async () => {
    await app.close();
    await services.drop();
  });

  it('never lets a call reach a domain without a live grant', async () => {
    // The model outlives each run, as the server's state does (shrinking replays runs on the same server).
    const instances: string[][] = [[], [], []];
    const volumes: string[][] = [[], [], []];
    const grants: LiveGrant[] = [];
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 14 }), async (ops) => {
        const allowed = (by: number, to: number, action: string, resource: string | null) =>
          by === to ||
          grants.some(
            (g) =>
              g.live &&
              g.from === by &&
              g.to === to &&
              g.actions.includes(action) &&
              (g.resources.includes('*') || (resource !== null && g.resources.includes(resource))),
          );
        const pick = (list: string[], i: number, kind = 'vol') =>
          list[i % Math.max(1, list.length)] ?? `${kind}_00000000000000000000000000`;
        for (const step of ops) {
          if (step.op === 'grant') {
            if (step.from === step.to) continue;
            const target = volumes[step.to]!;
            const res = await app.inject({
              method: 'POST',
              url: '/v1/grants',
              headers: { authorization: `Bearer ${operatorToken}` },
              payload: {
                from: tenants[step.from]!.id,
                to: tenants[step.to]!.id,
                actions: step.write ? ['volumes.read', 'volumes.write'] : ['volumes.read'],
                resources: step.all || target.length === 0 ? ['*'] : [pick(target, step.volume)],
                expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
                reason: 'property test',
              },
            });
            expect(res.statusCode, res.body).toBe(201);
            const g = res.json<{ id: string; actions: string[]; resources: string[] }>();
            grants.push({ ...g, from: step.from, to: step.to, live: true });
            continue;
          }
          if (step.op === 'revoke') {
            const g = grants[step.grant % Math.max(1, grants.length)];
            if (g === undefined) continue;
            const res = await app.inject({
              method: 'DELETE',
              url: `/v1/grants/${g.id}`,
              headers: { authorization: `Bearer ${operatorToken}` },
            });
            expect(res.statusCode).toBe(200);
            g.live = false;
            continue;
          }
          const by = tenants[step.by]!;
          const target = tenants[step.in]!;
          const base = `/v1/domains/${target.id}`;
          let method = 'GET';
          let url = `${base}/volumes`;
          let body: unknown;
          let action = 'volumes.read';
          let resource: string | null = null;
          switch (step.op) {
            case 'createInstance':
              [method, url, body, action] = [
                'POST',
                `${base}/instances`,
                { name: `i${++seq}` },
                'instances.write',
              ];
              break;
            case 'createVolume':
              [method, url, body, action] = [
                'POST',
                `${base}/volumes`,
                { name: `v${++seq}`, sizeBytes: 4096 },
                'volumes.write',
              ];
              break;
            case 'listVolumes':
              break;
            case 'getVolume':
              resource = pick(volumes[step.in]!, step.volume);
              url = `${base}/volumes/${resource}`;
              break;
            case 'deleteVolume':
              resource = pick(volumes[step.in]!, step.volume);
              [method, url, action] = ['DELETE', `${base}/volumes/${resource}`, 'volumes.write'];
              break;
            case 'detach':
              resource = pick(volumes[step.in]!, step.volume);
              [method, url, action] = ['POST', `${base}/volumes/${resource}/detach`, 'volumes.write'];
              break;
            case 'attach':
              resource = pick(volumes[step.in]!, step.volume);
              [method, url, action] = ['POST', `${base}/volumes/${resource}/attach`, 'volumes.write'];
              body = { instanceId: pick(instances[step.instanceOf]!, step.instance, 'ins') };
              break;
          }
          const may = allowed(step.by, step.in, action, resource);
          const before = await Promise.all(tenants.map((t) => domainState(services, t.id)));
          const res = await app.inject({
            method: method as 'GET',
            url,
            headers: credentialHeaders(by, 'key', operatorToken),
            ...(body === undefined ? {} : { payload: body as object }),
          });
          // A deleted volume is zeroed in the background: let that finish, so it is counted with this step.
          await services.compute.zeroing();
          const after = await Promise.all(tenants.map((t) => domainState(services, t.id)));
          // Domains the call may touch: the caller's own, and the target only through a live grant.
          for (let d = 0; d < 3; d++) {
            if (d === step.by || (d === step.in && may)) continue;
            expect(after[d], `${step.op} by ${step.by} in ${step.in} changed domain ${d}`).toEqual(before[d]);
            expect(res.body).not.toContain(tenants[d]!.id);
            for (const id of [...instances[d]!, ...volumes[d]!]) expect(res.body).not.toContain(id);
          }
          if (!may) expect(res.statusCode, `${step.op} by ${step.by} in ${step.in}: ${res.body}`).toBe(404);
          // A volume never ends attached to an instance of another domain.
          if (step.op === 'attach' && res.statusCode === 200) expect(step.instanceOf).toBe(step.in);
          if (res.statusCode === 201) {
            const created = res.json<{ id: string; domainId: string }>();
            expect(created.domainId).toBe(target.id);
            (step.op === 'createInstance' ? instances : volumes)[step.in]!.push(created.id);
          }
        }
      }),
      { numRuns: 25 },
    );
  });
});
