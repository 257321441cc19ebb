import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// The layers of src/ (docs/development.md, "Layout"), lowest first: what each may import of src/ besides
// itself. Root files are named with their `.ts`. An arrow from a lower layer to a higher one, or between
// two layers that are not listed for each other, is refused by `no-restricted-imports` below.
const foundation = ['errors.ts', 'util', 'telemetry', 'domain', 'config.ts'];
/** Everything the assembly (runtime.ts) and the app above it may use. */
const belowTheApp = [
  ...foundation,
  'store',
  'providers',
  'crypto',
  'audit',
  'policy',
  'keys',
  'identity',
  'provisioner',
  'services',
  'billing',
  'verify',
];
const layers = {
  'errors.ts': [],
  util: [],
  telemetry: [],
  domain: ['errors.ts'],
  'config.ts': ['util', 'domain'],
  store: [...foundation],
  providers: [...foundation],
  crypto: [...foundation, 'store', 'providers'],
  audit: [...foundation, 'store'],
  policy: [...foundation, 'store', 'audit'],
  keys: [...foundation, 'store', 'audit', 'policy'],
  identity: [...foundation, 'store', 'audit', 'policy', 'keys', 'crypto'],
  provisioner: [...foundation, 'store', 'audit', 'policy', 'keys', 'crypto', 'providers'],
  services: [...foundation, 'store', 'audit', 'policy', 'keys', 'crypto', 'identity'],
  billing: [...foundation, 'store', 'audit', 'policy'],
  verify: [...foundation, 'store', 'audit'],
  'runtime.ts': belowTheApp,
  http: [...belowTheApp, 'runtime.ts'],
  runtime: [...belowTheApp, 'runtime.ts', 'http'],
  sdk: [],
};
// cli/ and index.ts are the entry points: they may import every layer, so they are not listed.

/** Drivers and the query builder: none under src/http/, the app only. */
const driverPattern = {
  regex: '^(ioredis|pg|pg-[^/]+|postgres|amqplib|@kubernetes/client-node|@electric-sql/pglite|kysely)(/.*)?$',
  message:
    'src/http/ is the app only: reach backends and the database through the services and src/store/ (see docs/development.md, "Layout").',
};
/** The query builder: only under src/store/. */
const kyselyPattern = {
  regex: '^kysely(/.*)?$',
  message:
    'Queries live in src/store/repositories/; outside src/store/ take what a repository returns (see docs/development.md, "Layout").',
};

/**
 * One config per layer and folder depth: a relative import is matched by the exact number of `../` that
 * leads from that depth back to src/, so a subfolder that shares a layer's name is not mistaken for it.
 */
function layerConfigs() {
  const escape = (name) => name.replace('.ts', '\\.js$');
  return Object.entries(layers).flatMap(([layer, allowed]) => {
    const refused = Object.keys(layers)
      .concat(['cli', 'index.ts'])
      .filter((other) => other !== layer && !allowed.includes(other));
    const names = refused.map((n) => (n.endsWith('.ts') ? escape(n) : `${n}/`)).join('|');
    const depths = layer.endsWith('.ts') ? [0] : [1, 2, 3, 4];
    return depths.map((depth) => {
      const up = depth === 0 ? '\\./' : `(\\.\\./){${depth}}`;
      const patterns = [
        {
          regex: `^${up}(${names})`,
          message: `src/${layer} may import only ${allowed.length === 0 ? 'nothing of src/' : allowed.join(', ')} (see docs/development.md, "Layout").`,
        },
      ];
      if (layer !== 'store') patterns.push(layer === 'http' ? driverPattern : kyselyPattern);
      const files =
        depth === 0
          ? [`src/${layer}`]
          : [
              `src/${layer}/${Array(depth - 1)
                .fill('*/')
                .join('')}*.ts`,
            ];
      return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } };
    });
  });
}

export default tseslint.config(
  { ignores: ['**/dist/', 'node_modules/', '.bulkhead/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // @bulkhead/sdk is a package of its own that services install without the server: its sources import
    // each other, node: built-ins, jose, and the optional peers ioredis and fastify, nothing else (never
    // the server's src/). test/auth/sdk-package.test.ts checks the same against its package.json.
    files: ['packages/sdk/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./[^/]+\\.js$|node:|jose$|ioredis$|fastify$)',
              message:
                '@bulkhead/sdk imports only its own files, node: built-ins, jose and its optional peers ioredis and fastify.',
            },
          ],
        },
      ],
    },
  },
  {
    // The store's tables are reached only through src/store/: its repositories hold every query, typed,
    // behind the domain-scoped or purpose-named door. Nothing else imports the query builder or builds a
    // query (a provider's own backend statements go through that backend's driver, not Kysely).
    files: ['src/**/*.ts'],
    ignores: ['src/store/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'MemberExpression[property.name=/^(selectFrom|selectNoFrom|insertInto|replaceInto|updateTable|deleteFrom|mergeInto)$/]',
          message: 'No SQL outside src/store/: put the query in a repository under src/store/repositories/.',
        },
      ],
    },
  },
  {
    // The HTTP app only answers requests over the services: no database or backend driver and no query
    // builder under src/http/ (clients with a lifetime of their own start in src/runtime/; queries live in
    // src/store/). Type imports count too.
    files: ['src/http/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'MemberExpression[property.name=/^(selectFrom|selectNoFrom|insertInto|replaceInto|updateTable|deleteFrom|mergeInto)$/]',
          message: 'No SQL under src/http/: put the query in a repository under src/store/repositories/.',
        },
        {
          selector:
            'ImportExpression[source.value=/^(ioredis|pg|pg-[^/]+|postgres|amqplib|@kubernetes\\u002Fclient-node|@electric-sql\\u002Fpglite|kysely)(\\u002F.*)?$/]',
          message: 'src/http/ is the app only: no driver or query builder, not even loaded on demand.',
        },
      ],
    },
  },
  ...layerConfigs(),
  {
    // The entry points may import every layer; the query builder stays in src/store/ all the same.
    files: ['src/cli/**/*.ts', 'src/index.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [kyselyPattern] }] },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
  },
  prettier,
);
