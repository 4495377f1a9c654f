/**
 * float32 C = A·B at the BENCH-PROTOCOL sizes (m×k×n), GFLOP/s = 2mkn / seconds, for the
 * native backend on one thread and on two (`threads: 'always'`), its portable kernels, and
 * the wasm backend (relaxed SIMD, one and two threads), in one process, with this machine's
 * FMA peak from the addon's probe (one core, and both) so each figure is also a % of peak.
 *
 *   pnpm build
 *   cd packages/backend-native && pnpm exec tsx bench/matmul.ts [--reps 9]
 *
 * Repetitions interleave the contenders (rotating which goes first), so a neighbour's load on
 * a shared machine hits all of them alike; each figure is the median of the repetitions
 * after a warm-up; a repetition of a fast call is a loop of calls lasting ≥ ~30 ms. The
 * native backend works on the arrays in place; wasm copies A and B in and C out (included).
 */
import type { Backend } from '@tapegrad/core';
import { createWasmBackend } from '../../backend-wasm/src/index.js';
import { loadNativeBackend } from '../src/index.js';

const args = process.argv.slice(2);
const at = args.indexOf('--reps');
const reps = Math.max(5, at >= 0 ? Number(args[at + 1]) : 9);
const sizes: Array<[number, number, number]> = [[64, 784, 128], [128, 64, 784], [256, 256, 256], [512, 512, 512], [1024, 1024, 1024]];

const load = (options: Parameters<typeof loadNativeBackend>[0]) => {
  const result = loadNativeBackend(options);
  if (!result.backend) throw new Error(`native addon unavailable: ${result.reason}`);
  return result.backend;
};
const one = load({ name: 'native-1', threads: 'off' });
const two = load({ name: 'native-2', threads: 'always' });
const portable = load({ name: 'native-portable', threads: 'off', kernels: 'portable' });
const wasm1 = createWasmBackend({ name: 'wasm-1', threads: 'off' });
const wasm2 = createWasmBackend({ name: 'wasm-2', threads: 'always' });

const peak1 = one.fmaPeakGflops(1, 0.3);
const peak2 = one.fmaPeakGflops(2, 0.3);
console.log(`${one.kernel}; FMA peak (addon probe): ${peak1.toFixed(1)} GFLOP/s on one core, ${peak2.toFixed(1)} on two`);

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

const contenders: Array<{ label: string; backend: Backend; peak?: number }> = [
  { label: 'native 1 thread', backend: one, peak: peak1 },
  { label: 'native 2 threads', backend: two, peak: peak2 },
  { label: 'native portable', backend: portable },
  { label: 'wasm 1 thread', backend: wasm1 },
  { label: 'wasm 2 threads', backend: wasm2 },
];

const rows: string[][] = [];
for (const [m, k, n] of sizes) {
  const a = filled(m * k, 1), b = filled(k * n, 2), c = new Float32Array(m * n);
  const flop = 2 * m * k * n;
  const calls = Math.max(1, Math.ceil(0.03 / (flop / 60e9)));
  const times = contenders.map(() => [] as number[]);
  for (const { backend } of contenders) for (let w = 0; w < Math.max(3, calls); w++) backend.matmul(a, b, c, m, k, n, false, false);
  for (let r = 0; r < reps; r++) {
    for (let j = 0; j < contenders.length; j++) {
      const i = (j + r) % contenders.length;
      const t0 = performance.now();
      for (let call = 0; call < calls; call++) contenders[i].backend.matmul(a, b, c, m, k, n, false, false);
      times[i].push((performance.now() - t0) / 1000 / calls);
    }
  }
  const gflops = times.map((t) => flop / t.sort((x, y) => x - y)[t.length >> 1] / 1e9);
  rows.push([`${m}×${k}×${n}`, ...contenders.map(({ peak }, i) => `${gflops[i].toFixed(1)}${peak ? ` (${((100 * gflops[i]) / peak).toFixed(0)} %)` : ''}`),
    `${(gflops[1] / gflops[0]).toFixed(2)}×`, `${(gflops[0] / gflops[3]).toFixed(2)}×`]);
}
const header = ['m×k×n', ...contenders.map((c) => c.label), '2 thr / 1', 'native / wasm (1 thr)'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
