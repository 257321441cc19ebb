#!/usr/bin/env node
// `npm start` runs this first: it compiles the SDK (packages/sdk, which the server imports) and src/ into
// their dist/ only when something the build reads changed since the last build it made. The fingerprint
// covers every file and directory under src/ and packages/sdk/src/ (a deleted or renamed file changes its
// directory), the tsconfig files, the SDK's package.json and the lock file (a new TypeScript), by path,
// size and modification time; it is kept in dist/.build-stamp, written only after a build succeeded.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stampFile = join(root, 'dist', '.build-stamp');
const sdk = join(root, 'packages', 'sdk');
const inputs = [
  'src',
  'tsconfig.json',
  'tsconfig.build.json',
  'package-lock.json',
  'packages/sdk/src',
  'packages/sdk/tsconfig.json',
  'packages/sdk/package.json',
];

function entries(path) {
  if (!existsSync(path)) return [];
  const stat = statSync(path);
  const line = `${relative(root, path)}\0${stat.size}\0${stat.mtimeMs}`;
  if (!stat.isDirectory()) return [line];
  const children = readdirSync(path).sort();
  return [line, ...children.flatMap((name) => entries(join(path, name)))];
}

function fingerprint() {
  const hash = createHash('sha256');
  for (const input of inputs) for (const line of entries(join(root, input))) hash.update(`${line}\n`);
  return hash.digest('hex');
}

const wanted = fingerprint();
const built = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : null;
if (
  built === wanted &&
  existsSync(join(root, 'dist', 'cli', 'main.js')) &&
  existsSync(join(sdk, 'dist', 'index.js'))
)
  process.exit(0);

process.stderr.write('bulkhead: the sources changed since the last build; compiling them into dist/ …\n');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
for (const [cwd, project] of [
  [sdk, join(sdk, 'tsconfig.json')],
  [root, join(root, 'tsconfig.build.json')],
]) {
  const result = spawnSync(process.execPath, [tsc, '-p', project], { cwd, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
writeFileSync(stampFile, `${wanted}\n`);
