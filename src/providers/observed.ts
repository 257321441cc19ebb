// A provider seen from outside: each call to its backend is timed and reported (kind, operation,
// success), and is a span of the current trace when tracing is on. The provider itself is unchanged:
// everything but the backend calls is read straight from it, and each call runs with it as `this`.
import { traced } from '../telemetry/tracing.js';
import type { Provider } from './provider.js';

/** The calls that reach a backend; `close` and the provider's properties are not observed. */
const operations = new Set<string>([
  'create',
  'inspect',
  'delete',
  'credentials',
  'probeIsolation',
  'listOwned',
  'putObject',
  'getObject',
  'deleteObject',
  'usedBytes',
]);

/** Hears of each call: the provider's kind, the operation, whether it succeeded, how long it took. */
export type ProviderCallObserver = (kind: string, operation: string, ok: boolean, seconds: number) => void;

/**
 * `provider` with its backend calls observed by `onCall` (and traced).
 *
 * @example
 * const observed = observeProvider(provider, (kind, op, ok, s) => metrics.providerCall(kind, op, ok, s));
 */
export function observeProvider<P extends Provider>(provider: P, onCall: ProviderCallObserver): P {
  const wrappers = new Map<string, unknown>();
  return new Proxy(provider, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== 'string' || !operations.has(property) || typeof value !== 'function')
        return value;
      let wrapper = wrappers.get(property);
      if (wrapper === undefined) {
        const call = value as (...args: unknown[]) => Promise<unknown>;
        const attributes = { 'bulkhead.resource.kind': target.kind, 'bulkhead.provider.operation': property };
        wrapper = (...args: unknown[]) => {
          const started = performance.now();
          return traced(`provider.${property}`, attributes, () => call.apply(target, args)).then(
            (result) => {
              onCall(target.kind, property, true, (performance.now() - started) / 1000);
              return result;
            },
            (error: unknown) => {
              onCall(target.kind, property, false, (performance.now() - started) / 1000);
              throw error;
            },
          );
        };
        wrappers.set(property, wrapper);
      }
      return wrapper;
    },
  });
}
