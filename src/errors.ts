// Every error Bulkhead answers with has a stable code from one closed union. The HTTP layer maps
// codes to statuses in one place; anything that is not a BulkheadError becomes a plain 500.

export const errorStatus = {
  invalid_request: 400,
  duplicate_header: 400,
  malformed_json: 400,
  unknown_field: 400,
  missing_field: 400,
  invalid_type: 400,
  invalid_id: 400,
  invalid_text: 400,
  text_too_long: 400,
  invalid_timestamp: 400,
  timestamp_out_of_range: 400,
  number_out_of_range: 400,
  invalid_slug: 400,
  slug_length: 400,
  slug_reserved: 400,
  slug_confusable: 400,
  invalid_host: 400,
  invalid_image: 400,
  unauthenticated: 401,
  invalid_grant: 400,
  unsupported_grant_type: 400,
  unauthorized_client: 400,
  invalid_client: 401,
  weak_password: 400,
  email_taken: 409,
  invalid_credentials: 401,
  operator_required: 403,
  scope_denied: 403,
  key_required: 403,
  admin_required: 403,
  csrf_rejected: 403,
  not_found: 404,
  method_not_allowed: 405,
  slug_taken: 409,
  host_taken: 409,
  domain_deleted: 409,
  key_revoked: 409,
  slug_quarantined: 409,
  quota_exceeded: 409,
  name_taken: 409,
  idempotency_conflict: 409,
  idempotency_key_reused: 422,
  precondition_failed: 412,
  invalid_precondition: 400,
  invalid_cursor: 400,
  resource_not_ready: 409,
  backend_not_configured: 409,
  volume_attached: 409,
  volume_too_large: 400,
  unsupported_kind: 400,
  invalid_object_key: 400,
  unknown_meter: 400,
  period_open: 409,
  period_closed: 409,
  invoice_status: 409,
  payments_not_configured: 409,
  payment_method_missing: 409,
  payment_failed: 402,
  invalid_signature: 400,
  body_too_large: 413,
  object_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  provisioning_failed: 502,
  probe_failed: 502,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export const errorTitle: Record<ErrorCode, string> = {
  invalid_request: 'The request is not valid',
  duplicate_header: 'A header that may appear once appears more than once',
  malformed_json: 'The body is not valid JSON',
  unknown_field: 'The body has a field that is not allowed',
  missing_field: 'A required field is missing',
  invalid_type: 'A field has the wrong type',
  invalid_id: 'The id is not valid',
  invalid_text: 'A text field holds a character that cannot be stored (NUL or a lone surrogate)',
  text_too_long: 'A text field is longer than allowed',
  invalid_timestamp: 'A time is not an RFC 3339 date-time that can be stored',
  timestamp_out_of_range: 'A time is outside the years 0001 to 9999',
  number_out_of_range: 'A number is outside the range allowed',
  invalid_slug: 'The slug is not a valid DNS label',
  slug_length: 'The slug must be 3 to 63 characters',
  slug_reserved: 'The slug is reserved',
  slug_confusable: 'The slug contains characters that imitate others',
  invalid_host: 'The host is not a DNS name a portal can be served at',
  invalid_image: 'The image is not a PNG, JPEG or WebP file of an allowed size',
  unauthenticated: 'Credentials are required',
  invalid_grant: 'The credentials of the grant are not valid',
  unsupported_grant_type: 'The grant type is not supported',
  unauthorized_client: 'The client may not use this grant',
  invalid_client: 'The client credentials are not valid',
  weak_password: 'The password is too short',
  email_taken: 'A principal with this email already exists in the domain',
  invalid_credentials: 'The credentials are not valid',
  operator_required: 'This operation needs the operator token',
  scope_denied: 'The key is not scoped for this kind of resource or action',
  key_required: "This operation needs the domain's own provisioning key",
  admin_required: 'This operation needs the operator or an admin of the domain',
  csrf_rejected: 'A cookie-authenticated change needs an Origin header of this site',
  slug_quarantined: 'The slug belonged to a recently deleted domain',
  quota_exceeded: "The domain's quota does not allow this",
  name_taken: 'A live resource of this kind already has this name',
  idempotency_conflict: 'The idempotency key was used for a different request',
  idempotency_key_reused: 'The Idempotency-Key was used before with another request body',
  precondition_failed: 'The item has changed: its ETag does not match If-Match',
  invalid_precondition: 'The If-Match or If-None-Match header is not a list of entity tags or `*`',
  invalid_cursor: 'The paging cursor is not one this list gave out',
  resource_not_ready: 'The resource is not ready',
  backend_not_configured: 'The resource lives on a backend this server is not configured for',
  volume_attached: 'The volume is attached to an instance',
  volume_too_large: 'The volume is larger than allowed',
  unsupported_kind: 'No provider is configured for this kind of resource',
  invalid_object_key: 'The object key is not valid',
  unknown_meter: 'The price book has no such meter',
  period_open: 'The billing period has not ended yet',
  period_closed: "The billing period is closed: the domain's invoice for it is written",
  invoice_status: "The invoice's status does not allow this change",
  payments_not_configured: 'Payments through Stripe are not configured on this server',
  payment_method_missing: 'The domain has no payment method to charge',
  payment_failed: 'The payment provider refused the payment',
  invalid_signature: "The webhook's signature is missing, forged or too old",
  object_too_large: 'The object is too large',
  provisioning_failed: 'The backend could not allocate the resource',
  probe_failed: 'The isolation probe could not run',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  slug_taken: 'The slug is already taken',
  host_taken: 'The host is already a portal host of another domain',
  domain_deleted: 'The domain is deleted',
  key_revoked: 'The key is revoked',
  body_too_large: 'The body is too large',
  unsupported_media_type: 'The content type is not supported',
  rate_limited: 'Too many requests',
  internal: 'Internal error',
  unavailable: 'The service is not available',
};

export interface BulkheadErrorOptions {
  readonly cause?: unknown;
  readonly details?: readonly ErrorDetail[];
  /** Why, as a stable code narrower than `code`: a backend's own reason (`unsafe_server` …). */
  readonly reason?: string | undefined;
  /** What to do about it, in one line, for a person. Never a secret. */
  readonly hint?: string | undefined;
}

export class BulkheadError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: readonly ErrorDetail[] | undefined;
  readonly reason: string | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message?: string, options?: BulkheadErrorOptions) {
    super(message ?? errorTitle[code], options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BulkheadError';
    this.code = code;
    this.status = errorStatus[code];
    this.details = options?.details;
    this.reason = options?.reason;
    this.hint = options?.hint;
  }
}

/** One problem with one part of the input: `path` is a JSON pointer into the body, query or params. */
export interface ErrorDetail {
  readonly path: string;
  readonly code: ErrorCode;
  readonly message: string;
}

/** The one answer for an unknown, foreign or hidden thing: the same text whatever the reason. */
export function notFound(): BulkheadError {
  return new BulkheadError('not_found', 'No such resource.');
}

export function isBulkheadError(error: unknown): error is BulkheadError {
  return error instanceof BulkheadError;
}
