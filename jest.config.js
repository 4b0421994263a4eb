/**
 * Jest runs TypeScript through swc (type checking is `npm run typecheck`). Tiers, in the order they run:
 * unit (pure code, no stack, `npm run test:unit`), then workflows, integration, e2e and faults, which share the local
 * stack that their global setup brings up. `npm test` runs every tier, one file at a time.
 */
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };

/** A tier that needs the local stack (Temporal, PostgreSQL, Docker). */
const stackTier = (name) => ({
  displayName: name,
  testEnvironment: 'node',
  roots: [`<rootDir>/tests/${name}`],
  testMatch: ['**/*.test.ts'],
  transform,
  // The stack, then the CLI bundle that bin/migrate runs (tests/cli-setup.ts).
  globalSetup: '<rootDir>/tests/cli-setup.ts',
  setupFiles: ['<rootDir>/tests/setup-runtime.ts'],
});

module.exports = {
  testTimeout: 120_000,
  globalSetup: '<rootDir>/tests/global-setup.ts',
  globalTeardown: '<rootDir>/tests/global-teardown.ts',
  testSequencer: '<rootDir>/tests/tier-sequencer.js',
  reporters: ['default', '<rootDir>/tests/timing-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/tests/unit'],
      testMatch: ['**/*.test.ts'],
      transform,
    },
    ...['workflows', 'integration', 'e2e', 'faults'].map(stackTier),
  ],
};
