import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * Seconds each slow file took in a CI run (vitest's JSON report, 2 cores). With two workers the
 * suite ends when the last file does, so the long files must start first; vitest orders by the
 * durations of its previous run, but a clean clone has none and falls back to the file size,
 * which would leave e.g. the README snippets (a short file, the longest run) for last.
 */
const CI_SECONDS: Record<string, number> = {
  'test/readme.test.ts': 24.0,
  'packages/cli/test/cnn.test.ts': 17.8,
  'test/examples.test.ts': 11.8,
  'test/examples.models.test.ts': 11.7,
  'packages/cli/test/train.test.ts': 10.7,
  'test/playground.test.ts': 10.1,
  'test/ops.webgpu.property.test.ts': 8.7,
  'packages/backend-wasm/test/threads.test.ts': 8.6,
  'test/graph.test.ts': 8.5,
  'packages/cli/test/webgpu.test.ts': 8.5,
  'test/bench.test.ts': 8.2,
  'packages/datasets/test/universal.test.ts': 7.8,
  'test/consumer.test.ts': 7.6,
  'packages/cli/test/errors.test.ts': 7.3,
  'packages/cli/test/gradcheck.test.ts': 6.9,
  'packages/backend-webgpu/test/matmul.test.ts': 4.5,
  'packages/cli/test/reliability.test.ts': 4.3,
  'test/ops.property.test.ts': 4.0,
  'packages/cli/test/graph.test.ts': 3.7,
  'packages/nn/test/nn.webgpu.test.ts': 3.4,
};

/** The files of CI_SECONDS first, longest first; then the others in vitest's own order. */
class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const seconds = (spec: TestSpecification) => CI_SECONDS[relative(this.ctx.config.root, spec.moduleId).replaceAll('\\', '/')] ?? 0;
    // Array.prototype.sort is stable: files of equal (or no) listed time keep vitest's order
    return sorted.sort((a, b) => seconds(b) - seconds(a));
  }
}

// Tests run against the TypeScript sources (fast, exact stack traces); test/dist.test.ts
// separately imports the built ESM and CJS bundles so packaging cannot rot.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@tapegrad\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
      { find: /^@tapegrad\/core\/testing\/properties$/, replacement: src('./packages/core/src/testing/properties.ts') },
      { find: /^@tapegrad\/core$/, replacement: src('./packages/core/src/index.ts') },
      // Node resolves the packages' plain names to their node entries (universal + file helpers)
      { find: /^@tapegrad\/nn(\/node)?$/, replacement: src('./packages/nn/src/node.ts') },
      { find: /^@tapegrad\/datasets(\/node)?$/, replacement: src('./packages/datasets/src/node.ts') },
      { find: /^@tapegrad\/charts$/, replacement: src('./packages/charts/src/index.ts') },
      { find: /^@tapegrad\/backend-webgpu$/, replacement: src('./packages/backend-webgpu/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    // beforeAll/afterAll get the tests' allowance, not vitest's 10 s: a hook that loads MNIST or
    // starts a process is as slow as a test when the other worker (and other work) share the cores
    hookTimeout: 60_000,
    // vitest's default for `run` is one worker less than the cores: on the 2-core CI machine one
    // worker, so the files ran one after another (307 s). Most of the suite's time is CPU in the
    // worker or in the processes its tests start, so two workers keep both cores busy.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // the long files first, so that no long file is left to run alone at the end
    sequence: { sequencer: SlowFirstSequencer },
  },
});
