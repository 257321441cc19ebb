// Bulkhead's version, as package.json gives it (two levels up from both src/cli and dist/cli).
import { readFileSync } from 'node:fs';

/** The version in package.json, e.g. `0.1.0`. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
