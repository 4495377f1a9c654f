import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// Tests run against the TypeScript sources (fast, exact stack traces); test/dist.test.ts
// separately imports the built ESM and CJS bundles so packaging cannot rot.
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@tapegrad\/core\/testing$/, replacement: src('./packages/core/src/testing/index.ts') },
      { find: /^@tapegrad\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@tapegrad\/nn$/, replacement: src('./packages/nn/src/index.ts') },
      { find: /^@tapegrad\/datasets$/, replacement: src('./packages/datasets/src/index.ts') },
      { find: /^@tapegrad\/charts$/, replacement: src('./packages/charts/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
