// The server attacking itself on a schedule (BULKHEAD_VERIFY_EVERY): a run goes out through the
// process's own listener, as any client's would, so it exercises what clients reach. Started by
// `startServer` once the app listens; the app itself knows nothing of it.
import type { App } from '../http/types.js';
import type { Services } from '../runtime.js';
import { bulkheadTarget } from '../verify/bulkhead-target.js';
import { parseApiDescription } from '../verify/openapi.js';
import { summaryLine } from '../verify/report.js';
import { recordRun } from '../verify/runs.js';
import { startSchedule, type Schedule } from '../verify/schedule.js';
import { runVerify } from '../verify/verify.js';

/** The URL this process reaches its own listener at: loopback when it listens on every address. */
function selfUrl(app: App): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the server is not listening on TCP');
  const host =
    address.address === '0.0.0.0'
      ? '127.0.0.1'
      : address.address === '::'
        ? '[::1]'
        : address.family === 'IPv6'
          ? `[${address.address}]`
          : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * The server attacking itself on a schedule, from outside through its own listener as any client
 * would, with the operator token; each run is recorded in the store (a failed one audited), counted
 * in /metrics and logged.
 */
export function verifySelf(app: App, services: Services, everyMs: number, operatorToken: string): Schedule {
  const url = selfUrl(app);
  return startSchedule({
    everyMs,
    target: url,
    run: (signal) =>
      runVerify({
        target: bulkheadTarget({ url, operatorToken }),
        // The document this process serves, read without a request.
        api: parseApiDescription(JSON.parse(JSON.stringify(app.swagger())) as unknown),
        spec: `${url}/openapi.json`,
        signal,
      }),
    recorders: [{ record: (run) => services.store.system('verify', (tx) => recordRun(tx, run, 'system')) }],
    metrics: services.isolationMetrics,
    onRun: (run, report) => {
      const fields = { runId: run.id, verdict: run.verdict, leaks: run.leaks, unexercised: run.unexercised };
      const message = report === null ? `bulkhead verify: ERROR: ${run.error ?? ''}` : summaryLine(report);
      if (run.verdict === 'clean') app.log.info(fields, message);
      else app.log.error(fields, message);
    },
    onWarning: (message) => app.log.warn(message),
  });
}
