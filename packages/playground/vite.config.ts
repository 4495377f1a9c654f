import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Plugin, defineConfig } from 'vite';

const src = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

/** Images of each digit in the page's MNIST subset: mnistFromDigits' 80/20 split makes 100 train + 25 test. */
const MNIST_PER_DIGIT = 125;

/**
 * The first MNIST_PER_DIGIT images of each digit from the `mnist` package's JSON files (the
 * ones @tapegrad/datasets reads), digit 0 first, each pixel quantised to 4 bits and two pixels
 * packed per byte: 10 × 125 × 784 / 2 = 490 kB instead of ≈ 4 MB of JSON. The page unpacks it
 * into `{ data }` per digit for `mnistFromDigits`.
 */
function packMnistSubset(): Uint8Array {
  // resolved from datasets, which depends on `mnist`: the playground does not need its own copy
  const require = createRequire(src('datasets/package.json'));
  const pixels = 784 * MNIST_PER_DIGIT;
  const packed = new Uint8Array((10 * pixels) / 2);
  for (let d = 0; d < 10; d++) {
    const { data } = JSON.parse(readFileSync(require.resolve(`mnist/src/digits/${d}.json`), 'utf8')) as { data: number[] };
    if (data.length < pixels) throw new Error(`mnist digit ${d}: only ${data.length / 784} images, need ${MNIST_PER_DIGIT}`);
    for (let i = 0; i < pixels; i++) {
      const at = d * pixels + i;
      const level = Math.min(15, Math.max(0, Math.round(data[i] * 15)));
      packed[at >> 1] |= at % 2 === 0 ? level << 4 : level;
    }
  }
  return packed;
}

/** Serves /mnist-subset.bin in development and emits it next to index.html in the build. */
function mnistSubset(): Plugin {
  let bytes: Uint8Array | undefined;
  const subset = () => (bytes ??= packMnistSubset());
  return {
    name: 'tapegrad-mnist-subset',
    configureServer(server) {
      server.middlewares.use('/mnist-subset.bin', (_request, response) => {
        response.setHeader('content-type', 'application/octet-stream');
        response.end(subset());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'mnist-subset.bin', source: subset() });
    },
  };
}

// The workspace packages are bundled from their TypeScript sources (like the tests), so the
// page needs no `pnpm build` of them, only backend-wasm's generated module (its wasm bytes).
export default defineConfig({
  base: './',
  plugins: [mnistSubset()],
  resolve: {
    alias: [
      { find: /^@tapegrad\/core\/testing$/, replacement: src('core/src/testing/index.ts') },
      { find: /^@tapegrad\/core$/, replacement: src('core/src/index.ts') },
      { find: /^@tapegrad\/nn$/, replacement: src('nn/src/index.ts') },
      { find: /^@tapegrad\/datasets$/, replacement: src('datasets/src/index.ts') },
      { find: /^@tapegrad\/charts$/, replacement: src('charts/src/index.ts') },
      { find: /^@tapegrad\/backend-wasm$/, replacement: src('backend-wasm/src/index.ts') },
      { find: /^@tapegrad\/backend-webgpu$/, replacement: src('backend-webgpu/src/index.ts') },
    ],
  },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  preview: { host: '127.0.0.1' },
});
