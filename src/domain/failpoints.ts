/** Steps of the provisioning path where a test can kill the process, to prove recovery after a crash. */
export const failpoints = ['after-reserve', 'after-allocate', 'after-mark-delete'] as const;
export type Failpoint = (typeof failpoints)[number];
