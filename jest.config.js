/**
 * Jest runs the TypeScript sources as native ES modules (the project is "type": "module"):
 * @swc/jest strips types only, so `npm run typecheck` is what checks them.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      // keepImportAttributes: JSON modules are imported `with { type: 'json' }`, as Node requires.
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022', experimental: { keepImportAttributes: true } },
      module: { type: 'es6' },
      sourceMaps: 'inline',
    }],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 30000,
  // Rebuilds dist/ when the sources changed since its last build (tests spawn dist/cli.js).
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  // Removes the run's temporary root, under which global setup puts every temporary directory.
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  // Integration suites bind real ports and start real servers; two workers match the 2-core machines.
  maxWorkers: 2,
};
