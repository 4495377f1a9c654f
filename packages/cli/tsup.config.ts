import { defineConfig } from 'tsup';

// One ES module, the executable: the shebang in src/main.ts is kept and the file made
// executable. The workspace packages and the npm dependencies stay external (imported at
// run time), and so does the optional @tapegrad/backend-wasm, which is looked up by name.
export default defineConfig({
  entry: ['src/main.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
  external: ['@tapegrad/backend-wasm'],
});
