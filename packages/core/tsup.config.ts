import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', testing: 'src/testing/index.ts', 'testing-properties': 'src/testing/properties.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  external: ['fast-check', '@dagrejs/dagre'],
  // shared chunks for the entries, so index and testing see the same Tensor class
  splitting: true,
});
