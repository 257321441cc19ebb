// Every error leaves the server as application/problem+json (RFC 9457) with a stable `code` and the
// request id. Bodies never carry stack traces or driver messages.
import type { FastifyError, FastifyReply } from 'fastify';
import { readTimestamp } from '../domain/timestamp.js';
import { BulkheadError, errorStatus, errorTitle, type ErrorCode, type ErrorDetail } from '../errors.js';
import { safeIntegerKeyword, storableTextKeyword } from './validation.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  requestId: string;
  /** The cause in a stable code narrower than `code`, e.g. a backend's `unsafe_server`. */
  reason?: string;
  /** What to do about it, in one line. */
  hint?: string;
  errors?: ErrorDetail[];
}

export function problemOf(error: BulkheadError, requestId: string): Problem {
  const problem: Problem = {
    type: `https://bulkhead.dev/problems/${error.code.replaceAll('_', '-')}`,
    title: errorTitle[error.code],
    status: error.status,
    code: error.code,
    detail: error.message,
    requestId,
  };
  if (error.reason !== undefined) problem.reason = error.reason;
  if (error.hint !== undefined) problem.hint = error.hint;
  if (error.details !== undefined && error.details.length > 0) problem.errors = [...error.details];
  return problem;
}

/** The headers a problem brings: when to retry, and how to authenticate. */
export function problemHeaders(reply: FastifyReply, error: BulkheadError): void {
  const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
  if (typeof retryAfter === 'number') reply.header('retry-after', retryAfter);
  if (error.code === 'invalid_credentials' || error.code === 'unauthenticated') {
    reply.header(
      'www-authenticate',
      error.code === 'invalid_credentials' ? 'Bearer error="invalid_token"' : 'Bearer',
    );
  }
}

export function sendProblem(reply: FastifyReply, error: BulkheadError): FastifyReply {
  problemHeaders(reply, error);
  return reply
    .code(error.status)
    .type('application/problem+json')
    .send(problemOf(error, String(reply.request.id)));
}

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  /** The refused value (the validators run with `verbose`). */
  data?: unknown;
}

/** Why a value given as a date-time was refused. */
function timestampDetail(path: string, value: unknown): ErrorDetail {
  const reading = typeof value === 'string' ? readTimestamp(value) : null;
  if (reading === null || reading.ok) {
    return { path, code: 'invalid_timestamp', message: 'must be an RFC 3339 date-time.' };
  }
  const code = reading.problem === 'out_of_range' ? 'timestamp_out_of_range' : 'invalid_timestamp';
  return { path, code, message: reading.message };
}

const partPointer: Record<string, string> = {
  body: '/body',
  querystring: '/query',
  params: '/path',
  headers: '/headers',
};

function detailOf(part: string, e: AjvError): ErrorDetail {
  const base = `${partPointer[part] ?? `/${part}`}${e.instancePath}`;
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = String(e.params['additionalProperty']);
      return { path: `${base}/${field}`, code: 'unknown_field', message: `"${field}" is not allowed here.` };
    }
    case 'required': {
      const field = String(e.params['missingProperty']);
      return { path: `${base}/${field}`, code: 'missing_field', message: `"${field}" is required.` };
    }
    case 'type':
      return { path: base, code: 'invalid_type', message: `must be ${String(e.params['type'])}.` };
    case 'format':
      if (e.params['format'] === 'date-time') return timestampDetail(base, e.data);
      break;
    case 'maxLength':
      return { path: base, code: 'text_too_long', message: e.message ?? 'is too long.' };
    case storableTextKeyword:
      return { path: base, code: 'invalid_text', message: e.message ?? 'cannot be stored.' };
    case safeIntegerKeyword:
      return { path: base, code: 'number_out_of_range', message: e.message ?? 'is out of range.' };
    default:
      break;
  }
  if (part === 'params' && /Id$/.test(e.instancePath)) {
    return { path: base, code: 'invalid_id', message: 'is not a valid id.' };
  }
  return { path: base, code: 'invalid_request', message: e.message ?? 'is not valid.' };
}

/** Turns whatever a route threw into a BulkheadError; unknown errors become `internal`. */
export function toBulkheadError(error: FastifyError | BulkheadError | Error): BulkheadError {
  if (error instanceof BulkheadError) return error;
  const fe = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (Array.isArray(fe.validation)) {
    const part = fe.validationContext ?? 'body';
    const details = fe.validation.map((e) => detailOf(part, e));
    const first = details[0]!;
    return new BulkheadError(first.code, `${first.path} ${first.message}`, { details });
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new BulkheadError('malformed_json', 'The body is not valid JSON.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BulkheadError('body_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new BulkheadError('unsupported_media_type', 'Send the body as application/json.');
    default:
      break;
  }
  if (fe.statusCode === 400 && fe instanceof SyntaxError) return new BulkheadError('malformed_json');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code =
      (Object.keys(errorStatus) as ErrorCode[]).find((c) => errorStatus[c] === fe.statusCode) ??
      'invalid_request';
    return new BulkheadError(code);
  }
  return new BulkheadError('internal', 'Internal error.', { cause: error });
}
