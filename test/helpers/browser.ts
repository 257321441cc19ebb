// Starts a real Chromium (the Debian package's binary, driven by playwright-core) for the tests that need
// a browser: the portal and the OpenID sign-in. Test hostnames are mapped to 127.0.0.1 with Chromium's
// --host-resolver-rules, so `portal.a.test` and `portal.b.test` are two origins on one local server. A
// missing chromium fails the suite; it is never skipped, and playwright's own browsers are never fetched
// (.ci/run installs the package).
import { spawnSync } from 'node:child_process';
import { type Browser, chromium } from 'playwright-core';

const candidates = ['/usr/bin/chromium', '/usr/lib/chromium/chromium'];

/** The path of Debian's chromium, or undefined when it is not installed. */
export const chromiumPath = candidates.find((path) => spawnSync(path, ['--version']).status === 0);

export interface BrowserOptions {
  /** Hostnames that resolve to 127.0.0.1 in this browser (e.g. `['portal.a.test', 'portal.b.test']`). */
  readonly hosts?: readonly string[];
}

/** Launches headless Chromium; close it with `browser.close()`. */
export async function launchBrowser(options: BrowserOptions = {}): Promise<Browser> {
  if (chromiumPath === undefined) {
    throw new Error(
      `chromium is not installed (looked for ${candidates.join(', ')}): apt-get install chromium`,
    );
  }
  const rules = (options.hosts ?? []).map((host) => `MAP ${host} 127.0.0.1`);
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      ...(rules.length > 0 ? [`--host-resolver-rules=${rules.join(', ')}`] : []),
    ],
  });
}
