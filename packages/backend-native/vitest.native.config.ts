/**
 * The repository's vitest config with every test file run on the native backend
 * (test/use-native.setup.ts selects it first): what native buys the float64-heavy suites.
 *
 *   npx vitest run --config packages/backend-native/vitest.native.config.ts test/backprop.property.test.ts
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

export default mergeConfig(base, defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: { setupFiles: [fileURLToPath(new URL('./test/use-native.setup.ts', import.meta.url))] },
}));
