import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // loadMnist resolves the `mnist` package with createRequire(import.meta.url); the shim
  // gives the CJS build a real import.meta.url
  shims: true,
});
