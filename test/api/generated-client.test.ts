// A client generated from the published OpenAPI document works, as a user would make one: openapi-typescript
// turns the live /openapi.json into types, a small openapi-fetch client written against them typechecks
// (and a call the document does not allow does not), and that client drives a domain through keys,
// resources, objects (under a key with a slash, which openapi-fetch sends as `%2F`) and instances against
// a listening server.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/http/types.js';
import { openProvidedApi, operatorToken, unique } from '../helpers/api.js';
import { backends } from '../helpers/backends.js';
import { repoRoot } from '../helpers/processes.js';
import type { TestProviders } from '../helpers/providers.js';

/** What a user writes: a typed client, and a walk through a domain with it. */
const clientSource = `
import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

export interface Walk {
  domainId: string;
  key: string;
  keyId: string;
  resourceId: string;
  objectKey: string;
  stored: { key: string; size: number };
  read: string;
  keys: number;
  instanceId: string;
  instanceStatus: string;
  deletedStatus: number;
}

/** Never called: the document holds a client to what it declares, no missing field, no unknown path. */
export function notAllowed(client: ReturnType<typeof createClient<paths>>, slug: string): void {
  // @ts-expect-error -- a domain needs its name
  void client.POST('/v1/domains', { body: { slug } });
  // @ts-expect-error -- the wildcard path of old is no path of the document
  void client.GET('/v1/domains/{domainId}/resources/{resourceId}/objects/{*}', {});
}

export async function walk(baseUrl: string, operatorToken: string, slug: string): Promise<Walk> {
  const operator = createClient<paths>({ baseUrl, headers: { authorization: 'Bearer ' + operatorToken } });
  const domain = await operator.POST('/v1/domains', { body: { slug, name: 'Generated client' } });
  if (domain.data === undefined) throw new Error('createDomain: ' + JSON.stringify(domain.error));
  const domainId: string = domain.data.id;
  const issued = await operator.POST('/v1/domains/{domainId}/keys', {
    params: { path: { domainId } },
    body: { name: 'generated' },
  });
  if (issued.data === undefined) throw new Error('issueKey: ' + JSON.stringify(issued.error));
  const key: string = issued.data.key;

  const tenant = createClient<paths>({ baseUrl, headers: { authorization: 'Bearer ' + key } });
  const keys = await operator.GET('/v1/domains/{domainId}/keys', { params: { path: { domainId } } });
  if (keys.data === undefined) throw new Error('listKeys: ' + JSON.stringify(keys.error));

  const resource = await tenant.POST('/v1/domains/{domainId}/resources', {
    params: { path: { domainId: 'me' } },
    body: { kind: 'storage', name: 'files' },
  });
  if (resource.data === undefined) throw new Error('createResource: ' + JSON.stringify(resource.error));
  const resourceId: string = resource.data.id;

  const objectKey = 'reports/2026/summary.txt';
  const objectPath = { domainId, resourceId, key: objectKey };
  const stored = await tenant.PUT('/v1/domains/{domainId}/resources/{resourceId}/objects/{key}', {
    params: { path: objectPath },
    body: 'hello from a generated client' as unknown as string,
    bodySerializer: (body) => body as unknown as string,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (stored.data === undefined) throw new Error('putObject: ' + JSON.stringify(stored.error));
  const read = await tenant.GET('/v1/domains/{domainId}/resources/{resourceId}/objects/{key}', {
    params: { path: objectPath },
    parseAs: 'text',
  });
  if (read.data === undefined) throw new Error('getObject: ' + JSON.stringify(read.error));

  const instance = await tenant.POST('/v1/domains/{domainId}/instances', {
    params: { path: { domainId } },
    body: { name: 'worker' },
  });
  if (instance.data === undefined) throw new Error('createInstance: ' + JSON.stringify(instance.error));
  const instanceId: string = instance.data.id;
  const shown = await tenant.GET('/v1/domains/{domainId}/instances/{instanceId}', {
    params: { path: { domainId, instanceId } },
  });
  if (shown.data === undefined) throw new Error('getInstance: ' + JSON.stringify(shown.error));
  const deleted = await tenant.DELETE('/v1/domains/{domainId}/instances/{instanceId}', {
    params: { path: { domainId, instanceId } },
  });

  return {
    domainId,
    key,
    keyId: issued.data.id,
    resourceId,
    objectKey,
    stored: { key: stored.data.key, size: stored.data.size },
    read: read.data,
    keys: keys.data.items.length,
    instanceId,
    instanceStatus: shown.data.status,
    deletedStatus: deleted.response.status,
  };
}
`;

/** Type errors of the client, against the generated types and openapi-fetch's own, as tsc prints them. */
function typeErrors(dir: string): string[] {
  const program = ts.createProgram([join(dir, 'client.ts')], {
    target: ts.ScriptTarget.ES2023,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('a client generated from the OpenAPI document', () => {
  let app: App;
  let providers: TestProviders;
  let drop: () => Promise<void>;
  let baseUrl: string;
  let dir: string;
  let volumeRoot: string;

  beforeAll(async () => {
    volumeRoot = mkdtempSync(join(tmpdir(), 'bulkhead-volumes-client-'));
    const opened = await openProvidedApi(
      backends.find((b) => b.name === 'postgres')!,
      {
        volumeRoot,
        maxVolumeBytes: 4 * 1024 * 1024,
      },
    );
    ({ app, providers } = opened);
    drop = () => opened.services.drop();
    baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    // Inside the project, so the client resolves openapi-fetch as an installed package, as a user's would.
    const cache = join(repoRoot, 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    dir = mkdtempSync(join(cache, 'bulkhead-client-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  });

  afterAll(async () => {
    await app?.close();
    await drop?.();
    providers?.remove();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    if (volumeRoot !== undefined) rmSync(volumeRoot, { recursive: true, force: true });
  });

  it('generates types that a client typechecks against', async () => {
    const document = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as object;
    const types = astToString(await openapiTS(document as Parameters<typeof openapiTS>[0]));
    expect(types).toContain('"/v1/domains/{domainId}/resources/{resourceId}/objects/{key}"');
    writeFileSync(join(dir, 'schema.ts'), types);
    writeFileSync(join(dir, 'client.ts'), clientSource);
    expect(typeErrors(dir)).toEqual([]);
  }, 120_000);

  it('refuses, at type-check time, a call the document does not allow', () => {
    // The same client without its `@ts-expect-error` marks: both calls are type errors.
    writeFileSync(join(dir, 'client.ts'), clientSource.replaceAll('// @ts-expect-error', '//'));
    const errors = typeErrors(dir);
    expect(errors.some((e) => e.includes("Property 'name' is missing"))).toBe(true);
    expect(errors.some((e) => e.includes('{*}'))).toBe(true);
    writeFileSync(join(dir, 'client.ts'), clientSource);
  }, 120_000);

  it('drives a domain through keys, resources, objects and instances', async () => {
    const { walk } = (await import(join(dir, 'client.ts'))) as {
      walk: (
        baseUrl: string,
        token: string,
        slug: string,
      ) => Promise<{
        domainId: string;
        key: string;
        resourceId: string;
        objectKey: string;
        stored: { key: string; size: number };
        read: string;
        keys: number;
        instanceStatus: string;
        deletedStatus: number;
      }>;
    };
    const result = await walk(baseUrl, operatorToken, unique('genclient'));
    // The key with a slash went as `%2F` and names the object it names sent with a literal slash.
    expect(result.stored).toEqual({ key: 'reports/2026/summary.txt', size: 29 });
    expect(result.read).toBe('hello from a generated client');
    const literal = await fetch(
      `${baseUrl}/v1/domains/${result.domainId}/resources/${result.resourceId}/objects/reports/2026/summary.txt`,
      { headers: { authorization: `Bearer ${result.key}` } },
    );
    expect(literal.status).toBe(200);
    expect(await literal.text()).toBe('hello from a generated client');
    expect(result.keys).toBe(1);
    expect(result.instanceStatus).toMatch(/^(pending|running)$/);
    expect([200, 202, 204]).toContain(result.deletedStatus);
  }, 120_000);
});
