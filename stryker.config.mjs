// @ts-check
import { fileURLToPath } from 'node:url';

/**
 * Mutation testing with StrykerJS and its vitest runner: does the suite notice when the code
 * is changed (a + turned into −, a condition negated, a statement removed)? Too slow for CI
 * on 2 cores; run it with scripts/mutation.sh, which picks what to mutate and which tests to
 * run (see there). Reports land in reports/mutation/.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  // by path: under pnpm, core cannot see its sibling plugins through the "@stryker-mutator/*" glob
  plugins: [fileURLToPath(import.meta.resolve('@stryker-mutator/vitest-runner'))],
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  // each mutant runs only the tests that executed its code in the initial run
  coverageAnalysis: 'perTest',
  mutate: [
    'packages/core/src/ops/**/*.ts',
    'packages/core/src/tape.ts',
    'packages/core/src/testing/gradcheck.ts',
    'packages/nn/src/manual/**/*.ts',
  ],
  // the sandbox needs the sources, configs and node_modules, not builds or reports
  ignorePatterns: ['dist', 'out', 'reports', 'packages/backend-native/build', '.test-report.json'],
  concurrency: 2,
  timeoutMS: 20000,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
