// Starts a real nginx (the Debian package's binary) as a reverse proxy in front of a server of the test,
// with a configuration of its own in a temporary directory and a free port. It connects upstream from
// 127.0.0.2, so the server can tell the proxy from clients on 127.0.0.1, and rewrites Host to the
// upstream's address as many deployments do, saying what the client asked for in X-Forwarded-Host. An
// nginx that cannot be started fails the suite; it is never skipped (.ci/run installs the package).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts, freePort } from './processes.js';

export const nginxBinaries = ['/usr/sbin/nginx', '/usr/bin/nginx'];

const binary = nginxBinaries.find((path) => spawnSync(path, ['-v']).status === 0);

/** The address nginx connects to its upstream from. */
export const proxyAddress = '127.0.0.2';

export interface Nginx {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts nginx on 127.0.0.1, passing every request to `upstreamPort` on 127.0.0.1. */
export async function startNginx(upstreamPort: number): Promise<Nginx> {
  if (binary === undefined) {
    throw new Error(`nginx is not installed (looked for ${nginxBinaries.join(', ')}): apt-get install nginx`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    [
      'daemon off;',
      'master_process off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`),
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location / {',
      `      proxy_pass http://127.0.0.1:${upstreamPort};`,
      `      proxy_bind ${proxyAddress};`,
      `      proxy_set_header Host 127.0.0.1:${upstreamPort};`,
      '      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      '      proxy_set_header X-Forwarded-Host $http_host;',
      '      proxy_set_header X-Forwarded-Proto $scheme;',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['-e', join(dir, 'error.log'), '-p', dir, '-c', conf], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 100 && !(await accepts(port)); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!(await accepts(port))) {
    child.kill('SIGKILL');
    let log = '';
    try {
      log = readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      // no log written
    }
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx did not start on port ${port}: ${log}`);
  }
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
