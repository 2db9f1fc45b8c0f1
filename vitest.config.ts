import { configDefaults, defineConfig } from 'vitest/config';

// Tests run against each package's `src` through the `dev-source` export condition: no build needed.
const conditions = ['dev-source', 'module', 'node', 'import', 'default'];
const test = { testTimeout: 30_000, hookTimeout: 30_000, pool: 'forks' } as const;

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { conditions },
        ssr: { resolve: { conditions, externalConditions: conditions } },
        test: {
          ...test,
          setupFiles: ['vitest.setup.ts'],
          name: 'packages',
          include: ['packages/*/test/**/*.test.ts', 'tests/*/test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'packages/wal-postgres/**', '**/*.postgres.test.ts'],
        },
      },
      {
        // The PostgreSQL log's tests share one throwaway server, started once per run (and only when
        // one of them runs) by the global setup. Node runs them without the `import` condition for
        // `require`: `pg` requires packages whose exports list `import` before `require`.
        resolve: { conditions },
        ssr: { resolve: { conditions: ['dev-source', 'node', 'development|production'], externalConditions: ['dev-source', 'node'] } },
        test: {
          ...test,
          setupFiles: ['vitest.setup.ts'],
          name: 'wal-postgres',
          // (And the tests of other packages that need the server: `*.postgres.test.ts`.)
          include: ['packages/wal-postgres/test/**/*.test.ts', 'packages/*/test/**/*.postgres.test.ts'],
          globalSetup: ['packages/wal-postgres/test/support/global-setup.ts'],
        },
      },
    ],
  },
});
