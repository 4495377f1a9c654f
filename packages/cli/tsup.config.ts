import { defineConfig } from 'tsup';

// One ES module, the executable: the shebang in src/main.ts is kept and the file made
// executable. The workspace packages (the backends included) and the npm dependencies stay
// external, imported at run time.
export default defineConfig({
  entry: ['src/main.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
