// What a failed backend call may tell the tenant that asked: a stable reason, one line that is safe to
// show, and what to do about it. Providers' own errors name backend objects but never a secret, so their
// code and message pass; anything else a driver says stays in the server's log, and only its network
// error code (ECONNREFUSED …) is read, to say that the backend did not answer and where it was looked for.
import { describeBackend, isProviderError, type BackendIdentity } from './provider.js';
import { settingOf } from './settings.js';

export interface BackendFailure {
  /**
   * `unsafe_server`, `not_found`, … (a provider's own code), `backend_unreachable` (no answer), or
   * `backend_error` (anything else; the server's log has the backend's words).
   */
  readonly reason: string;
  /** One line, without secrets. */
  readonly message: string;
  /** What to do about it, in one line. */
  readonly hint: string;
  /**
   * True when the backend refused before it made anything (an unsafe server, no connection at all): the
   * resource holds nothing there, so its name may be given to a new attempt.
   */
  readonly nothingMade: boolean;
}

/** Network errors of a connection that was never made: nothing can have reached the backend. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Network errors that may come after a connection did its part. */
const CUT_OFF = new Set(['ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Refusals a provider makes before it touches the backend. */
const REFUSED_BEFORE_ANYTHING = new Set(['unsafe_server']);

/** The first network error code in the error, its causes, or the errors it aggregates. */
function networkCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 5) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (NEVER_CONNECTED.has(code) || CUT_OFF.has(code))) return code;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  const inner = (error as { errors?: unknown }).errors;
  for (const each of Array.isArray(inner) ? (inner as unknown[]) : []) {
    const found = networkCode(each, depth + 1);
    if (found !== undefined) return found;
  }
  return networkCode((error as { cause?: unknown }).cause, depth + 1);
}

/**
 * Describes a failed call to `backend` in words a tenant may see.
 *
 * @example
 * const failure = backendFailure(error, provider.backend);
 * throw new BulkheadError('provisioning_failed', failure.message, { reason: failure.reason, hint: failure.hint });
 */
export function backendFailure(error: unknown, backend: BackendIdentity): BackendFailure {
  if (isProviderError(error) && error.code !== 'invalid_options') {
    return {
      reason: error.code,
      message: error.message,
      hint:
        error.hint ??
        (error.code === 'not_found'
          ? `${describeBackend(backend)} does not hold it: delete the resource and create a new one`
          : "the server's log has the details under this request's id"),
      nothingMade: REFUSED_BEFORE_ANYTHING.has(error.code),
    };
  }
  const network = networkCode(error);
  if (network !== undefined) {
    return {
      reason: 'backend_unreachable',
      message: `${describeBackend(backend)} did not answer (${network})`,
      hint:
        `check that ${backend.location} is running and reachable from this server, or start the server ` +
        `with ${settingOf(backend)} pointing at one that is; then try again`,
      nothingMade: NEVER_CONNECTED.has(network),
    };
  }
  return {
    reason: 'backend_error',
    message: `${describeBackend(backend)} failed`,
    hint: "the server's log has the backend's own message under this request's id",
    nothingMade: false,
  };
}
