import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // import.meta.url in the CommonJS build (the addon is found relative to this file)
  shims: true,
  // core holds the backend registry: bundling a copy would register 'native' in the wrong one
  external: ['@tapegrad/core'],
});
