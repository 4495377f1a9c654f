/**
 * float64 C = A·B (m = k = n = 256, 512, 1024), GFLOP/s = 2mkn / seconds: the native backend
 * on one thread and on two (`threads: 'always'`), and jsBackend, which is what the native
 * backend ran for float64 before its float64 GEMM (so the js column is the "before"), with
 * the machine's float64 FMA peak from the addon's probe (4-wide double FMAs on registers,
 * one core and both) so each native figure is also a % of peak.
 *
 *   pnpm build
 *   cd packages/backend-native && pnpm exec tsx bench/matmul-f64.ts [--reps 7]
 *
 * As bench/matmul.ts: repetitions interleave the contenders (rotating which goes first), so a
 * neighbour's load on a shared machine hits all of them alike; each figure is the median
 * after a warm-up, then the best repetition; a repetition of a fast call is a loop of calls lasting ≥ ~30 ms (js's
 * 1024³, ≈ 1–2 s a call, runs once per repetition).
 */
import { type Backend, jsBackend } from '@tapegrad/core';
import { loadNativeBackend } from '../src/index.js';

const args = process.argv.slice(2);
const at = args.indexOf('--reps');
const reps = Math.max(3, at >= 0 ? Number(args[at + 1]) : 7);
const sizes = [256, 512, 1024];

const load = (options: Parameters<typeof loadNativeBackend>[0]) => {
  const result = loadNativeBackend(options);
  if (!result.backend) throw new Error(`native addon unavailable: ${result.reason}`);
  return result.backend;
};
const one = load({ name: 'native-1', threads: 'off' });
const two = load({ name: 'native-2', threads: 'always' });

const peak32 = one.fmaPeakGflops(1, 0.3);
const peak1 = one.fmaPeakGflops(1, 0.3, 'float64');
const peak2 = one.fmaPeakGflops(2, 0.3, 'float64');
console.log(`${one.kernel}; FMA peak (addon probe): float32 ${peak32.toFixed(1)} GFLOP/s on one core; float64 ${peak1.toFixed(1)} on one core, ${peak2.toFixed(1)} on two`);

function filled(length: number, seed: number): Float64Array {
  let a = seed;
  const next = () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float64Array.from({ length }, () => next() * 2 - 1);
}

const contenders: Array<{ label: string; backend: Pick<Backend, 'matmul'>; peak?: number }> = [
  { label: 'js (native before)', backend: jsBackend },
  { label: 'native 1 thread', backend: one, peak: peak1 },
  { label: 'native 2 threads', backend: two, peak: peak2 },
];

const rows: string[][] = [];
for (const size of sizes) {
  const [m, k, n] = [size, size, size];
  const a = filled(m * k, 1), b = filled(k * n, 2), c = new Float64Array(m * n);
  const flop = 2 * m * k * n;
  const times = contenders.map(() => [] as number[]);
  const callsFor = (i: number) => (i === 0 ? 1 : Math.max(1, Math.ceil(0.03 / (flop / 15e9))));
  contenders.forEach(({ backend }, i) => { for (let w = 0; w < Math.min(3, callsFor(i)); w++) backend.matmul(a, b, c, m, k, n, false, false); });
  for (let r = 0; r < reps; r++) {
    for (let j = 0; j < contenders.length; j++) {
      const i = (j + r) % contenders.length, calls = callsFor(i);
      const t0 = performance.now();
      for (let call = 0; call < calls; call++) contenders[i].backend.matmul(a, b, c, m, k, n, false, false);
      times[i].push((performance.now() - t0) / 1000 / calls);
    }
  }
  // the median, and the best repetition (what the kernel does when the neighbours let it)
  const gflops = times.map((t) => flop / t.sort((x, y) => x - y)[t.length >> 1] / 1e9);
  const best = times.map((t) => flop / t[0] / 1e9);
  const cell = (i: number, peak?: number) => {
    const pct = (g: number) => (peak ? ` (${((100 * g) / peak).toFixed(0)} %)` : '');
    return `${gflops[i].toFixed(2)}${pct(gflops[i])}; best ${best[i].toFixed(2)}${pct(best[i])}`;
  };
  rows.push([`${m}×${k}×${n}`, ...contenders.map(({ peak }, i) => cell(i, peak)), `${(gflops[1] / gflops[0]).toFixed(1)}×`]);
}
const header = ['m×k×n (float64)', ...contenders.map((c) => c.label), 'native 1 thr / js'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
