import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // core holds the backend registry: bundling a copy would register 'wasm' in the wrong one
  external: ['@tapegrad/core'],
});
