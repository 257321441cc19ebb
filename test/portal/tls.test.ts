// HTTPS for the portal: the certificate and key from files, checked at start with one line for each
// mistake, or made at start for development; the app answers over TLS with that certificate.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/http/server.js';
import { loadTls, selfSigned } from '../../src/runtime/tls.js';
import { backends, openTestServices } from '../helpers/backends.js';

describe('TLS configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-tls-'));

  it('wants the certificate and the key together, and not with a self-signed one', () => {
    expect(() => loadConfig({ BULKHEAD_TLS_CERT: '/x.pem' })).toThrow(
      'invalid configuration: BULKHEAD_TLS_KEY is required with BULKHEAD_TLS_CERT',
    );
    expect(() => loadConfig({ BULKHEAD_TLS_KEY: '/x.pem' })).toThrow(
      'invalid configuration: BULKHEAD_TLS_CERT is required with BULKHEAD_TLS_KEY',
    );
    expect(() =>
      loadConfig({ BULKHEAD_TLS_CERT: '/c', BULKHEAD_TLS_KEY: '/k', BULKHEAD_TLS_SELF_SIGNED: 'true' }),
    ).toThrow(/BULKHEAD_TLS_SELF_SIGNED/);
    expect(() => loadConfig({ BULKHEAD_TLS_SELF_SIGNED: 'yes' })).toThrow(/must be true or false/);
  });

  it('reads a certificate and its key, and refuses a missing file, garbage and a key of another', async () => {
    const one = await selfSigned(['portal.a.test']);
    const other = await selfSigned([]);
    const file = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    };
    const cert = file('cert.pem', one.cert);
    const key = file('key.pem', one.key);
    const ok = await loadTls(loadConfig({ BULKHEAD_TLS_CERT: cert, BULKHEAD_TLS_KEY: key }), []);
    expect(ok?.cert).toBe(one.cert);
    const attempt = (c: string, k: string) =>
      loadTls(loadConfig({ BULKHEAD_TLS_CERT: c, BULKHEAD_TLS_KEY: k }), []);
    await expect(attempt(join(dir, 'missing.pem'), key)).rejects.toThrow(
      /BULKHEAD_TLS_CERT cannot be read \(ENOENT\)/,
    );
    await expect(attempt(file('junk.pem', 'not a certificate'), key)).rejects.toThrow(
      'invalid configuration: BULKHEAD_TLS_CERT is not a PEM certificate',
    );
    await expect(attempt(cert, file('junk-key.pem', 'nope'))).rejects.toThrow(ConfigError);
    await expect(attempt(cert, file('other-key.pem', other.key))).rejects.toThrow(
      'invalid configuration: BULKHEAD_TLS_KEY is not the key of BULKHEAD_TLS_CERT',
    );
  });

  it('makes a development certificate that names localhost and the portal hosts', async () => {
    const made = await selfSigned(['portal.a.test', 'portal.b.test']);
    const x509 = new X509Certificate(made.cert);
    expect(x509.subjectAltName).toContain('DNS:portal.a.test');
    expect(x509.subjectAltName).toContain('DNS:portal.b.test');
    expect(x509.subjectAltName).toContain('DNS:localhost');
    expect(x509.checkPrivateKey(createPrivateKey(made.key))).toBe(true);
  });

  it('serves the app over HTTPS with that certificate', async () => {
    const services = await openTestServices(backends[0]!);
    const made = await selfSigned(['portal.a.test']);
    const app = await buildServer(services, { https: made });
    try {
      const url = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
      expect(url.protocol).toBe('https:');
      const { status, peer } = await new Promise<{ status: number; peer: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: url.port, path: '/healthz', ca: made.cert, servername: 'localhost' },
          (res) => {
            const cert = (res.socket as TLSSocket).getPeerCertificate();
            res.resume();
            resolve({ status: res.statusCode ?? 0, peer: cert.subjectaltname ?? '' });
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      expect(peer).toContain('DNS:portal.a.test');
    } finally {
      await app.close();
      await services.drop();
    }
  });
});
