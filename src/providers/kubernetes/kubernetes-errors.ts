// The Kubernetes provider's errors: one class, one closed union of codes. A probe's refusals are
// reported, never thrown; messages name namespaces and objects but never a token.

export type KubernetesProviderErrorCode = 'invalid_options' | 'not_found' | 'api_failed';

const defaultMessage: Record<KubernetesProviderErrorCode, string> = {
  invalid_options: 'The Kubernetes provider options are not valid.',
  not_found: 'The Kubernetes resource does not exist.',
  api_failed: 'The Kubernetes API server refused or failed a request.',
};

/**
 * A Kubernetes provider failure with a stable code.
 *
 * @example
 * try { await provider.create(ref); }
 * catch (e) { if (isKubernetesProviderError(e, 'api_failed')) retryLater(); else throw e; }
 */
export class KubernetesProviderError extends Error {
  readonly code: KubernetesProviderErrorCode;

  constructor(code: KubernetesProviderErrorCode, message?: string, options?: { cause?: unknown }) {
    super(
      message ?? defaultMessage[code],
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'KubernetesProviderError';
    this.code = code;
  }
}

/** True for a KubernetesProviderError, and when `code` is given, only for that code. */
export function isKubernetesProviderError(
  error: unknown,
  code?: KubernetesProviderErrorCode,
): error is KubernetesProviderError {
  return error instanceof KubernetesProviderError && (code === undefined || error.code === code);
}
