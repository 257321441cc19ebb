// What the providers that keep their resources in files (embedded PostgreSQL, storage) share: reading a
// failed system call's code, and ordering the steps on one name within this process.

/** The Node error code of a failed system call (ENOENT, EEXIST …), if it is one. */
export function errno(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('E') ? code : undefined;
}

/**
 * Runs tasks one at a time per name, in call order; different names run concurrently. A step that reads
 * a directory entry and then writes it must not interleave with another on the same name. One process
 * per root is assumed: this does not order other processes.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(name: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.tails.set(name, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}
