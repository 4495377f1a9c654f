import { defineConfig } from 'tsup';

// ESM only, like vega itself. vega and vega-lite stay external: the CLI imports them from
// node_modules, a browser bundler (the playground's Vite) resolves them itself.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
