/**
 * A training loop's batch gather, T1's: 64 examples of MNIST's x ([784, 7996] float32, in
 * the column layout) in a shuffled order, into a [784, 64] batch. Two ways, interleaved:
 *
 * - js: core's columnSampler.take (a js loop over its row-major copy, 8 examples at a time),
 *   inside tidy as fit calls it, so the batch's buffer is the pool's, reused;
 * - native: the addon's gather of the 64 rows of the same row-major copy into [64, 784],
 *   then its transpose into [784, 64] (what take would be through the Backend interface).
 *
 * CPU µs per batch (user + system, so a shared machine's time slices given to others do not
 * count; its neighbours' use of the memory bus still does): each round times one pass over
 * the epoch's batches each way (alternating which goes first); medians over the rounds, the
 * median per-round ratio, and each one's best round.
 *
 *   pnpm build
 *   cd packages/backend-native && pnpm exec tsx bench/batch-gather.ts [--rounds 31]
 */
import { columnSampler, tensor, tidy } from '@tapegrad/core';
import { loadNativeBackend } from '../src/index.js';

const args = process.argv.slice(2);
const at = args.indexOf('--rounds');
const rounds = Math.max(5, at >= 0 ? Number(args[at + 1]) : 31);
const result = loadNativeBackend({ name: 'native-gather-bench' });
if (!result.backend) throw new Error(`native addon unavailable: ${result.reason}`);
const native = result.backend;

const rows = 784, n = 7996, batch = 64;
const x = tensor(Float32Array.from({ length: rows * n }, (_, i) => ((i * 2654435761) >>> 24) / 255), { shape: [rows, n], dtype: 'float32' });
const sampler = columnSampler(x);
// the sampler's row-major copy, made the same way, for the native kernels
const copy = new Float32Array(rows * n);
for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) copy[j * rows + r] = x.data[r * n + j];
const gathered = new Float32Array(batch * rows), out = new Float32Array(batch * rows);
const order = Int32Array.from({ length: n }, (_, i) => i);
let seed = 42;
for (let i = n - 1; i > 0; i--) {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  const j = seed % (i + 1);
  [order[i], order[j]] = [order[j], order[i]];
}

const ways = {
  js: (indices: Int32Array) => tidy(() => void sampler.take(indices)),
  native: (indices: Int32Array) => {
    native.gather(copy, 1, n, rows, indices, gathered);
    native.transpose(gathered, [batch, rows], [1, 0], out);
  },
};

function pass(take: (indices: Int32Array) => void): number {
  const start = process.cpuUsage();
  let batches = 0;
  for (let s = 0; s + batch <= n; s += batch, batches++) take(order.subarray(s, s + batch));
  const used = process.cpuUsage(start);
  return (used.user + used.system) / batches;
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const js: number[] = [], nat: number[] = [], ratios: number[] = [];
for (let r = -2; r < rounds; r++) {
  const first = r % 2 === 0 ? 'js' : 'native';
  const t = { js: 0, native: 0 };
  t[first] = pass(ways[first]);
  const second = first === 'js' ? 'native' : 'js';
  t[second] = pass(ways[second]);
  if (r < 0) continue; // warm-up
  js.push(t.js);
  nat.push(t.native);
  ratios.push(t.js / t.native);
}
console.log(`batch gather, [${rows}, ${n}] float32, batches of ${batch}: js take ${median(js).toFixed(1)} µs, native gather + transpose ${median(nat).toFixed(1)} µs per batch; js/native ${median(ratios).toFixed(2)} (medians of ${rounds} rounds); best rounds: js ${Math.min(...js).toFixed(1)}, native ${Math.min(...nat).toFixed(1)} µs`);
