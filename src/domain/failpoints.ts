/**
 * Steps where a test can kill the process, to prove recovery after a crash: of the provisioning path, and
 * `mid-close`, closing a billing period with the sixth invoice written but not committed (a first batch
 * of domains committed before it).
 */
export const failpoints = ['after-reserve', 'after-allocate', 'after-mark-delete', 'mid-close'] as const;
export type Failpoint = (typeof failpoints)[number];
