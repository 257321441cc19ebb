import type { LightMyRequestResponse } from 'fastify';
import { buildServer } from '../../src/http/server.js';
import type { App } from '../../src/http/types.js';
import { openTestServices, type Backend } from './backends.js';
import type { Services } from '../../src/runtime.js';

export const operatorToken = 'test-operator-token-0123456789abcdef';

export interface TestApi {
  readonly app: App;
  readonly services: Services;
  call(
    method: string,
    url: string,
    options?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function openTestApi(backend: Backend): Promise<TestApi> {
  const services = await openTestServices(backend);
  await services.operator.initialise(operatorToken);
  const app = await buildServer(services);
  return {
    app,
    services,
    call(method, url, options = {}) {
      const token = options.token === undefined ? operatorToken : options.token;
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (token !== null) headers['authorization'] = `Bearer ${token}`;
      return app.inject({
        method: method as 'GET',
        url,
        headers,
        ...(options.body === undefined ? {} : { payload: options.body as string }),
      });
    },
    async close() {
      await app.close();
      await services.drop();
    },
  };
}
