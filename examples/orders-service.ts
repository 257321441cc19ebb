// An example service that trusts Bulkhead for identity. Every route is under /domains/:domainId, and the
// SDK refuses any token that is not of that domain — so one tenant's token never reads another's orders.
//
//   BULKHEAD_ISSUER=bulkhead BULKHEAD_URL=http://127.0.0.1:8080 npx tsx examples/orders-service.ts
import Fastify, { type FastifyInstance } from 'fastify';
import { bulkheadFastify, createVerifier, type Verifier } from '../src/sdk/index.js';

export function buildOrdersService(verifier: Verifier): FastifyInstance {
  const app = Fastify();
  const orders = new Map<string, { id: number; item: string; by: string }[]>();
  void app.register((scope, _opts, done) => {
    void scope.register(bulkheadFastify, {
      verifier,
      domainOf: (request) => (request.params as { domainId?: string }).domainId ?? null,
    });
    scope.get('/domains/:domainId/orders', (request) => ({
      domainId: request.bulkhead!.domainId,
      orders: orders.get(request.bulkhead!.domainId) ?? [],
    }));
    scope.post('/domains/:domainId/orders', (request, reply) => {
      const { domainId, subject } = request.bulkhead!;
      const list = orders.get(domainId) ?? [];
      const item = (request.body as { item?: unknown } | null)?.item;
      const order = { id: list.length + 1, item: typeof item === 'string' ? item : 'widget', by: subject };
      orders.set(domainId, [...list, order]);
      return reply.code(201).send(order);
    });
    done();
  });
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const base = process.env['BULKHEAD_URL'] ?? 'http://127.0.0.1:8080';
  const verifier = createVerifier({
    issuer: process.env['BULKHEAD_ISSUER'] ?? 'bulkhead',
    jwksUri: `${base}/.well-known/jwks.json`,
  });
  const app = buildOrdersService(verifier);
  const url = await app.listen({ port: Number(process.env['PORT'] ?? 8090), host: '127.0.0.1' });
  console.log(`orders service on ${url}, trusting ${base}`);
}
