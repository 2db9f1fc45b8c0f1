import { defineConfig } from 'vitest/config';

// The published packages as users install them: built from a copy of the workspace, packed, and
// installed with npm into empty projects (tests/integration/packed). A run of its own, after the
// other tests, so that its builds and compiles do not load the machine under them.
export default defineConfig({
  test: {
    include: ['tests/integration/packed/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: 'forks',
  },
});
