// The second process of `bench/tokens.ts`: a service that verifies Bulkhead tokens with the SDK and its
// revocation feed, as any other service would. Driven over IPC by the bench:
//
// - `{ watch, token, domainId }`: verifies `token` (it must pass), answers `watching`, then verifies it
//   again whenever the feed applies a revocation (and every 20 ms besides) until it is refused, and answers
//   the wall-clock time of the refusal. Waiting on the feed rather than spinning leaves the process as idle
//   as the raw subscriber is, so both are measured on the same machine;
// - `{ raw }`: answers the wall-clock time the next message on the raw channel arrives (subscribed first).
//
// Times are `performance.timeOrigin + performance.now()`, comparable with the bench process's own.
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { createRevocationFeed, createVerifier } from '../src/sdk/index.js';

const [bulkheadUrl, redisUrl, issuer, rawChannel, credential] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const now = () => performance.timeOrigin + performance.now();
const send = (message: object) => process.send!(message);

let check: (() => void) | null = null;
const feed = createRevocationFeed({ bulkheadUrl, redisUrl, credential, onRevocation: () => check?.() });
const verifier = createVerifier({
  issuer,
  jwksUri: `${bulkheadUrl}/.well-known/jwks.json`,
  isRevoked: (t) => feed.isRevoked(t),
});
const raw = new Redis(redisUrl);
let rawArrived: ((at: number) => void) | null = null;
raw.on('message', () => {
  const at = now();
  rawArrived?.(at);
  rawArrived = null;
});
await raw.subscribe(rawChannel);
await feed.ready;

// Before each sample: a collection (the bench starts this process with --expose-gc) and a short rest for
// its background sweeping, so that neither measurement catches a pause left over from the work before it.
const settle = async () => {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, 5));
};

process.on('message', (message: { watch?: number; token?: string; domainId?: string; raw?: number }) => {
  void (async () => {
    if (message.raw !== undefined) {
      await settle();
      rawArrived = (at) => send({ raw: message.raw, at });
      send({ rawReady: message.raw });
      return;
    }
    const { watch, token, domainId } = message as { watch: number; token: string; domainId: string };
    try {
      await verifier.verify(token, domainId);
      const refused = () =>
        verifier.verify(token, domainId).then(
          () => false,
          () => true,
        );
      await settle();
      const timer = setInterval(() => check?.(), 20);
      check = () => {
        void refused().then((yes) => {
          if (!yes || check === null) return;
          const at = now();
          check = null;
          clearInterval(timer);
          send({ watch, at });
        });
      };
      send({ watching: watch });
    } catch (error) {
      send({ watch, error: String(error) });
    }
  })();
});
process.on('disconnect', () => {
  void Promise.allSettled([feed.close(), raw.quit()]).then(() => process.exit(0));
});
send({ ready: true });
