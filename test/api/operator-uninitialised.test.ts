// An app whose operator token was never loaded (a server still starting, or one built by a bench) has no
// operator: every bearer token, an operator-shaped one included, is refused with the usual 401, never a
// crash. A provisioning key or a metrics token it was configured with still works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { backends, openTestServices } from '../helpers/backends.js';
import { operatorToken } from '../helpers/api.js';

describe('an app before its operator token is loaded', () => {
  let app: App;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const services = await openTestServices(backends[0]!);
    drop = () => services.drop();
    app = await buildServer(services);
  });
  afterAll(async () => {
    await app.close();
    await drop();
  });

  it.each([operatorToken, 'bho_x', 'not-a-token'])('refuses the bearer token %s with 401', async (token) => {
    const res = await app.inject({
      method: 'GET',
      url: '/v1/domains',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json()).toMatchObject({ code: 'invalid_credentials' });
  });
});
