// Two Bulkhead processes on one PostgreSQL store: a session revoked through one is refused by the other
// within 100 ms (each process remembers tokens it verified and forgets them when the database notifies a
// revocation), and a domain suspended through one refuses its tokens at the other as soon.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/backends.js';
import { assertBuilt, killAll, startServer, tempDir, type Server } from '../helpers/processes.js';

const token = 'multi-process-operator-token-0123456789ab';
const password = 'correct horse battery staple';

describe('two server processes', () => {
  let database: { url: string; drop(): Promise<void> };
  let dir: { path: string; remove(): void };
  let one: Server;
  let two: Server;

  beforeAll(async () => {
    assertBuilt();
    database = await createTestDatabase();
    dir = tempDir('bulkhead-multi-');
    const env = {
      BULKHEAD_DATABASE_URL: database.url,
      BULKHEAD_SECRET: 'd4'.repeat(32),
      BULKHEAD_OPERATOR_TOKEN: token,
      BULKHEAD_STORAGE_DIR: `${dir.path}/storage`,
      BULKHEAD_DATA_DIR: `${dir.path}/data`,
    };
    one = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env });
    two = await startServer(['serve', '--port', '0', '--log-level', 'warn'], { env });
  });
  afterAll(async () => {
    await killAll();
    await database.drop();
    dir.remove();
  });

  const json = async <T>(r: Response) => (await r.json()) as T;
  const operator = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

  /** Milliseconds until `server` refuses `t`; fails after 100 ms. */
  const refusedWithin = async (server: Server, t: string): Promise<number> => {
    const started = performance.now();
    for (;;) {
      const status = (await whoami(server, t)).status;
      const elapsed = performance.now() - started;
      if (status === 401) return elapsed;
      expect(status).toBe(200);
      if (elapsed > 100) throw new Error(`still accepted ${elapsed.toFixed(0)} ms after the revocation`);
    }
  };
  const whoami = (server: Server, t: string) =>
    fetch(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${t}` } });

  it('refuses at one process a session revoked at the other, within 100 ms', async () => {
    const d = await json<{ id: string; slug: string }>(
      await fetch(`${one.url}/v1/domains`, {
        method: 'POST',
        headers: operator,
        body: JSON.stringify({ slug: 'multi', name: 'm' }),
      }),
    );
    await fetch(`${one.url}/v1/domains/${d.id}/principals`, {
      method: 'POST',
      headers: operator,
      body: JSON.stringify({ kind: 'user', email: 'dev@example.com', password }),
    });
    const login = async () =>
      (
        await json<{ access_token: string }>(
          await fetch(`${one.url}/v1/auth/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              grant_type: 'password',
              domain: 'multi',
              username: 'dev@example.com',
              password,
            }),
          }),
        )
      ).access_token;

    const t1 = await login();
    // Asked twice, so the second process has verified it before and answers from memory.
    expect((await whoami(two, t1)).status).toBe(200);
    expect((await whoami(two, t1)).status).toBe(200);
    expect(
      (
        await fetch(`${one.url}/v1/auth/logout`, {
          method: 'POST',
          headers: { authorization: `Bearer ${t1}` },
        })
      ).status,
    ).toBe(204);
    expect(await refusedWithin(two, t1)).toBeLessThan(100);
    // The process that revoked refuses at the very next request.
    expect((await whoami(one, t1)).status).toBe(401);

    const t2 = await login();
    expect((await whoami(two, t2)).status).toBe(200);
    expect((await whoami(two, t2)).status).toBe(200);
    await fetch(`${one.url}/v1/domains/${d.id}/suspend`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await refusedWithin(two, t2)).toBeLessThan(100);
  });
});
