// The RabbitMQ provider's errors: one class, one closed union of codes. A refusal seen by a probe is
// reported, never thrown; messages name vhosts, users and API paths but never a password or the admin URL.

export type RabbitmqProviderErrorCode = 'invalid_options' | 'not_found' | 'management' | 'probe_setup';

const defaultMessage: Record<RabbitmqProviderErrorCode, string> = {
  invalid_options: 'The RabbitMQ provider options are not valid.',
  not_found: 'The RabbitMQ resource does not exist.',
  management: 'The RabbitMQ management API gave an unexpected answer.',
  probe_setup: 'The isolation probe could not be set up.',
};

/**
 * A RabbitMQ provider failure with a stable code.
 *
 * @example
 * try { await provider.credentials(ref); }
 * catch (e) { if (isRabbitmqProviderError(e, 'not_found')) recreate(); else throw e; }
 */
export class RabbitmqProviderError extends Error {
  readonly code: RabbitmqProviderErrorCode;

  constructor(code: RabbitmqProviderErrorCode, message?: string, options?: { cause?: unknown }) {
    super(
      message ?? defaultMessage[code],
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'RabbitmqProviderError';
    this.code = code;
  }
}

/** True for a RabbitmqProviderError, and when `code` is given, only for that code. */
export function isRabbitmqProviderError(
  error: unknown,
  code?: RabbitmqProviderErrorCode,
): error is RabbitmqProviderError {
  return error instanceof RabbitmqProviderError && (code === undefined || error.code === code);
}
