import { defineConfig } from 'vitest/config';
import base from './vitest.config';

/**
 * The tests StrykerJS runs against each mutant (scripts/mutation.sh): only those that can
 * kill a mutant of the area being mutated, not the whole suite (no dist, CLI, bench or
 * example runs, which spawn processes and take minutes). MUTATION_TESTS selects the set.
 */
const TESTS: Record<string, string[]> = {
  core: [
    'packages/core/test/**/*.test.ts',
    'test/ops.property.test.ts',
    'test/ops-second-order.test.ts',
  ],
  // core's own tests without the op property files: a dry run of a minute instead of ten on a
  // loaded machine, for files those tests cover; survivors are then re-run against the
  // property files by hand (docs/mutation.md)
  coreUnit: ['packages/core/test/**/*.test.ts'],
  manual: [
    'packages/nn/test/backprop.test.ts',
    'test/backprop.property.test.ts',
    'packages/nn/test/manual-cnn.test.ts',
    'test/manual-cnn.property.test.ts',
    'packages/nn/test/mutation-kills.*.test.ts',
  ],
  // the op property files, for composites core's unit tests do not reach; narrow them to the
  // cases of the file being mutated with MUTATION_TEST_NAMES (a vitest -t pattern), e.g.
  // 'softplus|logSigmoid|prod, zeros|variance and std' for composite/statistics.ts and softplus.ts
  // the deferred weight gradient (ops/matmul.ts) and its fold into the update (ops/arithmetic.ts)
  deferred: [
    'packages/core/test/deferred-matmul.test.ts',
    'packages/core/test/deferred-scale.test.ts',
    'test/fused-update.backends.test.ts',
    'packages/core/test/mutation-kills.deferred.test.ts',
    'packages/core/test/mutation-kills.matmul.test.ts',
  ],
  ops: ['test/ops.property.test.ts', 'test/ops-second-order.test.ts'],
  // the tape's own tests and the ones that differentiate through it most directly, for a
  // run over tape.ts alone (every gradient test covers its sweep: the full set reruns
  // hundreds of them for each surviving mutant)
  tape: [
    'packages/core/test/tape.test.ts',
    'packages/core/test/tidy.test.ts',
    'packages/core/test/mutation-kills.tape.test.ts',
    'packages/core/test/anomaly.test.ts',
    'packages/core/test/custom-grad.test.ts',
    'packages/core/test/memory.test.ts',
    'packages/core/test/ops.test.ts',
  ],
};

const selected = (process.env.MUTATION_TESTS ?? 'core').split(',').flatMap((name) => {
  const files = TESTS[name];
  if (!files) throw new Error(`MUTATION_TESTS: unknown set '${name}' (known: ${Object.keys(TESTS).join(', ')})`);
  return files;
});

const testNamePattern = process.env.MUTATION_TEST_NAMES;

// spread, not mergeConfig: that would append to the base's include list instead of replacing it
export default defineConfig({ ...base, test: { ...base.test, include: selected, ...(testNamePattern ? { testNamePattern } : {}) } });
