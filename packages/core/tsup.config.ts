import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  external: ['fast-check', '@dagrejs/dagre'],
  // one shared chunk for both entries, so index and testing see the same Tensor class
  splitting: true,
});
