// What the metrics and tracing cost a request when tracing is off, measured where it is spent, so a
// loaded machine's noise (which swamps a few microseconds in a whole request) does not hide it:
// nanoseconds per call of a store transaction's or provider call's wrapper against a bare call, and of
// the metrics recorded per request (the request counter and histogram, the authentication counter).
//
//   npm run bench:telemetry        (BENCH_CALLS: calls per measure, default 1,000,000)
import { Registry } from 'prom-client';
import { ServerMetrics } from '../src/telemetry/metrics.js';
import { traced, tracingEnabled } from '../src/telemetry/tracing.js';

const calls = Number(process.env['BENCH_CALLS'] ?? 1_000_000);

async function nsPerCall(fn: () => unknown): Promise<number> {
  for (let i = 0; i < calls / 10; i++) await fn(); // warm up
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn();
  return Number(process.hrtime.bigint() - started) / calls;
}

async function main(): Promise<void> {
  if (tracingEnabled()) throw new Error('tracing must be off for this measure');
  const work = () => Promise.resolve(1);
  const attributes = { 'bulkhead.store.door': 'read' };
  const bare = await nsPerCall(work);
  const wrapped = await nsPerCall(() => traced('store.read', attributes, work));
  const metrics = new ServerMetrics(new Registry());
  const request = await nsPerCall(() =>
    metrics.request('GET', '/v1/domains/:domainId/volumes/:volumeId', 200, 0.004),
  );
  const auth = await nsPerCall(() => metrics.authentication('token', 'success'));
  const rows = [
    ['an awaited call, bare', bare],
    ['the same in traced(), tracing off', wrapped],
    ['one request counted (counter + histogram)', request],
    ['one authentication counted', auth],
  ] as const;
  for (const [what, ns] of rows) console.log(`  ${what.padEnd(46)} ${ns.toFixed(0).padStart(6)} ns`);
  console.log(
    `  traced() off adds ${(wrapped - bare).toFixed(0)} ns per store transaction or provider call; ` +
      `a request's metrics ${(request + auth).toFixed(0)} ns`,
  );
}

await main();
