import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const src = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

// The workspace packages are bundled from their TypeScript sources (like the tests), so the
// page needs no `pnpm build` of them, only backend-wasm's generated module (its wasm bytes).
export default defineConfig({
  base: './',
  resolve: {
    alias: [
      { find: /^@tapegrad\/core\/testing$/, replacement: src('core/src/testing/index.ts') },
      { find: /^@tapegrad\/core$/, replacement: src('core/src/index.ts') },
      { find: /^@tapegrad\/nn$/, replacement: src('nn/src/index.ts') },
      { find: /^@tapegrad\/datasets$/, replacement: src('datasets/src/index.ts') },
      { find: /^@tapegrad\/charts$/, replacement: src('charts/src/index.ts') },
      { find: /^@tapegrad\/backend-wasm$/, replacement: src('backend-wasm/src/index.ts') },
    ],
  },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  preview: { host: '127.0.0.1' },
});
