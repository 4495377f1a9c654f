import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createRng, jsBackend } from '@tapegrad/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type WasmBackend, DEFAULT_THREAD_THRESHOLD, createWasmBackend, createWasmBackendAsync, enableRelaxedSimd } from '../src/index.js';
import { workerOf } from '../src/threads.js';

/**
 * The two-thread matmul (a worker_threads worker on a shared memory, see src/threads.ts)
 * against jsBackend, with `threads: 'always'` so that even tiny products are split, and the
 * single-thread fallback. Tolerance as in kernels.test.ts: |wasm − js| ≤ 2·√k·u·Σₚ|A[i,p]·B[p,j]|
 * (the split changes which thread computes an element, not how: a block of C gets the same
 * operations in the same order as on one thread). No timing is asserted anywhere.
 */

const u = 2 ** -24;
const twoCores = availableParallelism() >= 2;
const rng = createRng(20261123);
const random = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 4 - 2);

/** The first index where a and b differ in a bit (or in length), else −1: toEqual's generic walk over 300,000 floats took seconds. */
function firstBitDifference(a: Float32Array, b: Float32Array): number {
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return i;
  return -1;
}

function expectClose(backend: WasmBackend, m: number, k: number, n: number, tA: boolean, tB: boolean): void {
  const a = random(m * k), b = random(k * n);
  const expected = new Float32Array(m * n), actual = new Float32Array(m * n).fill(NaN);
  jsBackend.matmul(a, b, expected, m, k, n, tA, tB);
  backend.matmul(a, b, actual, m, k, n, tA, tB);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let mag = 0;
      for (let p = 0; p < k; p++) mag += Math.abs(a[tA ? p * m + i : i * k + p] * b[tB ? j * k + p : p * n + j]);
      const at = i * n + j;
      const allowed = 2 * Math.sqrt(k) * u * mag;
      if (!(Math.abs(actual[at] - expected[at]) <= allowed)) throw new Error(`C[${i},${j}] = ${actual[at]}, js ${expected[at]}, allowed ±${allowed}`);
    }
  }
}

const variants = ['simd', ...(enableRelaxedSimd() ? ['relaxed-simd' as const] : [])] as const;

for (const variant of variants) {
  describe(`${variant} build on two threads ('always'): matmul against js`, () => {
    const backend = createWasmBackend({ variant, name: `wasm-2-${variant}`, threads: 'always' });

    it('runs in the two-thread mode where Node has worker_threads and two cores', () => {
      expect(backend.threads).toBe(twoCores ? 2 : 1);
    });

    // m ≥ n cuts rows, m < n columns; sizes below, at and above the 4-row/8-column tiles,
    // several blocks (64×784×128), a ragged last block, several K_C blocks, N_C crossing
    const sizes: Array<[number, number, number]> = [
      [2, 1, 1], [1, 3, 2], [5, 3, 7], [7, 5, 3], [17, 33, 9], [9, 257, 31], [64, 784, 128],
      [128, 64, 784], [130, 520, 67], [33, 300, 1], [3, 40, 2053],
    ];
    for (const [m, k, n] of sizes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          it(`${m}×${k}×${n}${tA ? ' Aᵀ' : ''}${tB ? ' Bᵀ' : ''}`, () => expectClose(backend, m, k, n, tA, tB));
        }
      }
    }

    it('matmulBatched: bit for bit one thread, split by whole products (2 and ≥ 4 of them) or inside each (1 and 3)', () => {
      const one = createWasmBackend({ variant, name: `wasm-1-${variant}`, threads: 'off' });
      for (const [count, m, k, n] of [[1, 61, 300, 17], [2, 13, 290, 40], [3, 30, 40, 7], [5, 17, 33, 9], [32, 64, 32, 64], [70, 3, 5, 2]] as const) {
        for (const tA of [false, true]) for (const tB of [false, true]) {
          const aOffsets = Int32Array.from({ length: count }, (_, i) => (i % 3) * m * k), bOffsets = Int32Array.from({ length: count }, (_, i) => i * k * n);
          const a = random(3 * m * k), b = random(count * k * n);
          const c1 = new Float32Array(count * m * n), c2 = new Float32Array(count * m * n).fill(NaN);
          one.matmulBatched(a, b, c1, m, k, n, tA, tB, aOffsets, bOffsets);
          backend.matmulBatched(a, b, c2, m, k, n, tA, tB, aOffsets, bOffsets);
          for (let i = 0; i < c1.length; i++) {
            if (!Object.is(c2[i], c1[i])) throw new Error(`${count} × ${m}×${k}×${n} tA=${tA} tB=${tB}: element ${i} = ${c2[i]}, one thread ${c1[i]}`);
          }
          // and against js: the products one thread computes are the single-product kernel's (kernels.test.ts)
          const expected = new Float32Array(count * m * n);
          jsBackend.matmulBatched(a, b, expected, m, k, n, tA, tB, aOffsets, bOffsets);
          const allowed = 2 * Math.sqrt(k) * u * 4 * k; // |a|, |b| ≤ 2, so Σ|ab| ≤ 4k
          for (let i = 0; i < c1.length; i++) if (!(Math.abs(c2[i] - expected[i]) <= allowed)) throw new Error(`element ${i} = ${c2[i]}, js ${expected[i]}`);
        }
      }
    });

    it('1×k×1 (nothing to split) and empty products still work', () => {
      expectClose(backend, 1, 9, 1, true, false);
      const out = new Float32Array(6).fill(7);
      backend.matmul(new Float32Array(0), new Float32Array(0), out, 2, 0, 3, false, false);
      expect([...out]).toEqual([0, 0, 0, 0, 0, 0]);
    });

    it('other kernels share the memory without touching the worker\'s region', () => {
      for (let r = 0; r < 3; r++) {
        expectClose(backend, 40, 70, 30, false, true);
        const x = random(300_000), out = new Float32Array(x.length), expected = new Float32Array(x.length);
        backend.unary('relu', x, out, 0);
        jsBackend.unary('relu', x, expected, 0);
        expect(firstBitDifference(out, expected)).toBe(-1);
        expectClose(backend, 30, 70, 40, true, false);
      }
    });
  });
}

describe("threads: 'auto' (the default)", () => {
  it('splits products from the threshold on, and computes them right', () => {
    const backend = createWasmBackend({ name: 'wasm-auto' });
    expect(backend.threads).toBe(twoCores ? 2 : 1);
    expect(200 * 300 * 150).toBeGreaterThanOrEqual(DEFAULT_THREAD_THRESHOLD);
    expectClose(backend, 200, 300, 150, false, false);
    expectClose(backend, 150, 300, 200, true, true);
    expectClose(backend, 20, 30, 10, false, true); // below: one thread
  });

  it('the asynchronous constructor gets the same mode', async () => {
    const backend = await createWasmBackendAsync({ name: 'wasm-async-2', threads: 'always' });
    expect(backend.threads).toBe(twoCores ? 2 : 1);
    expectClose(backend, 21, 13, 34, false, false);
  });
});

describe('single-thread fallback', () => {
  const saved = { sab: globalThis.SharedArrayBuffer, builtin: process.getBuiltinModule };
  afterEach(() => {
    globalThis.SharedArrayBuffer = saved.sab;
    process.getBuiltinModule = saved.builtin;
  });

  it("threads: 'off' starts no worker", () => {
    const backend = createWasmBackend({ name: 'wasm-off', threads: 'off' });
    expect(backend.threads).toBe(1);
    expectClose(backend, 64, 784, 128, false, false);
  });

  it('without SharedArrayBuffer (a browser page without cross-origin isolation), silently', () => {
    (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer = undefined;
    const backend = createWasmBackend({ name: 'wasm-no-sab', threads: 'always' });
    expect(backend.threads).toBe(1);
    expectClose(backend, 64, 100, 33, true, false);
  });

  it('without worker_threads, silently', () => {
    process.getBuiltinModule = ((id: string) => (id === 'node:worker_threads' ? undefined : saved.builtin(id))) as typeof process.getBuiltinModule;
    const backend = createWasmBackend({ name: 'wasm-no-workers', threads: 'always' });
    expect(backend.threads).toBe(1);
    expectClose(backend, 33, 100, 64, false, true);
  });
});

// The worker is unref()'ed: a process that did a two-thread matmul exits by itself. A
// timeout here means it hung (not a timing assertion: the child has 30 s for ~0.2 s of work).
describe('process exit', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dist = fileURLToPath(new URL('../dist/', import.meta.url));

  for (const [type, file] of [['module', 'index.js'], ['commonjs', 'index.cjs']] as const) {
    it(`a ${type === 'module' ? 'ES module' : 'CommonJS'} script exits after a two-thread matmul`, () => {
      const load = type === 'module'
        ? `const { createWasmBackend } = await import(${JSON.stringify(dist + file)});`
        : `const { createWasmBackend } = require(${JSON.stringify(dist + file)});`;
      const code = `(async () => {
        ${load}
        const b = createWasmBackend({ threads: 'always' });
        const n = 64, a = new Float32Array(n * n).fill(1), out = new Float32Array(n * n);
        b.matmul(a, a, out, n, n, n, false, false);
        console.log(JSON.stringify({ threads: b.threads, c: out[0], all: out.every((v) => v === n) }));
      })();`;
      const out = execFileSync(process.execPath, [`--input-type=${type}`, '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 });
      expect(JSON.parse(out)).toEqual({ threads: twoCores ? 2 : 1, c: 64, all: true });
    });
  }
});

// A worker that dies mid-job must never hang the caller: the caller computes the blocks the
// worker had claimed but not finished, gets the right product, and stays on one thread.
describe.skipIf(!twoCores)('a worker that fails mid-product', () => {
  for (const how of ['exit', 'hang'] as const) {
    it(`${how === 'exit' ? 'exits' : 'hangs without running any code'}: the product is still right and later ones run on one thread`, () => {
      const backend = createWasmBackend({ variant: 'simd', name: `wasm-fail-${how}`, threads: 'always' });
      expectClose(backend, 64, 300, 96, false, false); // starts the worker
      const worker = workerOf(backend)!;
      expect(worker).toBeDefined();
      expect(backend.threads).toBe(2);
      // a hung worker is noticed after stallMs without progress (30 s by default)
      worker.stallMs = 200;
      worker.failOnNextBlock(how);
      // the worker claims the first block of the next product (the test hook lets it), fails,
      // and the caller computes that block too
      expectClose(backend, 256, 384, 256, false, false);
      expect(backend.threads).toBe(1);
      expectClose(backend, 64, 300, 96, true, true);
    });
  }

  it('exits in the middle of a batch split by products: the batch is still right and later work runs on one thread', () => {
    const backend = createWasmBackend({ variant: 'simd', name: 'wasm-fail-batch', threads: 'always' });
    expectClose(backend, 64, 300, 96, false, false); // starts the worker
    const worker = workerOf(backend)!;
    worker.failOnNextBlock('exit');
    // 6 products of 40×70×24 against one broadcast A: a batch the two threads split by products
    const a = random(40 * 70), b = random(6 * 70 * 24), aOffsets = new Int32Array(6), bOffsets = Int32Array.from({ length: 6 }, (_, i) => i * 70 * 24);
    const expected = new Float32Array(6 * 40 * 24), actual = new Float32Array(6 * 40 * 24).fill(NaN);
    jsBackend.matmulBatched(a, b, expected, 40, 70, 24, false, false, aOffsets, bOffsets);
    backend.matmulBatched(a, b, actual, 40, 70, 24, false, false, aOffsets, bOffsets);
    // the worker reached the batch (it exited on claiming one of its blocks): one thread from now on
    expect(backend.threads).toBe(1);
    const allowed = 2 * Math.sqrt(70) * u * 4 * 70;
    for (let i = 0; i < expected.length; i++) if (!(Math.abs(actual[i] - expected[i]) <= allowed)) throw new Error(`element ${i} = ${actual[i]}, js ${expected[i]}`);
  });
});
