// @bulkhead/sdk is installed by services that only verify tokens: it must stay a package of its own that
// brings jose and nothing else. Its package.json declares jose as its one dependency and ioredis (for the
// revocation feed) and fastify (for bulkheadFastify's types) as optional peers; its sources import each
// other, node: built-ins and those packages only — never the server's src/ — and the optional peers only
// in a way that loads nothing when they are absent (a type-only import, or ioredis required when a feed
// is created). eslint.config.js says the same for the editor.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import Fastify from 'fastify';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as rootSdk from '../../src/sdk/index.js';
import * as packageSdk from '@bulkhead/sdk';
import * as packageFastify from '@bulkhead/sdk/fastify';
import { repoRoot } from '../helpers/processes.js';

const packageDir = join(repoRoot, 'packages', 'sdk');
const sourceDir = join(packageDir, 'src');

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  optionalDependencies?: Record<string, string>;
  bundleDependencies?: unknown;
  bundledDependencies?: unknown;
}

const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as PackageJson;

/** How each source file of the package reaches another module. */
interface ModuleUse {
  readonly file: string;
  readonly specifier: string;
  /** `import type`, or every name imported is a type: nothing is loaded at run time. */
  readonly typeOnly: boolean;
  readonly how: 'import' | 'export' | 'dynamic import' | 'require';
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

function moduleUses(file: string): ModuleUse[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const uses: ModuleUse[] = [];
  const name = relative(packageDir, file);
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            bindings !== undefined &&
            ts.isNamedImports(bindings) &&
            bindings.elements.length > 0 &&
            bindings.elements.every((e) => e.isTypeOnly)));
      uses.push({ file: name, specifier: node.moduleSpecifier.text, typeOnly, how: 'import' });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      uses.push({
        file: name,
        specifier: node.moduleSpecifier.text,
        typeOnly: node.isTypeOnly,
        how: 'export',
      });
    } else if (ts.isCallExpression(node)) {
      const [first] = node.arguments;
      const literal = first !== undefined && ts.isStringLiteralLike(first) ? first.text : null;
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        uses.push({ file: name, specifier: literal ?? '<computed>', typeOnly: false, how: 'dynamic import' });
      } else if (
        // require('x'), or createRequire(import.meta.url)('x')
        (ts.isIdentifier(node.expression) && node.expression.text === 'require') ||
        (ts.isCallExpression(node.expression) &&
          ts.isIdentifier(node.expression.expression) &&
          node.expression.expression.text === 'createRequire')
      ) {
        uses.push({ file: name, specifier: literal ?? '<computed>', typeOnly: false, how: 'require' });
      }
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument) && ts.isStringLiteral(argument.literal))
        uses.push({ file: name, specifier: argument.literal.text, typeOnly: true, how: 'import' });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

const files = sourceFiles(sourceDir);
const uses = files.flatMap(moduleUses);
const builtins = new Set(builtinModules);

describe('@bulkhead/sdk as a package', () => {
  it('depends on jose alone, with ioredis and fastify as optional peers', () => {
    expect(manifest.name).toBe('@bulkhead/sdk');
    expect(Object.keys(manifest.dependencies ?? {})).toEqual(['jose']);
    expect(Object.keys(manifest.peerDependencies ?? {}).sort()).toEqual(['fastify', 'ioredis']);
    for (const peer of Object.keys(manifest.peerDependencies ?? {}))
      expect(manifest.peerDependenciesMeta?.[peer]?.optional, peer).toBe(true);
    expect(manifest.optionalDependencies).toBeUndefined();
    expect(manifest.bundleDependencies ?? manifest.bundledDependencies).toBeUndefined();
  });

  it('has sources to check', () => {
    expect(files.map((f) => relative(sourceDir, f)).sort()).toEqual(
      expect.arrayContaining([
        'fastify.ts',
        'feed.ts',
        'index.ts',
        'middleware.ts',
        'profile.ts',
        'verifier.ts',
      ]),
    );
    expect(uses.length).toBeGreaterThan(10);
  });

  it('imports nothing outside the package but node: built-ins, jose and its optional peers', () => {
    const outside = uses.filter((use) => {
      const { specifier } = use;
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(join(packageDir, use.file)), specifier.replace(/\.js$/, '.ts'));
        return !target.startsWith(sourceDir + '/') || !existsSync(target);
      }
      if (specifier.startsWith('node:')) return !builtins.has(specifier.slice('node:'.length));
      return !['jose', 'ioredis', 'fastify'].includes(specifier);
    });
    expect(outside).toEqual([]);
  });

  it('loads an optional peer only where it is needed: fastify never, ioredis when a feed is created', () => {
    const loaded = uses.filter((use) => ['ioredis', 'fastify'].includes(use.specifier) && !use.typeOnly);
    expect(loaded).toEqual([{ file: 'src/feed.ts', specifier: 'ioredis', typeOnly: false, how: 'require' }]);
    // and no built-in module is reached by a name without node: (which a bundler could take for a package)
    expect(uses.filter((use) => builtins.has(use.specifier))).toEqual([]);
  });

  it('refers to Fastify only in @bulkhead/sdk/fastify, which the main entry point does not reach', () => {
    expect([...new Set(uses.filter((use) => use.specifier === 'fastify').map((use) => use.file))]).toEqual([
      'src/fastify.ts',
    ]);
    expect(uses.filter((use) => use.specifier === './fastify.js')).toEqual([]);
  });

  it('registers its Fastify plugin without fastify-plugin, over the routes of the scope it is registered in', async () => {
    const verifier = {
      verify: (token: string, domainId: string) =>
        token === 'good' && domainId === 'dom_a'
          ? Promise.resolve({ domainId, subject: 'p', sessionId: 's', clientId: null, expiresAt: 0 })
          : Promise.reject(new packageSdk.TokenRefused('no')),
    };
    const app = Fastify();
    try {
      await app.register(packageFastify.bulkheadFastify, {
        verifier,
        domainOf: (request) => (request.params as { domainId?: string }).domainId ?? null,
      });
      app.get('/:domainId', (request) => ({ domainId: request.bulkhead?.domainId }));
      await app.ready();
      expect(app.hasPlugin('bulkhead-sdk')).toBe(true);
      const ok = await app.inject({ url: '/dom_a', headers: { authorization: 'Bearer good' } });
      expect([ok.statusCode, ok.json()]).toEqual([200, { domainId: 'dom_a' }]);
      for (const [url, authorization] of [
        ['/dom_b', 'Bearer good'],
        ['/dom_a', 'Bearer bad'],
        ['/dom_a', undefined],
      ] as const) {
        const refused = await app.inject({
          url,
          headers: authorization === undefined ? {} : { authorization },
        });
        expect(refused.statusCode).toBe(401);
        expect(refused.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
      }
    } finally {
      await app.close();
    }
  });

  it('is what bulkhead/sdk exports, with the Fastify plugin', () => {
    const both = { ...packageSdk, ...packageFastify };
    expect(Object.keys(rootSdk).sort()).toEqual(Object.keys(both).sort());
    for (const [name, value] of Object.entries(both))
      expect(rootSdk[name as keyof typeof rootSdk], name).toBe(value);
  });
});
