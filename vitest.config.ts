import { defineConfig } from 'vitest/config';

// Tests run against each package's `src` through the `dev-source` export condition: no build needed.
const conditions = ['dev-source', 'module', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'tests/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    setupFiles: ['vitest.setup.ts'],
  },
});
