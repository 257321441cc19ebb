// Every answer a test gets must be one the OpenAPI document declares: its status (or a range of it), its
// media type, its body (against the declared schema, with Ajv) and each of its headers. `checkAnswers` is
// installed on every app a suite builds (test/setup/answers.ts adds it to `appHooks`); a violation is
// recorded here (a body's once `settleAnswers` runs), and the suite fails after its last test with the
// list of them.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import type { App } from '../../src/http/types.js';

/** What the answers of this test file broke, one line each (repeats of the same line are kept once). */
export const violations = new Set<string>();

/** Headers of the transport, never declared: HTTP itself and Node set them. */
const transportHeaders = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
]);

interface Media {
  schema?: unknown;
}
interface Response {
  headers?: Record<string, unknown>;
  content?: Record<string, Media>;
}
interface Document {
  paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
}

/** `/v1/domains/:domainId/resources/:resourceId/objects/*` → the document's `{…}` path. */
export function documentPath(route: string): string {
  return route.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\/\*$/, '/{key}');
}

/** The issuer path route a hidden portal-host issuer route (`/token`) serves again, or null. */
function issuerTwin(route: string): string | null {
  return issuerSuffixes.has(route) ? `/d/:slug${route}` : null;
}

const issuerSuffixes = new Set([
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
  '/jwks.json',
  '/authorize',
  '/token',
  '/userinfo',
  '/introspect',
  '/revoke',
  '/end-session',
]);

const pointerPart = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');

/** The declared answer for a status: the status itself, then its range (`4XX`), then `default`. */
function declared(responses: Record<string, Response>, status: number): [string, Response] | null {
  for (const key of [String(status), `${String(status)[0]}XX`, 'default']) {
    const response = responses[key];
    if (response !== undefined) return [key, response];
  }
  return null;
}

/** The media type's entry in `content`: exact, or by a `type/*` or `*\/*` range. */
function mediaKey(content: Record<string, Media>, type: string): string | null {
  if (type in content) return type;
  const range = `${type.split('/')[0]}/*`;
  if (range in content) return range;
  return '*/*' in content ? '*/*' : null;
}

interface Contract {
  document: Document;
  validator(pointer: string): ValidateFunction;
}

/**
 * The document and its compiled validators, once per process for each distinct document: the apps of a
 * suite (and the dozens a property suite builds) share one Ajv and each schema is compiled once.
 */
const contracts = new Map<string, Contract>();

function contractOf(app: App): Contract {
  const text = JSON.stringify(app.swagger());
  let contract = contracts.get(text);
  if (contract === undefined) {
    const document = JSON.parse(text) as Document;
    const ajv = new Ajv2020({ strict: false, validateSchema: false, allErrors: false });
    addFormats.default(ajv);
    ajv.addFormat('binary', true);
    ajv.addSchema(document, 'openapi.json');
    const validators = new Map<string, ValidateFunction>();
    contract = {
      document,
      validator(pointer) {
        let validate = validators.get(pointer);
        if (validate === undefined) {
          validate = ajv.compile({ $ref: `openapi.json#${pointer}` });
          validators.set(pointer, validate);
        }
        return validate;
      },
    };
    contracts.set(text, contract);
  }
  return contract;
}

/**
 * The check as an app hook that records what it finds in `found` (see `appHooks` in
 * src/http/app-hooks.ts); the document is read when the first answer is checked, once the app is ready.
 */
export function answerCheck(found: Set<string>): (app: App) => void {
  return (app) => checkInto(app, found);
}

/** Adds the check to an app before it is ready, recording into `violations`. */
export const checkAnswers = answerCheck(violations);

function checkInto(app: App, violations: Set<string>): void {
  let contract: Contract | null = null;
  const payloads = new WeakMap<object, unknown>();
  app.addHook('onSend', async (request, _reply, payload) => {
    payloads.set(request, payload);
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const url = request.routeOptions.url;
    // An answer of no route (an unknown path, a method no route takes) belongs to no operation.
    if (url === undefined) return;
    // A portal host's issuer endpoint (`/token` …) answers as the one the document declares at the
    // issuer's path (`/d/{slug}/token` …): it is the same operation, for the issuer of that host.
    const twin = request.routeOptions.schema?.hide === true ? issuerTwin(url) : url;
    if (twin === null) return;
    const route = twin;
    const path = documentPath(route);
    const method = request.method === 'HEAD' ? 'get' : request.method.toLowerCase();
    contract ??= contractOf(app);
    const operation = contract.document.paths[path]?.[method];
    const where = `${request.method} ${path} → ${reply.statusCode}`;
    if (operation === undefined) {
      // The portal's pages and assets are hidden from the document by design.
      if (request.routeOptions.schema === undefined) return;
      violations.add(`${where}: the operation is not in the document`);
      return;
    }
    const found = declared(operation.responses, reply.statusCode);
    if (found === null) {
      violations.add(`${where}: the status is not declared`);
      return;
    }
    const [statusKey, response] = found;
    // Over a socket, the headers Fastify sets go out with writeHead and are not the raw response's.
    const headers: Record<string, string | number | string[] | undefined> = {
      ...reply.raw.getHeaders(),
      ...reply.getHeaders(),
    };
    const declaredHeaders = new Set(Object.keys(response.headers ?? {}).map((h) => h.toLowerCase()));
    for (const name of Object.keys(headers)) {
      if (!transportHeaders.has(name) && !declaredHeaders.has(name)) {
        violations.add(`${where}: the header ${name} is not declared`);
      }
    }
    const payload = payloads.get(request);
    const empty =
      payload === undefined ||
      payload === null ||
      payload === '' ||
      (Buffer.isBuffer(payload) && payload.length === 0);
    if (empty || request.method === 'HEAD' || reply.statusCode === 204 || reply.statusCode === 304) return;
    const type = String(headers['content-type'] ?? '')
      .split(';', 1)[0]!
      .trim()
      .toLowerCase();
    const content = response.content ?? {};
    const key = mediaKey(content, type);
    if (key === null) {
      violations.add(`${where}: the media type ${type || '(none)'} is not declared`);
      return;
    }
    if (typeof payload !== 'string' || !/[/+]json$/.test(type)) return;
    if (content[key]!.schema === undefined) return;
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      violations.add(`${where}: the body is not JSON`);
      return;
    }
    const pointer = ['', 'paths', path, method, 'responses', statusKey, 'content', key, 'schema']
      .map(pointerPart)
      .join('/');
    const checked = contract;
    bodies.push(() => {
      const validate = checked.validator(pointer);
      if (!validate(body)) {
        const error = validate.errors?.[0];
        violations.add(
          `${where}: the body does not match (${error?.instancePath || '/'} ${error?.message ?? ''})`,
        );
      }
    });
  });
}

/**
 * The bodies still to validate. Compiling a schema blocks the process for a while on a busy machine, and
 * the suites that time answers (fair sharing, held refusals) must not see that: a body is validated when
 * the suite settles, after its tests.
 */
const bodies: (() => void)[] = [];

/** Validates every body answered so far, recording what does not match where its check records. */
export function settleAnswers(): void {
  for (const validate of bodies.splice(0)) validate();
}
