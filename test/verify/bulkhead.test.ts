// `bulkhead verify` as an operator runs it: a real `bulkhead serve` on the embedded store with the real
// PostgreSQL, Redis and RabbitMQ backends configured, and the built CLI attacking it from outside through
// its own OpenAPI document. Every operation a tenant can reach must be exercised with every tenant
// credential, every configured backend's own probe must be refused, nothing may leak, and the probe
// domains are gone after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VerifyReport } from '../../src/verify/report.js';
import { tokenAttacks } from '../../src/verify/tokens.js';
import { join } from 'node:path';
import { createTestDatabase, testPostgresUrl } from '../helpers/backends.js';
import {
  assertBuilt,
  freePort,
  killAll,
  runCli,
  startServer,
  tempDir,
  type Server,
} from '../helpers/processes.js';
import { testRabbitmqUrl } from '../helpers/rabbitmq.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.js';

const operatorToken = 'verify-operator-token-0123456789abcdef';
const publicOperations = [
  'GET /healthz',
  'GET /readyz',
  'GET /v1/domains/{domainId}/jwks.json',
  'GET /.well-known/jwks.json',
  'GET /v1/revocations/jwks.json',
  'POST /v1/auth/login',
  // The OAuth endpoints are registered in a scope of their own (RFC 6749 errors), after the sign-in.
  'POST /v1/auth/token',
  'POST /v1/auth/revoke',
  'GET /d/{slug}/.well-known/openid-configuration',
  'GET /d/{slug}/.well-known/oauth-authorization-server',
  'GET /.well-known/oauth-authorization-server/d/{slug}',
  'GET /d/{slug}/jwks.json',
  // The issuer's browser endpoints check what they are given themselves; userinfo takes an access token
  // and is attacked (below), its CORS preflight is public.
  'OPTIONS /d/{slug}/userinfo',
  'GET /d/{slug}/authorize',
  'GET /d/{slug}/end-session',
  'POST /d/{slug}/token',
  'OPTIONS /d/{slug}/token',
  'POST /d/{slug}/revoke',
  'POST /d/{slug}/introspect',
  'POST /v1/billing/stripe/webhook',
];
/** Backends the test server has: every other kind is not applicable. */
const configuredKinds = ['postgres', 'redis', 'rabbitmq', 'storage'];

/** The server's store: the embedded PGlite in its data directory, or a PostgreSQL database of its own. */
const stores = [
  { name: 'the embedded PGlite store', postgres: false },
  { name: 'a PostgreSQL store', postgres: true },
];

describe.each(stores)('bulkhead verify against a running Bulkhead on $name', (store) => {
  const dir = tempDir('bulkhead-verify-e2e-');
  let database: { url: string; drop(): Promise<void> } | null = null;
  let server: Server;
  // A Redis whose default user has a password, as production runs one: on a server where anyone may
  // use the default user, the Redis probe rightly reports that A can read B's keys through it.
  let redis: PrivateRedis;

  beforeAll(async () => {
    assertBuilt();
    redis = await startPrivateRedis();
    database = store.postgres ? await createTestDatabase() : null;
    const storeEnv: Record<string, string> =
      database === null
        ? {}
        : {
            BULKHEAD_DATABASE_URL: database.url,
            BULKHEAD_SECRET: 'c5'.repeat(32),
            BULKHEAD_STORAGE_DIR: join(dir.path, 'storage'),
            BULKHEAD_VOLUME_DIR: join(dir.path, 'volumes'),
          };
    // Each domain an OpenID Provider at its own issuer (`<public URL>/d/<slug>`), as in production, so
    // that userinfo is attacked and A's token is presented as from B's issuer.
    const port = await freePort();
    const serve = ['--data-dir', dir.path, 'serve', '--port', String(port), '--log-level', 'warn'];
    server = await startServer(serve, {
      env: {
        ...storeEnv,
        BULKHEAD_PUBLIC_URL: `http://127.0.0.1:${port}`,
        BULKHEAD_OPERATOR_TOKEN: operatorToken,
        BULKHEAD_POSTGRES_URL: testPostgresUrl,
        BULKHEAD_REDIS_URL: redis.adminUrl,
        BULKHEAD_RABBITMQ_URL: testRabbitmqUrl,
      },
      timeoutMs: 240_000,
    });
  }, 300_000);

  afterAll(async () => {
    await killAll();
    await redis?.stop();
    await database?.drop();
    dir.remove();
  });

  it('exercises every tenant operation and backend, finds no leak, and cleans up', async () => {
    const run = await runCli(['verify', '--url', server.url, '--format', 'json'], {
      env: { BULKHEAD_OPERATOR_TOKEN: operatorToken },
      timeoutMs: 400_000,
    });
    const failures = () => {
      try {
        return JSON.stringify(
          (JSON.parse(run.stdout) as VerifyReport).checks.filter((c) => c.verdict !== 'pass'),
        );
      } catch {
        return run.stdout.slice(0, 2000);
      }
    };
    expect(run.code, `${run.stderr}\n${failures()}`).toBe(0);
    const report = JSON.parse(run.stdout) as VerifyReport;
    const summary = /elapsed (\d+\.\d) s$/.exec(run.stderr.trim());
    expect(summary, run.stderr).not.toBeNull();
    console.log(
      `bulkhead verify against Bulkhead on ${store.name}: ${summary![1]} s, ${report.summary.checks} checks`,
    );

    expect(report.ok).toBe(true);
    expect(report.spec).toBe(`${server.url}/openapi.json`);
    expect(report.checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
    expect(
      report.operations.filter((o) => o.coverage === 'not_applicable').map((o) => [o.operation, o.reason]),
    ).toEqual([
      ...publicOperations.map((operation) => [operation, 'public: no credential required']),
      ['provider:kubernetes', 'not configured on this server'],
    ]);
    // Each configured backend's own probe ran between A's and B's resources, and everything was refused.
    expect(
      report.checks
        .filter((c) => c.attack === 'probeIsolation')
        .map((c) => [c.operation, c.verdict, /^\d+ attempts, all refused$/.test(c.got)]),
    ).toEqual(configuredKinds.map((kind) => [`provider:${kind}`, 'pass', true]));
    const tenantOperations = report.operations.filter(
      (o) =>
        o.coverage !== 'not_applicable' &&
        !o.operation.startsWith('provider:') &&
        !o.operation.startsWith('page:'),
    );
    expect(tenantOperations.length).toBeGreaterThanOrEqual(40);
    expect(tenantOperations.filter((o) => o.coverage !== 'exercised')).toEqual([]);

    // Every operation that names something was attacked with A's key, token and session at B's ids.
    // At an issuer (`/d/{slug}`, whose slug is public), A's credentials at B's are compared with no
    // credential there, not with an unknown slug's 404.
    for (const o of tenantOperations.filter((o) => o.operation.includes('{'))) {
      const attack = o.operation.startsWith('/d/{slug}/', o.operation.indexOf(' ') + 1)
        ? 'foreign-tenant'
        : 'foreign';
      const foreign = report.checks.filter((c) => c.operation === o.operation && c.attack === attack);
      expect(foreign.map((c) => c.credential).sort(), o.operation).toEqual(['key', 'session', 'token']);
    }
    // A's access token, refresh token and client at B's issuer: introspected, refreshed and revoked there
    // as unknown ones are, and A's tokens live on after a revocation sent to B. Once at the issuers'
    // paths, once at the portal hosts, each the issuer of its own host.
    const issuers = ['oauth:', 'oauth:portal-host:'];
    expect(
      report.operations.filter((o) => o.operation.startsWith('oauth:')).map((o) => [o.operation, o.coverage]),
    ).toEqual(
      issuers.flatMap((p) => [
        [`${p}introspection`, 'exercised'],
        [`${p}token`, 'exercised'],
        [`${p}revocation`, 'exercised'],
      ]),
    );
    expect(
      report.checks
        .filter((c) => c.attack.startsWith('oauth['))
        .map((c) => [c.operation, c.attack, c.credential, c.got]),
    ).toEqual(
      issuers.flatMap((p) => [
        [`${p}introspection`, 'oauth[foreign-token]', "B's client", '200 = unknown'],
        [`${p}introspection`, 'oauth[foreign-client]', "A's client", '401 = unknown'],
        [`${p}token`, 'oauth[foreign-client]', "A's client", '401 = unknown'],
        [`${p}token`, 'oauth[foreign-refresh]', "B's client", '400 = unknown'],
        [`${p}token`, 'oauth[foreign-refresh]', 'no client', '400 = unknown'],
        [`${p}revocation`, 'oauth[foreign-revocation]', "B's client", 'still active'],
        [`${p}revocation`, 'oauth[foreign-revocation]', "B's client", '200'],
      ]),
    );
    // A's access token at B's userinfo is refused as no token is; an unknown issuer would be 404.
    for (const operation of ['GET /d/{slug}/userinfo', 'POST /d/{slug}/userinfo']) {
      expect(
        report.checks
          .filter((c) => c.operation === operation && c.attack === 'foreign-tenant')
          .map((c) => [c.credential, c.verdict, c.got]),
      ).toEqual([
        ['key', 'pass', '401 as without a credential'],
        ['token', 'pass', '401 as without a credential'],
        ['session', 'pass', '401 as without a credential'],
      ]);
      expect(
        report.checks.filter((c) => c.operation === operation && c.attack.startsWith('token[')).length,
        operation,
      ).toBe(Object.keys(tokenAttacks).length);
    }
    // Billing is exercised, not only attacked: A's key, token and session read A's own usage, invoice
    // (JSON and PDF), billing details and payment methods, and A's key sets A's details.
    const ownBilling = (operation: string) =>
      report.checks
        .filter((c) => c.operation === operation && c.attack === 'own')
        .map((c) => `${c.credential} ${c.got}`)
        .sort();
    for (const operation of [
      'GET /v1/domains/{domainId}/usage',
      'GET /v1/domains/{domainId}/invoices',
      'GET /v1/domains/{domainId}/invoices/{invoiceId}',
      'GET /v1/domains/{domainId}/invoices/{invoiceId}.pdf',
      'GET /v1/domains/{domainId}/billing',
      'GET /v1/domains/{domainId}/billing/payment-methods',
    ])
      expect(ownBilling(operation), operation).toEqual(['key 200', 'session 200', 'token 200']);
    expect(ownBilling('PUT /v1/domains/{domainId}/billing')).toContain('key 200');
    const billingOperations = report.operations.filter((o) =>
      /billing|invoices|usage|payment-methods|setup-intents/.test(o.operation),
    );
    expect(billingOperations.length).toBeGreaterThanOrEqual(19);
    expect(billingOperations.filter((o) => o.coverage !== 'exercised').map((o) => o.operation)).toEqual([
      'POST /v1/billing/stripe/webhook',
    ]);
    // Attaching A's volume to B's instance answers like an unknown instance.
    expect(
      report.checks.filter(
        (c) =>
          c.operation === 'POST /v1/domains/{domainId}/volumes/{volumeId}/attach' &&
          c.attack === 'foreign-body',
      ),
    ).toHaveLength(3);
    // A tenant's own listing and smuggled domain ids were tried where a tenant is accepted.
    expect(
      report.checks.find((c) => c.operation === 'GET /v1/domains/{domainId}/instances' && c.attack === 'own'),
    ).toMatchObject({ verdict: 'pass', got: '200' });
    expect(
      report.checks.find(
        (c) => c.operation === 'GET /v1/domains/{domainId}/instances' && c.attack === 'smuggle-query',
      ),
    ).toMatchObject({ verdict: 'pass', got: 'domainId, tenantId, tenant_id, ownerId, orgId: 400 (refused)' });
    // A's access token, forged every way, was refused like no credential at every operation A may call
    // (those of things only B has, e.g. B's keys, have no A's id to call them with).
    const tokenChecks = report.checks.filter((c) => c.attack.startsWith('token['));
    expect(new Set(tokenChecks.map((c) => c.attack))).toEqual(
      new Set(Object.keys(tokenAttacks).map((k) => `token[${k}]`)),
    );
    expect(new Set(tokenChecks.map((c) => c.operation)).size).toBeGreaterThanOrEqual(60);
    expect(tokenChecks.find((c) => c.attack === 'token[alg-none]')?.got).toBe(
      'none, None, NONE, nOnE: 401 as without',
    );
    // Every change A may make with its browser session was sent from a third origin, and refused.
    const csrf = report.checks.filter((c) => c.attack === 'csrf');
    expect(new Set(csrf.map((c) => c.credential))).toEqual(new Set(['session']));
    expect(csrf.filter((c) => !c.operation.startsWith('page:')).length).toBeGreaterThanOrEqual(20);
    expect(csrf.length).toBeGreaterThanOrEqual(20);
    expect(csrf.find((c) => c.operation === 'POST /v1/domains/{domainId}/instances')?.verdict).toBe('pass');
    // A's portal session, opened at A's portal host, was replayed at B's host on every portal route (as
    // the portal registers them: a new page or form is attacked without being listed here), and got what
    // no cookie gets; every portal form was sent at A's host from a third origin, and refused.
    const { portalRouteTable } = await import('../../src/http/routes/portal/routes.js');
    const portal = (await portalRouteTable()).filter((r) => !r.console);
    const pageOperations = report.operations.filter((o) => o.operation.startsWith('page:'));
    expect(pageOperations.map((o) => o.operation).sort()).toEqual(
      portal.map((r) => `page:${r.method} ${r.path}`).sort(),
    );
    expect(pageOperations.filter((o) => o.coverage !== 'exercised')).toEqual([]);
    const crossHost = report.checks.filter((c) => c.attack === 'cross-host');
    expect(crossHost).toHaveLength(portal.length);
    expect(crossHost.find((c) => c.operation === 'page:GET /')?.got).toBe('401 as without');
    expect(crossHost.find((c) => c.operation === 'page:POST /members')?.got).toBe('401 as without');
    const forms = report.checks.filter((c) => c.operation.startsWith('page:') && c.attack === 'csrf');
    expect(forms.map((c) => c.operation).sort()).toEqual(
      portal
        .filter((r) => r.method === 'POST')
        .map((r) => `page:POST ${r.path}`)
        .sort(),
    );
    expect(forms.every((c) => c.got === '403 (refused)')).toBe(true);
    expect(report.cleanup).toEqual([]);

    // The probe domains are deleted again.
    const res = await fetch(`${server.url}/v1/domains?includeDeleted=true`, {
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    const domains = ((await res.json()) as { items: { slug: string; status: string }[] }).items;
    const probes = domains.filter((d) => d.slug.startsWith('verify-'));
    expect(probes.map((d) => d.status)).toEqual(['deleted', 'deleted']);
  }, 420_000);
});
