/**
 * The conv2d rows of the benchmark (issue 10): forward + backward of a float32 2-D
 * convolution — y = conv2d(x, w), then ∂x and ∂w for a given output cotangent dy — on each
 * framework's own tensors, at LeNet's two convolutions and a ResNet-ish 3×3 one.
 * GFLOP/s counts 3 × the forward's 2·N·O·C·kH·kW·outH·outW (the forward, ∂x and ∂w are
 * one such product each), over the median time of a forward + backward.
 */
import type { Framework, Unavailable } from './frameworks/types.js';
import type { Log, RowStatus } from './harness.js';
import { mulberry32 } from './protocol.js';
import { table } from './report.js';

/** One convolution: x [N, C, H, W], w [O, C, k, k], stride 1, zero padding `padding` on every side. */
export interface ConvCase {
  id: string;
  label: string;
  N: number;
  C: number;
  O: number;
  H: number;
  W: number;
  k: number;
  padding: number;
}

export const CONV_CASES: readonly ConvCase[] = [
  { id: 'lenet-conv1', label: 'LeNet conv1 [64,1,28,28]*[6,1,5,5] pad 2', N: 64, C: 1, O: 6, H: 28, W: 28, k: 5, padding: 2 },
  { id: 'lenet-conv2', label: 'LeNet conv2 [64,6,14,14]*[16,6,5,5]', N: 64, C: 6, O: 16, H: 14, W: 14, k: 5, padding: 0 },
  { id: 'resnet-3x3', label: 'ResNet 3×3 [32,64,32,32]*[64,64,3,3] pad 1', N: 32, C: 64, O: 64, H: 32, W: 32, k: 3, padding: 1 },
];

/** For the test: small and quick. */
export const TINY_CONV_CASES: readonly ConvCase[] = [
  { id: 'tiny', label: 'tiny [2,3,8,8]*[4,3,3,3] pad 1', N: 2, C: 3, O: 4, H: 8, W: 8, k: 3, padding: 1 },
];

export function outSize(c: ConvCase): [number, number] {
  return [c.H + 2 * c.padding - c.k + 1, c.W + 2 * c.padding - c.k + 1];
}

/** Forward + backward FLOPs: three products of the forward's size. */
export function convFlop(c: ConvCase): number {
  const [oh, ow] = outSize(c);
  return 3 * 2 * c.N * c.O * c.C * c.k * c.k * oh * ow;
}

/** x, w and dy (NCHW, OIHW, NCHW), uniform in [−1, 1) from a seeded mulberry32. */
export function convOperands(c: ConvCase): { x: Float32Array; w: Float32Array; dy: Float32Array } {
  const rng = mulberry32(11 + c.N * 7 + c.C * 13 + c.O * 17 + c.H);
  const fill = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);
  const [oh, ow] = outSize(c);
  return { x: fill(c.N * c.C * c.H * c.W), w: fill(c.O * c.C * c.k * c.k), dy: fill(c.N * c.O * oh * ow) };
}

/** y [N, O, outH, outW], ∂x [N, C, H, W] and ∂w [O, C, k, k], row-major, for the check. */
export interface ConvResult {
  y: ArrayLike<number>;
  dx: ArrayLike<number>;
  dw: ArrayLike<number>;
}

/** A framework's convolution on its own tensors, built once outside the timed region. */
export interface ConvRun {
  /** One forward + backward, finished when it returns (or resolves). */
  run(): void | Promise<void>;
  /** The forward alone (y = conv2d(x, w), no tape where the framework can tell), for the forward-only column. */
  forward(): void | Promise<void>;
  result(): Promise<ConvResult>;
  dispose(): void;
}

/**
 * The largest error of 48 sampled entries of y, ∂x and ∂w against float64 sums from the
 * definition, each relative to the sum of its terms' magnitudes (so cancellation cannot
 * inflate it): float32 accumulation stays far below 10⁻⁴, a wrong entry is of order 1.
 */
export function convError(c: ConvCase, ops: { x: Float32Array; w: Float32Array; dy: Float32Array }, r: ConvResult): number {
  const { x, w, dy } = ops;
  const [oh, ow] = outSize(c);
  const rng = mulberry32(5);
  const pick = (n: number) => Math.floor(rng() * n);
  const X = (n: number, ch: number, h: number, v: number) => (h < 0 || h >= c.H || v < 0 || v >= c.W ? 0 : x[((n * c.C + ch) * c.H + h) * c.W + v]);
  let worst = 0;
  const judge = (got: number, sum: number, mag: number) => {
    worst = Math.max(worst, Math.abs(got - sum) / Math.max(mag, 1e-30));
  };
  for (let s = 0; s < 16; s++) {
    // y[n, o, i, j] = Σ_{c,a,b} x[n, c, i + a − p, j + b − p]·w[o, c, a, b]
    const n = pick(c.N), o = pick(c.O), i = pick(oh), j = pick(ow);
    let sum = 0, mag = 0;
    for (let ch = 0; ch < c.C; ch++) for (let a = 0; a < c.k; a++) for (let b = 0; b < c.k; b++) {
      const t = X(n, ch, i + a - c.padding, j + b - c.padding) * w[((o * c.C + ch) * c.k + a) * c.k + b];
      sum += t; mag += Math.abs(t);
    }
    judge(r.y[((n * c.O + o) * oh + i) * ow + j], sum, mag);
  }
  for (let s = 0; s < 16; s++) {
    // ∂x[n, ch, h, v] = Σ_{o,a,b} dy[n, o, h − a + p, v − b + p]·w[o, ch, a, b]
    const n = pick(c.N), ch = pick(c.C), h = pick(c.H), v = pick(c.W);
    let sum = 0, mag = 0;
    for (let o = 0; o < c.O; o++) for (let a = 0; a < c.k; a++) for (let b = 0; b < c.k; b++) {
      const i = h - a + c.padding, j = v - b + c.padding;
      if (i < 0 || i >= oh || j < 0 || j >= ow) continue;
      const t = dy[((n * c.O + o) * oh + i) * ow + j] * w[((o * c.C + ch) * c.k + a) * c.k + b];
      sum += t; mag += Math.abs(t);
    }
    judge(r.dx[((n * c.C + ch) * c.H + h) * c.W + v], sum, mag);
  }
  for (let s = 0; s < 16; s++) {
    // ∂w[o, ch, a, b] = Σ_{n,i,j} dy[n, o, i, j]·x[n, ch, i + a − p, j + b − p]
    const o = pick(c.O), ch = pick(c.C), a = pick(c.k), b = pick(c.k);
    let sum = 0, mag = 0;
    for (let n = 0; n < c.N; n++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      const t = dy[((n * c.O + o) * oh + i) * ow + j] * X(n, ch, i + a - c.padding, j + b - c.padding);
      sum += t; mag += Math.abs(t);
    }
    judge(r.dw[((o * c.C + ch) * c.k + a) * c.k + b], sum, mag);
  }
  return worst;
}

export interface ConvRow {
  framework: string;
  label: string;
  isTapegrad: boolean;
  status: RowStatus;
  gflops: number | null;
  medianSeconds: number | null;
  reps: number;
  maxRelError: number | null;
  /** Best tapegrad GFLOP/s ÷ this row's. */
  tapegradSpeedup: number | null;
  /** The forward alone: GFLOP/s (of 2·N·O·C·k²·outH·outW), median seconds, and the best tapegrad's ratio to it. */
  forwardGflops: number | null;
  forwardSeconds: number | null;
  forwardSpeedup: number | null;
  note: string;
}

export interface ConvPlan {
  minReps: number;
  minSeconds: number;
  warmupSeconds: number;
  /** Seconds one framework may spend on one case. */
  budget: number;
}

const now = () => performance.now() / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runConv(fw: Framework | Unavailable, c: ConvCase, plan: ConvPlan, log: Log): Promise<ConvRow> {
  const row: ConvRow = {
    framework: fw.id, label: fw.label, isTapegrad: fw.isTapegrad, status: 'ok', gflops: null, medianSeconds: null, reps: 0,
    maxRelError: null, tapegradSpeedup: null, forwardGflops: null, forwardSeconds: null, forwardSpeedup: null, note: '',
  };
  if ('reason' in fw) return { ...row, status: 'unavailable', note: fw.reason };
  if (!fw.conv) return { ...row, status: 'skipped', note: 'no conv2d runner for this framework' };
  const flop = convFlop(c);
  await fw.activate();
  const ops = convOperands(c);
  let run: ConvRun | null = null;
  try {
    run = await fw.conv(c, ops.x, ops.w, ops.dy);
    const r = run;
    /** Warm-up, then the median of ≥ minReps timed calls; null when the first call shows the budget cannot hold. */
    const measure = async (call: () => void | Promise<void>, work: number, what: string): Promise<{ seconds: number; reps: number } | null> => {
      // the first call may include compiling (jax-js's jit): judge the budget on the faster of
      // the first two, unless the first alone already spends half of it
      let warm = 0, calls = 0, fastest = Infinity;
      while (calls < 2 || (warm < plan.warmupSeconds && calls < 20)) {
        const t0 = now();
        await call();
        const dt = now() - t0;
        fastest = Math.min(fastest, dt);
        warm += dt;
        calls++;
        if ((calls === 1 && dt > plan.budget / 2) || (calls === 2 && fastest * plan.minReps > plan.budget / 2)) {
          row.status = 'skipped';
          row.note = `skipped (budget): a ${what} warm-up call took ${fastest.toFixed(2)} s (≈ ${(work / fastest / 1e9).toFixed(3)} GFLOP/s), ${calls === 1 ? 'over half' : `${plan.minReps} reps over half`} the budget of ${plan.budget} s`;
          return null;
        }
      }
      const times: number[] = [];
      let total = 0;
      while (times.length < plan.minReps || (total < plan.minSeconds && times.length < 200)) {
        const t0 = now();
        await call();
        const dt = now() - t0;
        times.push(dt);
        total += dt;
      }
      return { seconds: median(times), reps: times.length };
    };
    const fwd = await measure(() => r.forward(), flop / 3, 'forward');
    if (!fwd) return row;
    row.forwardSeconds = fwd.seconds;
    row.forwardGflops = flop / 3 / fwd.seconds / 1e9;
    const both = await measure(() => r.run(), flop, 'forward + backward');
    if (!both) return row;
    row.medianSeconds = both.seconds;
    row.gflops = flop / both.seconds / 1e9;
    row.reps = both.reps;
    row.maxRelError = convError(c, ops, await run.result());
    if (!(row.maxRelError <= 1e-4)) {
      row.status = 'error';
      row.note = `wrong result: relative error ${row.maxRelError.toExponential(2)}`;
    }
    log(`  conv ${c.id} ${fw.id}: forward + backward ${row.gflops.toFixed(2)} GFLOP/s, ${(row.medianSeconds * 1000).toFixed(2)} ms (median of ${both.reps}); forward ${row.forwardGflops.toFixed(2)} GFLOP/s, ${(row.forwardSeconds * 1000).toFixed(2)} ms`);
    return row;
  } catch (error) {
    log(`  conv ${c.id} ${fw.id}: error: ${(error as Error).stack ?? error}`);
    row.status = 'error';
    row.note = `error: ${(error as Error).message.split('\n')[0]}`;
    return row;
  } finally {
    run?.dispose();
  }
}

/** Fills tapegradSpeedup = best tapegrad GFLOP/s ÷ row GFLOP/s. */
export function compareConvRows(rows: ConvRow[]): ConvRow | null {
  let best: ConvRow | null = null, bestForward: ConvRow | null = null;
  for (const r of rows) {
    if (!r.isTapegrad || r.status !== 'ok') continue;
    if (r.gflops !== null && (!best || r.gflops > best.gflops!)) best = r;
    if (r.forwardGflops !== null && (!bestForward || r.forwardGflops > bestForward.forwardGflops!)) bestForward = r;
  }
  for (const r of rows) {
    if (best && r.gflops !== null) r.tapegradSpeedup = best.gflops! / r.gflops;
    if (bestForward && r.forwardGflops !== null) r.forwardSpeedup = bestForward.forwardGflops! / r.forwardGflops;
  }
  return best;
}

export interface ConvResultSet {
  case: ConvCase;
  rows: ConvRow[];
}

/**
 * Two tables (forward + backward, then the forward alone): a row per framework, per case its
 * ms, GFLOP/s and the best tapegrad backend's speed-up over it.
 */
export function formatConvTable(results: readonly ConvResultSet[]): string {
  const frameworks = results[0]?.rows.map((r) => ({ id: r.framework, label: r.label })) ?? [];
  const block = (title: string, pick: (r: ConvRow) => { gflops: number | null; seconds: number | null; speedup: number | null }) => {
    const header = [title, ...results.flatMap((res) => [`${res.case.id} ms`, 'GFLOP/s', 'tapegrad ×'])];
    const rows = frameworks.map(({ id, label }) => [label, ...results.flatMap((res) => {
      const r = res.rows.find((x) => x.framework === id);
      const v = r ? pick(r) : null;
      if (!r || !v || v.gflops === null) return [r ? (r.status === 'ok' ? '–' : r.status) : '–', '', ''];
      return [(v.seconds! * 1000).toFixed(2), v.gflops.toFixed(2), v.speedup === null ? '–' : `${v.speedup.toFixed(2)}×`];
    })]);
    return table(header, rows, header.map((_, i) => i > 0));
  };
  const lines = [
    block('forward + backward', (r) => ({ gflops: r.gflops, seconds: r.medianSeconds, speedup: r.tapegradSpeedup })),
    '',
    block('forward only', (r) => ({ gflops: r.forwardGflops, seconds: r.forwardSeconds, speedup: r.forwardSpeedup })),
  ];
  for (const res of results) {
    lines.push(`  ${res.case.id}: ${res.case.label}, ${(convFlop(res.case) / 1e9).toFixed(3)} GFLOP per forward + backward`);
    for (const r of res.rows) if (r.note) lines.push(`    ${r.label}: ${r.note}`);
  }
  return lines.join('\n');
}
