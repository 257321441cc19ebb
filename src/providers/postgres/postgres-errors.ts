// The PostgreSQL provider's errors: one class, one closed union of codes. None of them is a refusal seen
// by a probe (those are reported, never thrown); messages name backend objects but never a secret.

export type PostgresProviderErrorCode = 'invalid_options' | 'not_found' | 'probe_setup' | 'unsafe_server';

const defaultMessage: Record<PostgresProviderErrorCode, string> = {
  invalid_options: 'The PostgreSQL provider options are not valid.',
  not_found: 'The PostgreSQL resource does not exist.',
  probe_setup: 'The isolation probe could not be set up.',
  unsafe_server: 'The PostgreSQL server would let tenants log in as one another.',
};

/**
 * A PostgreSQL provider failure with a stable code.
 *
 * @example
 * try { await provider.credentials(ref); }
 * catch (e) { if (isPostgresProviderError(e, 'not_found')) recreate(); else throw e; }
 */
export class PostgresProviderError extends Error {
  readonly code: PostgresProviderErrorCode;
  /** What the operator can do about it, in one line (for `unsafe_server`: the setting to change). */
  readonly hint: string | undefined;

  constructor(
    code: PostgresProviderErrorCode,
    message?: string,
    options?: { cause?: unknown; hint?: string | undefined },
  ) {
    super(
      message ?? defaultMessage[code],
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'PostgresProviderError';
    this.code = code;
    this.hint = options?.hint;
  }
}

/** True for a PostgresProviderError, and when `code` is given, only for that code. */
export function isPostgresProviderError(
  error: unknown,
  code?: PostgresProviderErrorCode,
): error is PostgresProviderError {
  return error instanceof PostgresProviderError && (code === undefined || error.code === code);
}
