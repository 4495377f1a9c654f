import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // core holds the backend registry: bundling a copy would register 'webgpu' in the wrong one;
  // 'webgpu' (Dawn for Node, a native addon) is loaded only in Node, only when asked
  external: ['@tapegrad/core', 'webgpu'],
});
