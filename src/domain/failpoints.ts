/**
 * Steps where a test can kill the process, to prove recovery after a crash: of the provisioning path, and
 * `mid-close`, closing a billing period with the sixth invoice written but not committed (a first batch
 * of domains committed before it). `slow-delete` kills nothing: it makes each backend delete of a
 * resource wait twice the lease first, to prove the lease is renewed while a delete is in flight.
 */
export const failpoints = [
  'after-reserve',
  'after-allocate',
  'after-mark-delete',
  'mid-close',
  'slow-delete',
] as const;
export type Failpoint = (typeof failpoints)[number];
