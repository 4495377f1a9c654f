/**
 * The native addon's float32 matmul on its AVX-512 kernel set (8×32 zmm tiles) against its
 * AVX2 set (6×16, FLAG_AVX2_KERNELS: the same bits) in one process, alternating product by
 * product and round by round (the order flipping each round), so other processes' load falls
 * on both alike. Per shape: the median over --rounds of each round's µs per call, GFLOP/s,
 * and the median per-round ratio (> 1: AVX-512 faster). Needs an AVX-512F CPU.
 *
 *   npx tsx bench/src/kernel-set-ab.ts --threads 1 --rounds 15
 *   npx tsx bench/src/kernel-set-ab.ts --threads 2 --rounds 15
 *
 * --threads 2 splits every product over the two threads (FLAG_TWO_THREADS | FLAG_ALWAYS_TWO,
 * the backend's threads: 'always'). --only W²: the shapes whose label contains it.
 * --baseline-addon <file>: the AVX-512 set of another build instead of this build's AVX2 set
 * (a change to the AVX-512 kernels against the build before it; one thread).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { threads: { type: 'string', default: '1' }, rounds: { type: 'string', default: '15' }, only: { type: 'string' }, 'baseline-addon': { type: 'string' } },
});
const rounds = Number(values.rounds);
const two = values.threads === '2';

interface Addon {
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, m: number, k: number, n: number, tA: boolean, tB: boolean, flags: number): void;
  features(): { kernel: string; avx2Kernel: string; avx512f: boolean };
}
const { loadAddon, FLAG_AVX2_KERNELS, FLAG_TWO_THREADS, FLAG_ALWAYS_TWO } = (await import('../../packages/backend-native/src/addon.js')) as {
  loadAddon(path?: string): { addon?: Addon; reason?: string }; FLAG_AVX2_KERNELS: number; FLAG_TWO_THREADS: number; FLAG_ALWAYS_TWO: number;
};
const addon = loadAddon().addon!;
const baselinePath = values['baseline-addon'];
const baseline = baselinePath ? loadAddon(baselinePath).addon : addon;
if (!baseline) throw new Error(`${baselinePath}: ${loadAddon(baselinePath).reason}`);
if (baselinePath && two) throw new Error('--baseline-addon needs --threads 1 (two addons, two worker threads)');
const features = addon.features();
if (!features.avx512f) throw new Error('this CPU has no AVX-512F: nothing to compare');

// m, k, n, transposeA, transposeB, label
type Shape = [number, number, number, boolean, boolean, string];
const allShapes: Shape[] = [
  [1024, 784, 256, false, false, 'T2 W¹·X'],
  [1024, 1024, 256, false, false, 'T2 W²·a¹'],
  [1024, 256, 784, false, true, 'T2 δ¹·Xᵀ'],
  [1024, 256, 1024, false, true, 'T2 δ²·a¹ᵀ'],
  [1024, 1024, 256, true, false, 'T2 W²ᵀ·δ²'],
  [10, 1024, 256, false, false, 'T2 W³·a²'],
  [10, 256, 1024, false, true, 'T2 δ³·a²ᵀ'],
  [1024, 10, 256, true, false, 'T2 W³ᵀ·δ³'],
  [1024, 1024, 1024, false, false, '1024³'],
  [128, 784, 64, false, false, 'T1 W¹·X'],
  [128, 64, 784, false, true, 'T1 δ¹·Xᵀ'],
];
// --only W²: the shapes whose label contains it
const shapes = allShapes.filter((s) => !values.only || s[5].includes(values.only));

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
const base = two ? FLAG_TWO_THREADS | FLAG_ALWAYS_TWO : 0;
const loadBefore = loadavg()[0];
console.log(`${features.kernel} vs ${baselinePath ? `${baselinePath}'s ${baseline.features().kernel}` : features.avx2Kernel}, ${two ? 'two threads' : 'one thread'}, median of ${rounds} alternating rounds, load ${loadBefore.toFixed(2)}`);
console.log(`| product (m×k×n) | | ${baselinePath ? 'baseline' : 'AVX2'}: µs (GFLOP/s) | AVX-512: µs (GFLOP/s) | ratio |`);
console.log('|---|---|---|---|---|');
for (const [m, k, n, tA, tB, label] of shapes) {
  const copies = 4;
  const as = Array.from({ length: copies }, (_, c) => Float32Array.from({ length: m * k }, (_, i) => Math.sin(i + c)));
  const bs = Array.from({ length: copies }, (_, c) => Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.7 + c)));
  const outs = Array.from({ length: copies }, () => new Float32Array(m * n));
  const flops = 2 * m * k * n;
  const reps = Math.max(3, Math.min(400, Math.round(4e8 / flops)));
  // the AVX2 flag: this build's AVX2 set, or the baseline build's default set
  const time = (flags: number): number => {
    const run = baselinePath && flags & FLAG_AVX2_KERNELS ? baseline : addon;
    if (baselinePath) flags &= ~FLAG_AVX2_KERNELS;
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < reps; r++) run.matmul(as[r % copies], bs[r % copies], outs[r % copies], m, k, n, tA, tB, flags);
    return Number(process.hrtime.bigint() - t0) / 1e3 / reps;
  };
  time(base); time(base | FLAG_AVX2_KERNELS);  // warm-up: the worker, the scratch buffers
  const wide: number[] = [], narrow: number[] = [], ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let w: number, v: number;
    if (round % 2 === 0) { w = time(base); v = time(base | FLAG_AVX2_KERNELS); } else { v = time(base | FLAG_AVX2_KERNELS); w = time(base); }
    wide.push(w); narrow.push(v); ratios.push(v / w);
  }
  const fmt = (us: number) => `${us.toFixed(1)} (${(flops / us / 1e3).toFixed(0)})`;
  console.log(`| ${m}×${k}×${n}${tA ? ' Aᵀ' : ''}${tB ? ' Bᵀ' : ''} | ${label} | ${fmt(median(narrow))} | ${fmt(median(wide))} | ${median(ratios).toFixed(2)}× |`);
}
console.log(`load average ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)}`);
