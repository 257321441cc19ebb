// HTTPS for `bulkhead serve`: the portal's `__Host-` cookies need a secure origin. The certificate and
// key come from files (BULKHEAD_TLS_CERT, BULKHEAD_TLS_KEY), read and checked once at start — each
// must parse and the key must be the certificate's, or the start stops with one line — or, for
// development only, are made at start (`--tls-self-signed`) for localhost and the portal hosts.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { generate } from 'selfsigned';
import { ConfigError, type Config } from '../config.js';

export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
  /** How the banner describes it. */
  readonly source: string;
}

async function readPem(path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `invalid configuration: ${variable} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}): ${path}`,
    );
  }
}

/** The certificate and key the server listens with, or null for plain HTTP. */
export async function loadTls(config: Config, hosts: readonly string[]): Promise<TlsMaterial | null> {
  if (config.tlsSelfSigned) return selfSigned(hosts);
  if (config.tlsCert === undefined || config.tlsKey === undefined) return null;
  const cert = await readPem(config.tlsCert, 'BULKHEAD_TLS_CERT');
  const key = await readPem(config.tlsKey, 'BULKHEAD_TLS_KEY');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new ConfigError('invalid configuration: BULKHEAD_TLS_CERT is not a PEM certificate');
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError('invalid configuration: BULKHEAD_TLS_KEY is not an unencrypted PEM private key');
  }
  if (!x509.checkPrivateKey(privateKey))
    throw new ConfigError('invalid configuration: BULKHEAD_TLS_KEY is not the key of BULKHEAD_TLS_CERT');
  if (new Date(x509.validTo).getTime() < Date.now())
    throw new ConfigError(`invalid configuration: BULKHEAD_TLS_CERT expired on ${x509.validTo}`);
  return { key, cert, source: `certificate ${x509.subject.replaceAll('\n', ', ')} from BULKHEAD_TLS_CERT` };
}

/** A self-signed ECDSA certificate for a day, naming localhost, 127.0.0.1 and the given hosts. */
export async function selfSigned(hosts: readonly string[]): Promise<TlsMaterial> {
  const names = [...new Set(['localhost', ...hosts])];
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'bulkhead development' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...names.map((value) => ({ type: 2 as const, value })),
          { type: 7 as const, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return {
    key: pems.private,
    cert: pems.cert,
    source: `a self-signed certificate for ${names.join(', ')}, 127.0.0.1 (development only)`,
  };
}
