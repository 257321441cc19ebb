import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

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
    // the server's src/). test/sdk-package.test.ts checks the same against its package.json.
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
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^kysely(/.*)?$',
              message:
                'Queries live in src/store/repositories/; outside src/store/ take what a repository returns (see docs/development.md, "Layout").',
            },
          ],
        },
      ],
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
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex:
                '^(ioredis|pg|pg-[^/]+|postgres|amqplib|@kubernetes/client-node|@electric-sql/pglite|kysely)(/.*)?$',
              message:
                'src/http/ is the app only: reach backends and the database through the services and src/store/ (see docs/development.md, "Layout").',
            },
          ],
        },
      ],
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
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
  },
  prettier,
);
