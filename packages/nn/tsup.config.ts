import { defineConfig } from 'tsup';

export default defineConfig({
  // index: the universal entry (the browser's); node: index plus the file helpers (Node's)
  entry: { index: 'src/index.ts', node: 'src/node.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // shared chunks, so both entries hand out the same classes (instanceof holds across them)
  splitting: true,
});
