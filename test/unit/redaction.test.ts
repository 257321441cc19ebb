// The server's log redaction, checked on a real pino logger with the server's own paths: Fastify's
// default serializers leave headers out, but a log line that includes them must not carry secrets.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { redactPaths } from '../../src/http/server.js';

describe('log redaction', () => {
  it('replaces credentials and secret fields', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = pino({ redact: { paths: redactPaths, censor: '[redacted]' } }, sink);
    log.info({
      req: { headers: { authorization: 'Bearer bho_secret_token', cookie: 'sid=secret-cookie' } },
      res: { headers: { 'set-cookie': 'sid=secret-set-cookie' } },
      body: {
        key: 'bhk_secret_key',
        token: 'secret-token',
        secret: 'secret-value',
        password: 'secret-password',
      },
    });
    const out = lines.join('');
    expect(out).toContain('[redacted]');
    for (const secret of [
      'bho_secret_token',
      'secret-cookie',
      'secret-set-cookie',
      'bhk_secret_key',
      'secret-token',
      'secret-value',
      'secret-password',
    ]) {
      expect(out).not.toContain(secret);
    }
  });
});
