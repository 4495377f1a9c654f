import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

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
  },
});
