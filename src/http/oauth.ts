// The OAuth endpoints (token, revocation, introspection) answer errors as RFC 6749 §5.2 says, so OAuth
// clients can read them: `{"error":"invalid_grant","error_description":…}` as application/json, never
// cached, with `WWW-Authenticate: Basic` on invalid_client. Bulkhead's precise code stays beside it in
// `code` (and the request id in `requestId`), which OAuth clients ignore. Every other route answers
// problem+json (problem.ts). Client credentials from HTTP Basic are decoded here too (RFC 6749 §2.3.1).
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BulkheadError, type ErrorCode } from '../errors.js';
import { toBulkheadError } from './problem.js';

/** The error codes of RFC 6749 §5.2 (and RFC 7009's), as Bulkhead answers them. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'invalid_scope'
  | 'server_error'
  | 'temporarily_unavailable';

export const OAuthError = Type.Object(
  {
    error: Type.String(),
    error_description: Type.String(),
    code: Type.String(),
    requestId: Type.String(),
  },
  { $id: 'OAuthError' },
);
type OAuthErrorBody = Static<typeof OAuthError>;

/** The 4xx and 5xx responses of an OAuth endpoint, for its route schema. */
export const oauthErrorResponses = {
  '4xx': Type.Unsafe<OAuthErrorBody>({
    $ref: 'OAuthError#',
    description: 'RFC 6749 §5.2: see `error`; `code` is Bulkhead’s narrower code.',
  }),
  '5xx': Type.Unsafe<OAuthErrorBody>({ $ref: 'OAuthError#', description: 'The server failed.' }),
};

const direct: Partial<Record<ErrorCode, OAuthErrorCode>> = {
  invalid_grant: 'invalid_grant',
  invalid_client: 'invalid_client',
  unsupported_grant_type: 'unsupported_grant_type',
  unauthorized_client: 'unauthorized_client',
  unavailable: 'temporarily_unavailable',
};

/** The OAuth error of a Bulkhead error; any other refusal is `invalid_request`, any failure `server_error`. */
export function oauthCodeOf(error: BulkheadError): OAuthErrorCode {
  return direct[error.code] ?? (error.status >= 500 ? 'server_error' : 'invalid_request');
}

export function sendOAuthError(reply: FastifyReply, error: BulkheadError): FastifyReply {
  const code = oauthCodeOf(error);
  const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
  if (typeof retryAfter === 'number') reply.header('retry-after', retryAfter);
  // RFC 6749 §5.2: a client that tried HTTP Basic, or no authentication at all, is challenged for Basic;
  // one that sent its secret in the form (client_secret_post) is answered in the body only.
  const body0 = reply.request.body as { client_secret?: unknown } | undefined;
  const posted =
    !/^Basic /i.test(reply.request.headers.authorization ?? '') && typeof body0?.client_secret === 'string';
  if (code === 'invalid_client' && !posted)
    reply.header('www-authenticate', 'Basic realm="bulkhead", charset="UTF-8"');
  const body: OAuthErrorBody = {
    error: code,
    error_description: error.status >= 500 ? 'Internal error.' : error.message,
    code: error.code,
    requestId: String(reply.request.id),
  };
  return reply
    .code(error.status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .type('application/json')
    .send(body);
}

/** The error handler of an OAuth endpoint's scope. */
export function oauthErrorHandler(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const refusal = toBulkheadError(error);
  if (refusal.status >= 500) request.log.error({ err: error }, 'request failed');
  else request.log.info({ code: refusal.code }, 'request refused');
  return sendOAuthError(reply, refusal);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The client id and secret of an HTTP Basic header (RFC 6749 §2.3.1: each form-urlencoded, then joined
 * with a colon and base64-encoded); null without one. A Basic header that does not decode at every step
 * is `invalid_client`, never a guess at what it meant.
 */
export function basicCredentials(header: string | undefined): { id: string; secret: string } | null {
  const basic = /^Basic +(.*)$/i.exec(header ?? '');
  if (basic === null) return null;
  const refuse = () => new BulkheadError('invalid_client', 'The Basic credentials do not decode.');
  const text = basic[1]!.replace(/=+$/, '');
  const bytes = Buffer.from(text, 'base64');
  if (text === '' || bytes.toString('base64').replace(/=+$/, '') !== text) throw refuse();
  let decoded: string;
  try {
    decoded = strictUtf8.decode(bytes);
  } catch {
    throw refuse();
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) throw refuse();
  try {
    const form = (part: string) => decodeURIComponent(part.replaceAll('+', ' '));
    return { id: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
  } catch {
    throw refuse();
  }
}
