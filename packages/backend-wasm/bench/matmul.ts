/**
 * float32 C = A·B at the BENCH-PROTOCOL sizes (m×k×n), GFLOP/s = 2mkn / seconds, for the js
 * backend, both wasm builds on one thread, the best build on two threads (a worker_threads
 * worker on a shared memory: `threads: 'always'`) and TensorFlow.js 4.22's wasm backend
 * (XNNPACK, single-threaded in Node), in one process.
 *
 *   pnpm build                                       (generates the wasm module)
 *   cd packages/backend-wasm && pnpm exec tsx bench/matmul.ts [--reps 9] [--no-js]
 *
 * Every contender computes the same product from the same data. Repetitions interleave the
 * contenders (rotating which goes first), so a neighbour's load on a shared machine hits all
 * of them alike; each figure is the median of the repetitions after a warm-up (V8 tiers wasm
 * up from Liftoff to TurboFan only once a function is hot). A repetition of a fast call is
 * a loop of calls lasting at least ~30 ms, timed as a whole. Each call includes what a user
 * pays: for our backends copying A and B into wasm memory and C out, for TF.js reading C out
 * with dataSync() (its inputs already live in its memory).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { type Backend, jsBackend } from '@tapegrad/core';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createWasmBackend, enableRelaxedSimd } from '../src/index.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const reps = Math.max(7, option('--reps', 9));
const withJs = !args.includes('--no-js');
const sizes: Array<[number, number, number]> = [[64, 784, 128], [128, 64, 784], [256, 256, 256], [512, 512, 512], [1024, 1024, 1024]];

// TF.js looks for its .wasm files next to the page in a browser; in Node hand it the
// package's dist folder as a path (ending in '/'), which its Emscripten loader reads with fs.
const require = createRequire(import.meta.url);
setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false); // it cannot start threads in Node anyway
if (!(await tf.setBackend('wasm'))) throw new Error('TF.js wasm backend failed to start');
await tf.ready();

const simd = createWasmBackend({ variant: 'simd', name: 'wasm-simd', threads: 'off' });
const relaxed = enableRelaxedSimd() ? createWasmBackend({ variant: 'relaxed-simd', name: 'wasm-relaxed', threads: 'off' }) : undefined;
const twoThreads = createWasmBackend({ variant: relaxed ? 'relaxed-simd' : 'simd', name: 'wasm-2-threads', threads: 'always' });

// mulberry32 (BENCH-PROTOCOL), uniform in [-1, 1)
function filled(length: number, seed: number): Float32Array {
  let a = seed;
  const next = () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from({ length }, () => next() * 2 - 1);
}

interface Contender {
  name: string;
  run(): Float32Array;
}

function ours(name: string, backend: Backend, a: Float32Array, b: Float32Array, m: number, k: number, n: number): Contender {
  const out = new Float32Array(m * n);
  return { name, run: () => (backend.matmul(a, b, out, m, k, n, false, false), out) };
}

function tfjs(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Contender & { dispose(): void } {
  const ta = tf.tensor2d(a, [m, k]);
  const tb = tf.tensor2d(b, [k, n]);
  return {
    name: 'tfjs-wasm',
    run() {
      const c = tf.matMul(ta, tb);
      const data = c.dataSync() as Float32Array;
      c.dispose();
      return data;
    },
    dispose: () => tf.dispose([ta, tb]),
  };
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

function maxRelativeDifference(x: Float32Array, y: Float32Array): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < x.length; i++) {
    worst = Math.max(worst, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return worst / scale;
}

console.log(`node ${process.version}, ${reps} repetitions (median), wasm builds: simd${relaxed ? ' + relaxed-simd' : ' only (relaxed SIMD refused)'}, ` +
  `two threads: ${twoThreads.threads === 2 ? twoThreads.variant : 'unavailable (the column runs on one thread)'}, TF.js ${tf.version.tfjs} on ${tf.getBackend()}\n`);

const rows: string[][] = [];
const header = ['m×k×n', ...(withJs ? ['js'] : []), 'wasm simd', ...(relaxed ? ['wasm relaxed'] : []), 'wasm 2 threads', 'tfjs wasm',
  'simd / tfjs', ...(relaxed ? ['relaxed / tfjs'] : []), '2 threads / tfjs', '2 threads / 1'];

for (const [m, k, n] of sizes) {
  const a = filled(m * k, 1), b = filled(k * n, 2);
  const flop = 2 * m * k * n;
  const tfc = tfjs(a, b, m, k, n);
  const contenders: Contender[] = [
    ...(withJs ? [ours('js', jsBackend, a, b, m, k, n)] : []),
    ours('wasm simd', simd, a, b, m, k, n),
    ...(relaxed ? [ours('wasm relaxed', relaxed, a, b, m, k, n)] : []),
    ours('wasm 2 threads', twoThreads, a, b, m, k, n),
    tfc,
  ];
  // warm-up (and a check that all compute the same product)
  const reference = tfc.run();
  for (const c of contenders) {
    const calls = c.name === 'js' ? 1 : 20;
    let last = c.run();
    for (let i = 1; i < calls; i++) last = c.run();
    const d = maxRelativeDifference(last, reference);
    if (d > 1e-4) throw new Error(`${c.name} differs from TF.js by ${d} at ${m}×${k}×${n}`);
  }
  // calls per timed repetition: enough for ~30 ms (one call for the slow ones)
  const inner = contenders.map((c) => {
    const t0 = performance.now();
    c.run();
    return Math.max(1, Math.ceil(30 / Math.max(performance.now() - t0, 1e-3)));
  });
  const seconds: number[][] = contenders.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let j = 0; j < contenders.length; j++) {
      const i = (j + r) % contenders.length;
      const t0 = performance.now();
      for (let c = 0; c < inner[i]; c++) contenders[i].run();
      seconds[i].push((performance.now() - t0) / 1000 / inner[i]);
    }
  }
  tfc.dispose();
  const gflops = Object.fromEntries(contenders.map((c, i) => [c.name, flop / median(seconds[i]) / 1e9]));
  const cell = (x: number) => x.toFixed(x < 10 ? 2 : 1);
  rows.push([
    `${m}×${k}×${n}`,
    ...(withJs ? [cell(gflops.js)] : []),
    cell(gflops['wasm simd']),
    ...(relaxed ? [cell(gflops['wasm relaxed'])] : []),
    cell(gflops['wasm 2 threads']),
    cell(gflops['tfjs-wasm']),
    `${(gflops['wasm simd'] / gflops['tfjs-wasm']).toFixed(2)}×`,
    ...(relaxed ? [`${(gflops['wasm relaxed'] / gflops['tfjs-wasm']).toFixed(2)}×`] : []),
    `${(gflops['wasm 2 threads'] / gflops['tfjs-wasm']).toFixed(2)}×`,
    `${(gflops['wasm 2 threads'] / gflops[relaxed ? 'wasm relaxed' : 'wasm simd']).toFixed(2)}×`,
  ]);
  console.log(`${rows[rows.length - 1][0]} done`);
}

// What the copies in and out cost at T1's size (128×784 · 784×64): the same call's data
// movement alone is three TypedArray.set()s of the operands' sizes. Alternated with the
// calls, 3× the repetitions; the fastest of each too, as a neighbour evicting our caches
// inflates a memory-bound copy far more than the compute-bound call.
{
  const [m, k, n] = [128, 784, 64];
  const best = relaxed ?? simd;
  const a = filled(m * k, 3), b = filled(k * n, 4), out = new Float32Array(m * n);
  const scratch = new Float32Array(m * k + k * n + m * n);
  const call = () => best.matmul(a, b, out, m, k, n, false, false);
  const copies = () => {
    scratch.set(a, 0);
    scratch.set(b, m * k);
    out.set(scratch.subarray(0, m * n));
  };
  for (let i = 0; i < 200; i++) (call(), copies());
  const tc: number[] = [], tk: number[] = [];
  for (let r = 0; r < 3 * reps; r++) {
    let t0 = performance.now();
    for (let i = 0; i < 100; i++) call();
    tc.push((performance.now() - t0) / 100);
    t0 = performance.now();
    for (let i = 0; i < 100; i++) copies();
    tk.push((performance.now() - t0) / 100);
  }
  const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
  const share = (copy: number, whole: number) => `${((100 * copy) / whole).toFixed(0)} %`;
  console.log(`\nT1 matmul ${m}×${k}×${n} (${best.variant}): a call takes ${us(median(tc))} (fastest ${us(Math.min(...tc))}); ` +
    `copying A, B in and C out ${us(median(tk))} (fastest ${us(Math.min(...tk))}): ${share(median(tk), median(tc))} (fastest: ${share(Math.min(...tk), Math.min(...tc))})`);
}

const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
console.log(`\nGFLOP/s (float32; '2 threads / 1': two threads over the same build on one)\n`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
