import {
  type Tensor, abs, add, concat, createRng, div, einsum, exp, log, logSoftmax, logSumExp, matmul, matmulT, max, maximum, mean,
  minimum, mul, neg, padTo, pow, randn, reciprocal, relu, reshape, sigmoid, slice, softmax, softplus, sqrt, square, sub, sum,
  tanh, transpose, where, greater, listBackends, broadcastTo, clip, logSigmoid,
} from '@tapegrad/core';
import { type ConformanceRow, checkBackends } from '@tapegrad/core/testing';
import { initNativeBackend, nativeUnavailableReason } from '@tapegrad/backend-native';
import { initWasmBackend } from '@tapegrad/backend-wasm';
import type { Io } from '../io.js';

/**
 * `tapegrad conformance`: every op's forward pass and VJPs on every backend that loads,
 * against js, as checkBackends reports them — the largest difference in float32 ulps and
 * relative terms per op and backend, and whether float64 is bit-identical.
 */

interface OpCase {
  name: string;
  shapes: number[][];
  /** Inputs drawn from N(0,1) are mapped into the op's domain. */
  positive?: boolean;
  fn: (...xs: Tensor[]) => Tensor;
}

const CASES: OpCase[] = [
  { name: 'add', shapes: [[4, 5], [5]], fn: add }, { name: 'sub', shapes: [[4, 5], [4, 1]], fn: sub },
  { name: 'mul', shapes: [[4, 5], [4, 5]], fn: mul }, { name: 'div', shapes: [[4, 5], [4, 5]], positive: true, fn: div },
  { name: 'neg', shapes: [[4, 5]], fn: neg }, { name: 'exp', shapes: [[4, 5]], fn: exp },
  { name: 'log', shapes: [[4, 5]], positive: true, fn: log }, { name: 'sqrt', shapes: [[4, 5]], positive: true, fn: sqrt },
  { name: 'abs', shapes: [[4, 5]], fn: abs }, { name: 'square', shapes: [[4, 5]], fn: square },
  { name: 'pow', shapes: [[4, 5]], positive: true, fn: (x) => pow(x, 1.5) }, { name: 'reciprocal', shapes: [[4, 5]], positive: true, fn: reciprocal },
  { name: 'sigmoid', shapes: [[4, 5]], fn: sigmoid }, { name: 'tanh', shapes: [[4, 5]], fn: tanh }, { name: 'relu', shapes: [[4, 5]], fn: relu },
  { name: 'softplus', shapes: [[4, 5]], fn: softplus }, { name: 'logSigmoid', shapes: [[4, 5]], fn: logSigmoid },
  { name: 'clip', shapes: [[4, 5]], fn: (x) => clip(x, -0.5, 0.5) },
  { name: 'maximum', shapes: [[4, 5], [4, 5]], fn: maximum }, { name: 'minimum', shapes: [[4, 5], [5]], fn: minimum },
  { name: 'where', shapes: [[4, 5], [4, 5], [4, 5]], fn: (c, a, b) => where(greater(c, 0), a, b) },
  { name: 'sum', shapes: [[6, 7]], fn: (x) => sum(x, 1) }, { name: 'mean', shapes: [[6, 7]], fn: (x) => mean(x, 0) },
  { name: 'max', shapes: [[6, 7]], fn: (x) => max(x, 1) },
  { name: 'softmax', shapes: [[6, 7]], fn: (x) => softmax(x, 0) }, { name: 'logSoftmax', shapes: [[6, 7]], fn: (x) => logSoftmax(x, 0) },
  { name: 'logSumExp', shapes: [[6, 7]], fn: (x) => logSumExp(x, 1) },
  { name: 'matmul', shapes: [[16, 32], [32, 8]], fn: matmul }, { name: 'matmulT', shapes: [[16, 32], [8, 32]], fn: (a, b) => matmulT(a, b, false, true) },
  { name: 'matmul (batched)', shapes: [[3, 4, 5], [5, 6]], fn: matmul },
  { name: 'einsum', shapes: [[3, 4], [4, 5]], fn: (a, b) => einsum('ij,jk->ki', a, b) },
  { name: 'transpose', shapes: [[3, 4, 5]], fn: (x) => transpose(x, [2, 0, 1]) }, { name: 'reshape', shapes: [[3, 4]], fn: (x) => reshape(x, [2, 6]) },
  { name: 'broadcastTo', shapes: [[4, 1]], fn: (x) => broadcastTo(x, [2, 4, 3]) },
  { name: 'slice', shapes: [[5, 6]], fn: (x) => slice(x, [1, 2], [3, 3]) }, { name: 'padTo', shapes: [[3, 4]], fn: (x) => padTo(x, [1, 1], [5, 7]) },
  { name: 'concat', shapes: [[2, 3], [4, 3]], fn: (a, b) => concat([a, b], 0) },
];

function inputsFor(c: OpCase, dtype: 'float32' | 'float64', seed: number): Tensor[] {
  const rng = createRng(seed);
  return c.shapes.map((shape) => {
    const t = randn(shape, { dtype, rng });
    if (c.positive) for (let i = 0; i < t.size; i++) t.data[i] = 0.2 + Math.abs(t.data[i]);
    return t;
  });
}

function worst(rows: readonly ConformanceRow[]): ConformanceRow | undefined {
  return rows.reduce<ConformanceRow | undefined>((w, r) => (!w || r.maxUlps > w.maxUlps ? r : w), undefined);
}

/** float64 distance a reassociated sum may show: native's GEMM adds in its own blocked order (≈ 16·2⁻⁵³·√k at these sizes). */
const F64_TOLERANCE = 1e-12;

export function runConformance(io: Io): number {
  const notes: string[] = [];
  try {
    initWasmBackend();
  } catch (error) {
    notes.push(`wasm unavailable: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!initNativeBackend()) notes.push(`native unavailable: ${nativeUnavailableReason() ?? 'the addon did not load'}`);
  const backends = listBackends().filter((name) => name !== 'js');
  io.out(`conformance: forward and VJPs (at a seeded random cotangent) of ${CASES.length} ops on ${backends.join(', ') || 'no other backend'} against js`);
  for (const note of notes) io.out(`  ${note}`);
  if (backends.length === 0) return 0;
  io.out(`float32: the largest distance over the output and every gradient, in ulps and relative; float64: 'same' when bit-identical, else the largest relative distance (native's float64 GEMM reassociates sums: within ${F64_TOLERANCE.toExponential(0)} passes, more is DIFF)`);
  const header = ['op'.padEnd(18), ...backends.map((b) => `${b} f32 ulps`.padStart(16) + '  relative'.padStart(11) + `f64`.padStart(9))].join('');
  io.out(header);
  const inexact64: string[] = [];
  let allWithin64 = true;
  CASES.forEach((c, k) => {
    const r32 = checkBackends(c.fn, inputsFor(c, 'float32', 100 + k), { backends });
    const r64 = checkBackends(c.fn, inputsFor(c, 'float64', 100 + k), { backends });
    const cells = backends.map((b) => {
      const w = worst(r32.rows.filter((r) => r.backend === b))!;
      const relative = Math.max(...r32.rows.filter((r) => r.backend === b).map((r) => r.maxRelative));
      const rows64 = r64.rows.filter((r) => r.backend === b);
      const exact = rows64.every((r) => r.maxUlps === 0);
      const relative64 = Math.max(...rows64.map((r) => r.maxRelative));
      const within = !rows64.some((r) => r.mismatch) && relative64 <= F64_TOLERANCE;
      if (!exact) inexact64.push(`${c.name} on ${b}`);
      if (!within) allWithin64 = false;
      const ulps = w.mismatch ? 'MISMATCH' : `${w.maxUlps} (${w.what})`;
      const f64 = exact ? 'same' : within ? relative64.toExponential(0) : 'DIFF';
      return ulps.padStart(16) + relative.toExponential(1).padStart(11) + f64.padStart(9);
    });
    io.out([c.name.padEnd(18), ...cells].join(''));
  });
  if (inexact64.length === 0) io.out('float64: every backend bit-identical to js');
  else if (allWithin64) io.out(`float64: bit-identical to js except ${inexact64.join(', ')}: within ${F64_TOLERANCE.toExponential(0)} relative`);
  else io.out(`float64: some backends differ from js beyond ${F64_TOLERANCE.toExponential(0)} relative (DIFF above)`);
  return 0;
}
