// What the suites of the process memories that change notices empty (verified tokens, the domains of
// verified keys) share: the two ways processes hold the notice key, and a wait for a condition.
import { deriveNoticeKey } from '../../src/store/notices.js';
import { testSecret } from './backends.js';

export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, checking every 10 ms; throws after `ms`. */
export async function until(condition: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await pause(10);
  }
}

// As the server runs (every process derives the notice key from the secret they share), and with a key
// of each process's own, where the other process's notices arrive bare.
export const noticeKeySetups = [
  { keys: 'with the notice key they share', noticeKey: deriveNoticeKey(testSecret) },
  { keys: 'each with a notice key of its own', noticeKey: undefined },
] as const;
