// Reads an OpenAPI 3.x document (JSON, from a file or a URL) into the list of operations the prober
// attacks. Only what the prober needs is typed; local `$ref`s are followed, remote ones are refused.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config.js';

/** A JSON Schema object as found in the document; only the keywords the prober reads are used. */
export type Schema = Readonly<Record<string, unknown>>;

export interface Parameter {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly required: boolean;
  readonly schema: Schema;
}

export interface RequestBody {
  readonly required: boolean;
  /** The media type the prober sends: JSON when offered, else the first one listed. */
  readonly contentType: string;
  readonly schema: Schema;
}

export interface Operation {
  /** `METHOD /path` as written in the document, e.g. `GET /v1/domains/{domainId}`. */
  readonly key: string;
  readonly method: string;
  readonly path: string;
  readonly operationId: string | null;
  readonly parameters: readonly Parameter[];
  readonly body: RequestBody | null;
  /** No security requirement, or one that can be met with no credential (`{}`). */
  readonly public: boolean;
}

export interface ApiDescription {
  readonly openapi: string;
  readonly title: string;
  readonly operations: readonly Operation[];
  /** Follows a local `$ref` (`#/components/…`) to what it names; anything else is returned as is. */
  readonly resolve: (schema: unknown) => Schema;
}

const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/'))
    throw new ConfigError(`the OpenAPI document uses a $ref the prober cannot follow: ${ref}`);
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const part = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isObject(node) && !Array.isArray(node)) node = undefined;
    else node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new ConfigError(`the OpenAPI document has a dangling $ref: ${ref}`);
  }
  return node;
}

/**
 * Checks that `doc` is an OpenAPI 3.x document and lists its operations in document order.
 *
 * @example
 * const api = parseApiDescription(JSON.parse(text));
 * for (const op of api.operations) console.log(op.key);
 */
export function parseApiDescription(doc: unknown): ApiDescription {
  if (!isObject(doc)) throw new ConfigError('the OpenAPI document is not a JSON object');
  if (typeof doc['swagger'] === 'string')
    throw new ConfigError(`the document is Swagger ${doc['swagger']}; OpenAPI 3.x is required`);
  const version = doc['openapi'];
  if (typeof version !== 'string' || !/^3\.\d+(\.\d+)?$/.test(version))
    throw new ConfigError(`the document is not OpenAPI 3.x (openapi: ${JSON.stringify(version ?? null)})`);
  const paths = doc['paths'];
  if (!isObject(paths)) throw new ConfigError('the OpenAPI document has no paths');

  const resolve = (value: unknown): Schema => {
    let node = value;
    for (let depth = 0; isObject(node) && typeof node['$ref'] === 'string'; depth++) {
      if (depth > 32) throw new ConfigError('the OpenAPI document has a $ref cycle');
      node = pointer(doc, node['$ref']);
    }
    return isObject(node) ? node : {};
  };

  const parameter = (raw: unknown): Parameter | null => {
    const p = resolve(raw);
    const where = p['in'];
    if (typeof p['name'] !== 'string') return null;
    if (where !== 'path' && where !== 'query' && where !== 'header' && where !== 'cookie') return null;
    return {
      name: p['name'],
      in: where,
      required: where === 'path' || p['required'] === true,
      schema: resolve(p['schema']),
    };
  };

  const requestBody = (raw: unknown): RequestBody | null => {
    if (raw === undefined) return null;
    const body = resolve(raw);
    const content = isObject(body['content']) ? body['content'] : {};
    const types = Object.keys(content);
    const contentType =
      types.find((t) => /^application\/(.+\+)?json\b/.test(t)) ??
      types.find((t) => t === 'application/x-www-form-urlencoded') ??
      types[0];
    if (contentType === undefined) return null;
    const media = resolve(content[contentType]);
    return { required: body['required'] === true, contentType, schema: resolve(media['schema']) };
  };

  const rootSecurity = doc['security'];
  const operations: Operation[] = [];
  for (const [path, rawItem] of Object.entries(paths)) {
    const item = resolve(rawItem);
    const shared: unknown[] = Array.isArray(item['parameters']) ? (item['parameters'] as unknown[]) : [];
    for (const method of methods) {
      const op = item[method];
      if (!isObject(op)) continue;
      const byKey = new Map<string, Parameter>();
      const own: unknown[] = Array.isArray(op['parameters']) ? (op['parameters'] as unknown[]) : [];
      for (const raw of [...shared, ...own]) {
        const p = parameter(raw);
        if (p !== null) byKey.set(`${p.in}:${p.name}`, p);
      }
      const security = op['security'] ?? rootSecurity;
      const isPublic =
        !Array.isArray(security) ||
        security.length === 0 ||
        security.some((req) => isObject(req) && Object.keys(req).length === 0);
      operations.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        operationId: typeof op['operationId'] === 'string' ? op['operationId'] : null,
        parameters: [...byKey.values()],
        body: requestBody(op['requestBody']),
        public: isPublic,
      });
    }
  }
  const info = isObject(doc['info']) ? doc['info'] : {};
  return {
    openapi: version,
    title: typeof info['title'] === 'string' ? info['title'] : '',
    operations,
    resolve,
  };
}

/**
 * Loads an OpenAPI 3.x document from a file path or an http(s) URL.
 *
 * @example
 * const api = await loadApiDescription('http://127.0.0.1:8080/openapi.json');
 */
export async function loadApiDescription(source: string, timeoutMs = 10_000): Promise<ApiDescription> {
  let text: string;
  if (/^https?:\/\//i.test(source)) {
    let response: Response;
    try {
      response = await fetch(source, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
    } catch (error) {
      throw new ConfigError(`cannot fetch the OpenAPI document ${source}: ${(error as Error).message}`);
    }
    if (!response.ok)
      throw new ConfigError(`cannot fetch the OpenAPI document ${source}: HTTP ${response.status}`);
    text = await response.text();
  } else {
    try {
      text = await readFile(source, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read the OpenAPI document ${source}: ${(error as Error).message}`);
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ConfigError(`the OpenAPI document ${source} is not JSON (YAML is not read; convert it first)`);
  }
  return parseApiDescription(doc);
}
