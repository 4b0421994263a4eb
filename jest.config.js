/**
 * Jest runs TypeScript through swc (type checking is `npm run typecheck`). Tiers: unit (pure code, no stack,
 * `npm run test:unit`), then workflows, integration, e2e and faults, which share the local stack that their global
 * setup brings up. `npm test` runs every tier with three workers (the files mostly wait on timers and servers: two cores are not busy with
 * two), each with a slot of its own on the stack
 * (tests/helpers/slot.ts); a file marked `@exclusive` runs alone (tests/machine-environment.js).
 */
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };

/** A tier that needs the local stack (Temporal, PostgreSQL, Docker). */
const stackTier = (name) => ({
  displayName: name,
  testEnvironment: '<rootDir>/tests/machine-environment.js',
  roots: [`<rootDir>/tests/${name}`],
  testMatch: ['**/*.test.ts'],
  transform,
  // The stack, then the CLI bundle that bin/migrate runs (tests/cli-setup.ts).
  globalSetup: '<rootDir>/tests/cli-setup.ts',
  setupFiles: ['<rootDir>/tests/setup-runtime.ts', '<rootDir>/tests/setup-slot.ts'],
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
      // Quiet: the replay test's workers log warnings and errors only.
      setupFiles: ['<rootDir>/tests/setup-runtime.ts'],
    },
    ...['workflows', 'integration', 'e2e', 'faults'].map(stackTier),
  ],
};
