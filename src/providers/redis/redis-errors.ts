// The Redis provider's errors: one class, one closed union of codes. None of them is a refusal seen by a
// probe (those are reported, never thrown); messages name ACL users but never a password.

export type RedisProviderErrorCode = 'invalid_options' | 'not_found' | 'probe_setup' | 'unsafe_server';

const defaultMessage: Record<RedisProviderErrorCode, string> = {
  invalid_options: 'The Redis provider options are not valid.',
  unsafe_server: 'The Redis server would let tenants step outside their ACL user.',
  not_found: 'The Redis resource does not exist.',
  probe_setup: 'The isolation probe could not be set up.',
};

/**
 * A Redis provider failure with a stable code.
 *
 * @example
 * try { await provider.credentials(ref); }
 * catch (e) { if (isRedisProviderError(e, 'not_found')) recreate(); else throw e; }
 */
export class RedisProviderError extends Error {
  readonly code: RedisProviderErrorCode;
  /** What the operator can do about it, in one line (for `unsafe_server`: the setting to change). */
  readonly hint: string | undefined;

  constructor(
    code: RedisProviderErrorCode,
    message?: string,
    options?: { cause?: unknown; hint?: string | undefined },
  ) {
    super(
      message ?? defaultMessage[code],
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'RedisProviderError';
    this.code = code;
    this.hint = options?.hint;
  }
}

/** True for a RedisProviderError, and when `code` is given, only for that code. */
export function isRedisProviderError(
  error: unknown,
  code?: RedisProviderErrorCode,
): error is RedisProviderError {
  return error instanceof RedisProviderError && (code === undefined || error.code === code);
}
