// What the isolation probes share: how a probe that could not be set up fails (it proves nothing either
// way), how a side's credentials are read, and how one attempt of A against B is made and reported.
import type { ResourceKind } from '../domain/kinds.js';
import { type ProbeAttempt, type ProbeSide, ProviderError, type ProviderErrorCode } from './provider.js';

/** The providers whose code list has `probe_setup`. */
export type ProbingKind = {
  [K in ResourceKind]: 'probe_setup' extends ProviderErrorCode<K> ? K : never;
}[ResourceKind];

/** What one attempt found: whether the backend refused, and a secret-free account of it. */
export type ProbeOutcome = Omit<ProbeAttempt, 'attempt'>;

export function probeSetupError<K extends ProbingKind>(
  provider: K,
  message: string,
  cause?: unknown,
): ProviderError<K> {
  const code = 'probe_setup' as ProviderErrorCode<K>;
  return new ProviderError(provider, code, message, cause === undefined ? undefined : { cause });
}

/** Reads one side's credentials; a field that is missing or empty fails the probe's setup, naming the side. */
export function credentialFields(provider: ProbingKind, label: 'A' | 'B', side: ProbeSide) {
  const c = side.credentials;
  return {
    text: (field: string): string => {
      const value = c[field];
      if (typeof value !== 'string' || value === '')
        throw probeSetupError(provider, `${label}'s credentials have no ${field}`);
      return value;
    },
    port: (): number => {
      const port = c['port'];
      if (typeof port !== 'number') throw probeSetupError(provider, `${label}'s credentials have no port`);
      return port;
    },
  };
}

/**
 * Makes one attempt and records what it found. An error the backend gave as its refusal (`refusal` says
 * why, or null when the error is not one) is recorded as refused; any other error fails the probe.
 */
export async function runAttempt(
  provider: ProbingKind,
  attempts: ProbeAttempt[],
  name: string,
  fn: () => Promise<ProbeOutcome>,
  refusal: (error: unknown) => string | null,
): Promise<void> {
  try {
    attempts.push({ attempt: name, ...(await fn()) });
  } catch (error) {
    const why = refusal(error);
    if (why === null)
      throw probeSetupError(provider, `the probe could not make its attempt "${name}"`, error);
    attempts.push({ attempt: name, refused: true, detail: `refused: ${why}` });
  }
}
