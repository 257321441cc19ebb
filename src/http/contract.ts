// The OpenAPI document as a contract: what @fastify/swagger writes from the route schemas, completed with
// what the schemas cannot say — the credential each operation takes (from its declared access, so the
// document cannot drift from the policy), the media type and headers each answer is sent with, the
// object key as a named parameter a generated client can fill in, the binary bodies, servers and tags.
// Tests validate every answer they get against the result (test/helpers/contract.ts), so a header, a
// status or a media type the server sends and this document does not name fails a test.
import type { Access } from '../policy/policy.js';
import type { CredentialKind } from '../policy/principal.js';
import { sessionCookie } from '../identity/sessions.js';

/** One security scheme per kind of credential, named as the document lists it. */
export const securitySchemes = {
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The operator token (`BULKHEAD_OPERATOR_TOKEN`): every route.',
  },
  provisioningKey: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'bhk_…',
    description:
      "A domain's provisioning key (`bhk_…`): its own domain's routes, as far as its scopes allow.",
  },
  accessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      "An EdDSA access token (JWT) from `POST /v1/auth/token` or a domain's token endpoint: its own domain's instances and volumes, and more for a domain admin.",
  },
  sessionCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: sessionCookie,
    description:
      'The browser session set by `POST /v1/auth/login`; what an access token may do, never together with one.',
  },
  metricsToken: {
    type: 'http',
    scheme: 'bearer',
    description: '`BULKHEAD_METRICS_TOKEN`: reads `/metrics` and nothing else.',
  },
  feedToken: {
    type: 'http',
    scheme: 'bearer',
    description: "`BULKHEAD_FEED_TOKEN`: reads every domain's revocations and nothing else.",
  },
  clientBasic: {
    type: 'http',
    scheme: 'basic',
    description:
      "OAuth client authentication at a domain's token, revocation and introspection endpoints (`client_secret_basic`); `client_secret_post` sends the same in the body instead.",
  },
} as const;

type SchemeName = keyof typeof securitySchemes;

const schemeOf: Record<CredentialKind, SchemeName> = {
  operator: 'operatorToken',
  provisioning_key: 'provisioningKey',
  access_token: 'accessToken',
  session: 'sessionCookie',
  metrics: 'metricsToken',
  feed: 'feedToken',
};

/** Operations that take OAuth client authentication (or none, for a public client or a refresh). */
const clientAuthenticated = new Set(['issuerToken', 'issuerRevoke', 'issuerIntrospect']);

/**
 * Operations that check a bearer access token of their own domain themselves (userinfo, RFC 6750), and
 * answer its absence with the Bearer challenge rather than the API's problem.
 */
const bearerChecked = new Set(['issuerUserinfo', 'issuerUserinfoPost']);

/** The `security` of an operation: each credential its access accepts, or `[]` for a public one. */
export function securityOf(access: Access, operationId: string | undefined): Record<string, string[]>[] {
  if (operationId !== undefined && clientAuthenticated.has(operationId)) {
    return [{ clientBasic: [] }, {}];
  }
  if (operationId !== undefined && bearerChecked.has(operationId)) return [{ accessToken: [] }];
  return access.credentials.map((kind) => ({ [schemeOf[kind]]: [] }));
}

export const tags = [
  { name: 'system', description: 'Liveness, readiness and Prometheus metrics.' },
  { name: 'domains', description: 'Tenants: create, suspend, resume and delete domains.' },
  { name: 'keys', description: "A domain's provisioning keys, and who a credential is." },
  { name: 'audit', description: 'The hash-chained audit log and its verification.' },
  {
    name: 'resources',
    description: 'Provisioned resources (databases, caches, queues, storage), blueprints and quotas.',
  },
  { name: 'objects', description: 'Objects in a storage resource, by key.' },
  { name: 'identity', description: "Signing keys and the JSON Web Key Sets that verify a domain's tokens." },
  { name: 'principals', description: "A domain's users and service accounts, and their sessions." },
  { name: 'auth', description: 'Sign-in, tokens, sessions and the revocation feed.' },
  { name: 'oidc', description: "Each domain's OpenID Provider: discovery, clients, token endpoints." },
  { name: 'compute', description: 'Instances and volumes.' },
  { name: 'grants', description: "Cross-domain grants: one domain acting on another's resources." },
  { name: 'verify', description: 'Isolation runs and provider probes.' },
  { name: 'billing', description: 'Usage, prices, periods, invoices and payments.' },
  { name: 'portal', description: "A domain's self-service portal: hosts and branding." },
];

/** A header's entry in the document: what it says, and its schema (text, perhaps one of `values`). */
interface HeaderSpec {
  description: string;
  schema: Record<string, unknown>;
}
const textHeader = (description: string, values?: string[]): HeaderSpec => ({
  description,
  schema: values === undefined ? { type: 'string' } : { type: 'string', enum: values },
});
const secondsHeader = (description: string): HeaderSpec => ({
  description,
  schema: { type: 'integer', minimum: 0 },
});

/** Headers, declared once and referred to from every answer that carries them. */
const headers: Record<string, HeaderSpec> = {
  RequestId: textHeader('The id of the request, as logged and as `requestId` in a problem.'),
  CacheControl: textHeader('`no-store`, unless the answer says otherwise.'),
  ContentTypeOptions: textHeader('Always `nosniff`.', ['nosniff']),
  RateLimit: textHeader(
    "What is left of the domain's request rate (IETF RateLimit header fields), on a request with a domain's credential.",
  ),
  RateLimitPolicy: textHeader("The domain's request rate (IETF RateLimit header fields)."),
  WwwAuthenticate: textHeader('On 401: the scheme to authenticate with.'),
  RetryAfter: secondsHeader('On 429 and 503: seconds to wait before trying again.'),
  Allow: textHeader('On 405: the methods the path takes.'),
  Location: textHeader('Where the new item is read.'),
  SetCookie: textHeader('The session cookie, set or cleared.'),
  Pragma: textHeader('`no-cache`, as RFC 6749 asks of token answers.'),
  IdempotentReplay: textHeader(
    '`true` when the answer is that of an earlier request with the same `Idempotency-Key`.',
    ['true'],
  ),
  AccessControlAllowOrigin: textHeader('Public documents may be read from any origin.'),
  ContentDisposition: textHeader('The file name of the document.'),
  Vary: textHeader('`Origin`: the CORS headers depend on the request’s Origin.'),
  AccessControlAllowOriginClient: textHeader(
    'The request’s Origin, when a client of the domain lists it among its `allowedOrigins`.',
  ),
  AccessControlAllowMethods: textHeader('On a preflight: the methods allowed.'),
  AccessControlAllowHeaders: textHeader('On a preflight: the headers allowed.'),
  AccessControlMaxAge: secondsHeader('On a preflight: seconds the browser may keep it.'),
  AccessControlExposeHeaders: textHeader(
    'With an allowed origin: the headers a browser app may read (`www-authenticate, retry-after`).',
  ),
  Link: textHeader('On a page of a list that has more: `<…>; rel="next"`, the next page.'),
  ContentSecurityPolicy: textHeader(
    'On a page of the issuer: what the page may load and where its form may post.',
  ),
  ReferrerPolicy: textHeader('On a page of the issuer: `same-origin`.'),
  FrameOptions: textHeader('On a page of the issuer: `DENY`, never shown in a frame.', ['DENY']),
};

const ref = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** A public document may be read from any origin, found or not. */
const publicDocument = {
  '2XX': { 'Access-Control-Allow-Origin': 'AccessControlAllowOrigin' },
  '4XX': { 'Access-Control-Allow-Origin': 'AccessControlAllowOrigin' },
};

/** A domain's token and userinfo endpoints answer the origins its clients allow (routes/oidc/cors.ts). */
const clientCors = {
  Vary: 'Vary',
  'Access-Control-Allow-Origin': 'AccessControlAllowOriginClient',
  'Access-Control-Expose-Headers': 'AccessControlExposeHeaders',
};
/** Every page of the issuer (routes/oidc/pages.ts), found or refused. */
const page = {
  'Content-Security-Policy': 'ContentSecurityPolicy',
  'Referrer-Policy': 'ReferrerPolicy',
  'X-Frame-Options': 'FrameOptions',
};
const preflight = {
  ...clientCors,
  'Access-Control-Allow-Methods': 'AccessControlAllowMethods',
  'Access-Control-Allow-Headers': 'AccessControlAllowHeaders',
  'Access-Control-Max-Age': 'AccessControlMaxAge',
};

/** Headers a given operation sends on given statuses (`2XX` for every success), beyond every answer's. */
const operationHeaders: Record<string, Record<string, Record<string, string>>> = {
  createDomain: { '201': { Location: 'Location' } },
  createResource: {
    '2XX': { Location: 'Location', 'Idempotent-Replay': 'IdempotentReplay' },
  },
  createBlueprint: { '201': { Location: 'Location' } },
  login: { '2XX': { 'Set-Cookie': 'SetCookie' } },
  logout: { '2XX': { 'Set-Cookie': 'SetCookie' } },
  token: { '2XX': { Pragma: 'Pragma' }, '4XX': { Pragma: 'Pragma' }, '5XX': { Pragma: 'Pragma' } },
  issuerToken: {
    '2XX': { Pragma: 'Pragma', ...clientCors },
    '4XX': { Pragma: 'Pragma', ...clientCors },
    '5XX': clientCors,
  },
  issuerUserinfo: { '2XX': clientCors, '4XX': clientCors },
  issuerUserinfoPost: { '2XX': clientCors, '4XX': clientCors },
  issuerTokenPreflight: { '2XX': preflight, '4XX': { Vary: 'Vary' } },
  issuerUserinfoPreflight: { '2XX': preflight, '4XX': { Vary: 'Vary' } },
  // The sign-in page sets the cookie binding its form; ending the session clears the issuer's cookie.
  issuerAuthorize: { '200': { ...page, 'Set-Cookie': 'SetCookie' }, '4XX': page },
  issuerEndSession: {
    '2XX': { ...page, 'Set-Cookie': 'SetCookie' },
    '303': { 'Set-Cookie': 'SetCookie' },
    '4XX': page,
  },
  issuerIntrospect: { '2XX': { Pragma: 'Pragma' }, '4XX': { Pragma: 'Pragma' } },
  issuerRevoke: { '4XX': { Pragma: 'Pragma' } },
  getOpenIdConfiguration: publicDocument,
  getAuthorizationServerMetadata: publicDocument,
  getAuthorizationServerMetadataInserted: publicDocument,
  getIssuerJwks: publicDocument,
  getInvoicePdf: { '2XX': { 'Content-Disposition': 'ContentDisposition' } },
};

/** Descriptions of the operations whose summary says all there is, so each operation has one. */
const descriptions: Record<string, string> = {
  healthz: 'Answers 200 while the process runs; no dependency is checked.',
  readyz: 'Answers 200 when the store answers a query, 503 otherwise.',
  resumeDomain: "Lifts a suspension: the domain's keys are accepted again.",
  getPool: "The domain's quotas and how much of each server's capacity it holds.",
  getObject: 'The bytes of the object stored under the key, as they were written.',
  listSigningKeys: "The domain's token signing keys: active, next and retired.",
  listPrincipals: "The domain's users and service accounts.",
  listOAuthClients: 'The OAuth clients registered for the domain, without their secrets.',
  deleteOAuthClient: 'Removes the client: its secret is refused from the next request on.',
  createInstance: 'Starts an instance for the domain on the compute backend.',
  listInstances: "The domain's instances.",
  getInstance: 'One instance of the domain.',
  createVolume: 'Creates a volume for the domain on the compute backend.',
  listVolumes: "The domain's volumes.",
  getVolume: 'One volume of the domain.',
  detachVolume: 'Detaches the volume from the instance it is attached to.',
  getPrices: "The price book, with every domain's overrides.",
  getInvoice: 'An invoice with its lines.',
  getPortal: "The domain's portal hosts and branding.",
};

/** The wildcard path of objects, and the named parameter it is documented as. */
const objectPath = '/v1/domains/{domainId}/resources/{resourceId}/objects/{*}';
const objectKeyPath = '/v1/domains/{domainId}/resources/{resourceId}/objects/{key}';
const objectKeyDescription =
  'The object key, 1–1024 characters. A `/` in a key may be sent as `%2F` (as generated clients do) or as it is; both name the same object.';
const binary = { type: 'string', format: 'binary' };

interface Operation {
  operationId?: string;
  description?: string;
  summary?: string;
  security?: unknown;
  parameters?: { name: string; in: string; description?: string; schema?: unknown }[];
  requestBody?: { required?: boolean; description?: string; content: Record<string, unknown> };
  responses: Record<string, Response>;
}
interface Response {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema?: Record<string, unknown> }>;
}
interface Document {
  info: Record<string, unknown>;
  paths: Record<string, Record<string, Operation>>;
  components?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

const isProblemRef = (schema: Record<string, unknown> | undefined) =>
  schema?.['$ref'] === '#/components/schemas/Problem';
const isOAuthErrorRef = (schema: Record<string, unknown> | undefined) =>
  schema?.['$ref'] === '#/components/schemas/OAuthError';

/** The headers every answer of an operation carries, by its status. */
function headersOf(operation: Operation, status: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    'X-Request-Id': ref('RequestId'),
    'Cache-Control': ref('CacheControl'),
    'X-Content-Type-Options': ref('ContentTypeOptions'),
  };
  // A request with a domain's credential is counted against the domain's share, whatever the route.
  out['RateLimit'] = ref('RateLimit');
  out['RateLimit-Policy'] = ref('RateLimitPolicy');
  if (status.startsWith('4')) {
    out['WWW-Authenticate'] = ref('WwwAuthenticate');
    out['Retry-After'] = ref('RetryAfter');
    out['Allow'] = ref('Allow');
  }
  if (status.startsWith('5')) out['Retry-After'] = ref('RetryAfter');
  // A page of a list links the next one (paging.ts); an OAuth error is never cached (oauth.ts).
  if (status.startsWith('2') && operation.parameters?.some((p) => p.in === 'query' && p.name === 'cursor'))
    out['Link'] = ref('Link');
  // Every create that takes an Idempotency-Key says when its answer is a replay (plugins/idempotency.ts).
  if (
    status.startsWith('2') &&
    operation.parameters?.some((p) => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key')
  )
    out['Idempotent-Replay'] = ref('IdempotentReplay');
  const content = Object.values(operation.responses[status]?.content ?? {});
  if (/^[45]/.test(status) && content.some((media) => isOAuthErrorRef(media.schema)))
    out['Pragma'] = ref('Pragma');
  const own = operationHeaders[operation.operationId ?? ''] ?? {};
  for (const [range, named] of Object.entries(own)) {
    if (range === status || (range.endsWith('XX') && range[0] === status[0])) {
      for (const [header, component] of Object.entries(named)) out[header] = ref(component);
    }
  }
  return out;
}

function completeOperation(operation: Operation): void {
  const description = operation.description ?? descriptions[operation.operationId ?? ''];
  if (description !== undefined) operation.description = description;
  for (const [status, response] of Object.entries(operation.responses)) {
    // Problems are sent as application/problem+json (problem.ts), whatever the operation's success is.
    const content = response.content;
    if (content !== undefined && /^[45]/.test(status)) {
      for (const [type, media] of Object.entries(content)) {
        if (isProblemRef(media.schema) && type !== 'application/problem+json') {
          delete content[type];
          content['application/problem+json'] = media;
        }
      }
    }
    response.headers = { ...headersOf(operation, status), ...response.headers };
  }
}

/** The object routes: a named `{key}` parameter and their bodies as bytes. */
function objectOperations(paths: Document['paths']): void {
  const item = paths[objectPath];
  if (item === undefined) return;
  delete paths[objectPath];
  for (const operation of Object.values(item)) {
    for (const parameter of operation.parameters ?? []) {
      if (parameter.name === '*') {
        parameter.name = 'key';
        parameter.description = objectKeyDescription;
      }
    }
  }
  if (item['put'] !== undefined) {
    item['put'].requestBody = {
      required: true,
      description: 'The bytes of the object, whatever their media type.',
      content: { 'application/octet-stream': { schema: binary } },
    };
  }
  const ok = item['get']?.responses['200'];
  if (ok !== undefined) ok.content = { 'application/octet-stream': { schema: binary } };
  paths[objectKeyPath] = item;
}

/** An invoice's PDF: its bytes, declared as the document they are. */
function pdfOperations(paths: Document['paths']): void {
  const ok = paths['/v1/domains/{domainId}/invoices/{invoiceId}.pdf']?.['get']?.responses['200'];
  if (ok !== undefined) ok.content = { 'application/pdf': { schema: binary } };
}

/**
 * The issuer's browser endpoints answer a page for the person (the sign-in page, or why the request cannot
 * go on) or send the browser on to the client with a 303 (docs/identity.md).
 */
function browserOperations(paths: Document['paths']): void {
  for (const [path, page] of [
    ['/d/{slug}/authorize', 'The sign-in page of the issuer.'],
    ['/d/{slug}/end-session', 'A page saying the session ended (without a post_logout_redirect_uri).'],
  ] as const) {
    const get = paths[path]?.['get'];
    if (get === undefined) continue;
    get.responses['200'] = { description: page, content: { 'text/html': { schema: { type: 'string' } } } };
    get.responses['303'] = {
      description: 'The browser is sent on to the client’s redirect URI.',
      headers: {
        Location: {
          description: 'The client’s redirect URI with the answer in its query.',
          schema: { type: 'string' },
        },
      },
    };
    for (const [status, response] of Object.entries(get.responses)) {
      if (!/^[45]/.test(status) || response.content === undefined) continue;
      // Swagger put the problem under the page's type; a bad request is still answered as a problem.
      const problem = response.content['text/html'];
      if (isProblemRef(problem?.schema)) response.content['application/problem+json'] = problem!;
      response.content['text/html'] = { schema: { type: 'string' } };
    }
  }
}

/** The document @fastify/swagger wrote, completed (in place) and returned. */
export function completeDocument(document: Document): Document {
  document.info['license'] = { name: 'Apache-2.0', identifier: 'Apache-2.0' };
  document.info['contact'] = { name: 'Bulkhead', url: 'https://bulkhead.dev' };
  document['servers'] = [
    {
      url: '{origin}',
      description: 'The Bulkhead server (its `BULKHEAD_PUBLIC_URL`).',
      variables: {
        origin: { default: 'http://localhost:8080', description: 'Scheme, host and port.' },
      },
    },
  ];
  document['tags'] = tags;
  document.components ??= {};
  document.components['securitySchemes'] = { ...securitySchemes };
  document.components['headers'] = headers;
  objectOperations(document.paths);
  pdfOperations(document.paths);
  browserOperations(document.paths);
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) completeOperation(operation);
  }
  return document;
}
