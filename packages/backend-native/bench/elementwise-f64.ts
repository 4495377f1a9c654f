/**
 * float64 element-wise and reduction kernels on 1M elements: jsBackend against the native
 * backend (AVX2 set and portable set), ms per call, in one process. add (a full-size sum),
 * add of a bias row ([1000, 1000] + [1000]), relu, exp, sigmoid and log (V8's algorithms,
 * ported), tanh (native hands it to js: V8's Math.tanh is the reference), sum of all, sum
 * over rows ([1000, 1000] → [1000]), max over axis 0, subScaled and where.
 *
 *   pnpm build
 *   cd packages/backend-native && pnpm exec tsx bench/elementwise-f64.ts [--reps 15]
 *
 * Repetitions interleave the contenders (rotating which goes first), so a neighbour's load on
 * a shared machine hits them alike; each figure is the median over the repetitions, each
 * repetition the mean of a loop of calls lasting ≥ ~20 ms; the ratio is js ÷ native per
 * repetition, then its median.
 */
import { type Backend, jsBackend } from '@tapegrad/core';
import { loadNativeBackend } from '../src/index.js';

const args = process.argv.slice(2);
const at = args.indexOf('--reps');
const reps = Math.max(5, at >= 0 ? Number(args[at + 1]) : 15);

const load = (options: Parameters<typeof loadNativeBackend>[0]) => {
  const result = loadNativeBackend(options);
  if (!result.backend) throw new Error(`native addon unavailable: ${result.reason}`);
  return result.backend;
};
const native = load({ name: 'native-bench', threads: 'off' });
const portable = load({ name: 'native-bench-portable', threads: 'off', kernels: 'portable' });

const n = 1_000_000;
let seed = 12345;
const random = () => Float64Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2);
const a = random(), b = random(), row = random().subarray(0, 1000), out = new Float64Array(n), small = new Float64Array(1000), one = new Float64Array(1);
const cond = a.map((v) => (v > 0 ? 1 : 0));
const positive = a.map(Math.abs);

const cases: Array<[string, (k: Backend) => void]> = [
  ['add', (k) => k.binary('add', a, [n], b, [n], out, [n])],
  ['add bias row', (k) => k.binary('add', a, [1000, 1000], row, [1, 1000], out, [1000, 1000])],
  ['relu', (k) => k.unary('relu', a, out, 0)],
  ['exp', (k) => k.unary('exp', a, out, 0)],
  ['sigmoid', (k) => k.unary('sigmoid', a, out, 0)],
  ['log', (k) => k.unary('log', positive, out, 0)],
  ['tanh (js on both)', (k) => k.unary('tanh', a, out, 0)],
  ['sum all', (k) => k.reduce('sum', a, [n], [0], one)],
  ['sum rows', (k) => k.reduce('sum', a, [1000, 1000], [1], small)],
  ['max axis 0', (k) => k.reduce('max', a, [1000, 1000], [0], small)],
  ['subScaled', (k) => k.subScaled(a, b, 0.01, out)],
  ['where', (k) => k.where(cond, [n], a, [n], b, [n], out, [n])],
];

function timeOf(run: () => void): number {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    run();
    calls++;
    elapsed = performance.now() - start;
  } while (elapsed < 20);
  return elapsed / calls;
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const contenders: Array<[string, Backend]> = [['js', jsBackend], ['native', native], ['portable', portable]];
console.log(`float64, ${n} elements, ms per call (median of ${reps}); ${native.kernel}`);
console.log(`${'kernel'.padEnd(18)}${contenders.map(([name]) => name.padStart(10)).join('')}   js/native  js/portable`);
for (const [label, run] of cases) {
  for (const [, k] of contenders) for (let w = 0; w < 3; w++) run(k);
  const times = contenders.map(() => [] as number[]);
  const ratios: number[] = [], ratiosPortable: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = [0, 0, 0];
    for (let i = 0; i < contenders.length; i++) {
      const c = (i + r) % contenders.length;
      t[c] = timeOf(() => run(contenders[c][1]));
      times[c].push(t[c]);
    }
    ratios.push(t[0] / t[1]);
    ratiosPortable.push(t[0] / t[2]);
  }
  console.log(`${label.padEnd(18)}${times.map((ts) => median(ts).toFixed(3).padStart(10)).join('')}   ${median(ratios).toFixed(2).padStart(9)}  ${median(ratiosPortable).toFixed(2).padStart(11)}`);
}
