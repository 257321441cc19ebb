// Tracing in `bulkhead serve` (the built binary), exporting over OTLP/HTTP to a small receiver in this
// process: a request carrying a W3C traceparent continues that trace in a server span that names its
// request id, with the store's transactions and the provider's call as its children, and the request's
// log lines carry its id and the trace's. Tracing is off unless configured; bad settings stop the start.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, tracingSettings } from '../../src/config.js';
import { createDomainWithKey, httpCallerOf, operatorToken, unique } from '../helpers/api.js';
import { assertBuilt, killAll, startServer, tempDir } from '../helpers/processes.js';

interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: readonly {
    key: string;
    value: { stringValue?: string; intValue?: string | number };
  }[];
}
interface OtlpExport {
  readonly resourceSpans: readonly { scopeSpans: readonly { spans: readonly OtlpSpan[] }[] }[];
}

/** An OTLP/HTTP receiver that keeps every span posted to /v1/traces as JSON. */
async function receiver(): Promise<{ url: string; spans: OtlpSpan[]; server: Server }> {
  const spans: OtlpSpan[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type'] === 'application/json') {
        const parsed = JSON.parse(body) as OtlpExport;
        for (const r of parsed.resourceSpans) for (const s of r.scopeSpans) spans.push(...s.spans);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(415).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans, server };
}

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue));
};

describe('tracing through the server start', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parentId = '00f067aa0ba902b7';
  const dir = tempDir('bulkhead-tracing-');
  let otlp: Awaited<ReturnType<typeof receiver>>;
  let requestId: string;

  let logLines: { reqId?: string; trace_id?: string; msg?: string }[];

  beforeAll(async () => {
    assertBuilt();
    otlp = await receiver();
    const server = await startServer(['serve', '--port', '0'], {
      env: {
        BULKHEAD_DATA_DIR: dir.path,
        BULKHEAD_OPERATOR_TOKEN: operatorToken,
        BULKHEAD_LOG_FORMAT: 'json',
        BULKHEAD_BILLING_CLOSE_AFTER: 'off',
        BULKHEAD_TRACING: 'otlp',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlp.url,
      },
    });
    const call = httpCallerOf(server.url);
    const domain = await createDomainWithKey(call, { slug: unique('traced') });
    const res = await call('POST', `/v1/domains/${domain.id}/resources`, {
      token: domain.key,
      body: { kind: 'storage', name: 'files' },
      headers: { traceparent: `00-${traceId}-${parentId}-01` },
    });
    expect(res.status, await res.text()).toBe(201);
    requestId = res.headers.get('x-request-id')!;
    // A clean stop flushes the spans still batched.
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    logLines = server
      .output()
      .stdout.split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { reqId?: string; trace_id?: string; msg?: string });
  });
  afterAll(async () => {
    await killAll();
    await new Promise((resolve) => otlp.server.close(resolve));
    dir.remove();
  });

  it('continues the incoming trace in a server span that names the request id', () => {
    const server = otlp.spans.filter((s) => s.traceId === traceId && s.kind === 2);
    expect(server.map((s) => s.name)).toEqual(['POST /v1/domains/:domainId/resources']);
    expect(server[0]!.parentSpanId).toBe(parentId);
    expect(attribute(server[0]!, 'bulkhead.request_id')).toBe(requestId);
    expect(attribute(server[0]!, 'http.route')).toBe('/v1/domains/:domainId/resources');
    expect(attribute(server[0]!, 'http.response.status_code')).toBe(201);
  });

  it('has the store transactions and the provider call as children in the same trace', () => {
    const inTrace = otlp.spans.filter((s) => s.traceId === traceId);
    const server = inTrace.find((s) => s.kind === 2)!;
    const byId = new Map(inTrace.map((s) => [s.spanId, s]));
    // Every span of the trace leads up to the server span.
    const descends = (s: OtlpSpan): boolean => {
      for (let p = s.parentSpanId; p !== undefined && p !== ''; p = byId.get(p)?.parentSpanId)
        if (p === server.spanId) return true;
      return false;
    };
    const store = inTrace.filter((s) => s.name.startsWith('store.'));
    expect(store.length).toBeGreaterThan(0);
    for (const s of store) expect(descends(s), s.name).toBe(true);
    const create = inTrace.filter((s) => s.name === 'provider.create');
    expect(create).toHaveLength(1);
    expect(descends(create[0]!)).toBe(true);
    expect(attribute(create[0]!, 'bulkhead.resource.kind')).toBe('storage');
    // Other requests (the domain and its key) are traces of their own.
    expect(otlp.spans.some((s) => s.traceId !== traceId && s.kind === 2)).toBe(true);
  });

  it("writes the request id and the trace id on the request's log lines", () => {
    const lines = logLines.filter((l) => l.reqId === requestId);
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['incoming request', 'request completed']),
    );
    // Fastify writes `incoming request` as the request arrives, before its span starts; every line after
    // it is written in the span.
    for (const line of lines.filter((l) => l.msg !== 'incoming request'))
      expect(line.trace_id, line.msg).toBe(traceId);
  });
});

describe('tracing settings', () => {
  it('is off by default and when switched off', () => {
    expect(tracingSettings(loadConfig({}))).toBeNull();
    expect(
      tracingSettings(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', BULKHEAD_TRACING: 'off' })),
    ).toBeNull();
    expect(
      tracingSettings(
        loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }),
      ),
    ).toBeNull();
    expect(
      tracingSettings(
        loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }),
      ),
    ).toBeNull();
  });

  it('follows the standard variables when BULKHEAD_TRACING is unset', () => {
    expect(tracingSettings(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }))).toEqual({
      endpoint: 'http://c:4318/v1/traces',
      serviceName: 'bulkhead',
    });
    expect(
      tracingSettings(loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'bulkhead-eu' })),
    ).toEqual({ endpoint: 'http://localhost:4318/v1/traces', serviceName: 'bulkhead-eu' });
  });

  it('refuses a bad setting at start, naming the variable', () => {
    for (const [name, value] of [
      ['BULKHEAD_TRACING', 'on'],
      ['OTEL_TRACES_EXPORTER', 'zipkin'],
      ['OTEL_EXPORTER_OTLP_ENDPOINT', 'collector:4318'],
      ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://c/v1/traces'],
      ['OTEL_SDK_DISABLED', 'yes'],
    ] as const) {
      expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: value })).toThrow(name);
    }
  });
});
