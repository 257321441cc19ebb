// The storage provider's errors: one class, one closed union of codes. The HTTP layer maps them by
// `code` (invalid_object_key → 400, object_too_large → 413, not_found → 404); `corrupt` is an integrity
// failure of stored data and deliberately falls through to a plain 500. Messages never echo object keys.

export type StorageErrorCode = 'invalid_object_key' | 'object_too_large' | 'not_found' | 'corrupt';

const defaultMessage: Record<StorageErrorCode, string> = {
  invalid_object_key: 'The object key must be 1 to 1024 bytes of UTF-8 without control characters.',
  object_too_large: 'The object is larger than allowed.',
  not_found: 'The storage resource does not exist.',
  corrupt: 'The stored object failed authentication.',
};

/**
 * A storage failure with a stable code.
 *
 * @example
 * try { await provider.putObject(ref, key, body, limit); }
 * catch (e) { if (isStorageError(e, 'object_too_large')) reply413(); else throw e; }
 */
export class StorageError extends Error {
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message?: string, options?: { cause?: unknown }) {
    super(
      message ?? defaultMessage[code],
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'StorageError';
    this.code = code;
  }
}

/** True for a StorageError, and when `code` is given, only for that code. */
export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  return error instanceof StorageError && (code === undefined || error.code === code);
}
