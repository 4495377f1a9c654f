import {
  type Tensor, Tape, ValueError, concat, matmul, noGrad, ones, slice,
} from '@tapegrad/core';
import { activate } from './activations.js';
import { type LossName, cost } from './losses.js';
import { manualBackprop } from './manual/backprop.js';
import type { Sequential } from './sequential.js';

/**
 * Three witnesses for one network's gradients, layer by layer: the tape, the hand-written
 * BP1–BP4 engine, and central finite differences (seed 000's "Why Backpropagation?"),
 * plus seed 001's augmented form [b W][1; A] and the batch-vs-mean-of-examples identity.
 * Exported so that a test suite can assert them for its own networks.
 */

/**
 * Every difference below is |u − v| / max(1, |u|, |v|): absolute for values up to 1 and
 * relative beyond, so a deep network with large gradients is held to the same ~1e-16
 * round-off per operation as a small one.
 */
export interface BackpropCheckRow {
  /** 1-based layer index l. */
  layer: number;
  /** max difference tape vs BP1/BP2 over Δˡ = ∂C/∂Zˡ. */
  delta: number;
  /** max difference tape vs BP3 over ∂C/∂Wˡ and tape vs BP4 over ∂C/∂bˡ. */
  dW: number;
  db: number;
  /** max difference tape vs finite differences over the checked entries of Wˡ and bˡ (NaN if skipped). */
  finiteDifference: number;
  /** Entries left out of the finite differences because ±ε switched a relu unit on or off. */
  finiteDifferenceSkipped: number;
  /** max difference tape vs augmented form over the split-back ∂C/∂Wˡ and ∂C/∂bˡ. */
  augmented: number;
}

/** What checkBackprop found: per layer, the differences between the tape, BP1–BP4 and finite differences. */
export interface BackpropCheckReport {
  ok: boolean;
  rows: BackpropCheckRow[];
  /** max difference batch gradient vs mean of the single-example gradients over all parameters. */
  batchVsExamples: number;
  /** Which BP1 the manual engine used. */
  bp1: string;
  tolerance: { exact: number; finiteDifference: number };
  message: string;
}

/** Options of checkBackprop: tolerances, finite differences' step and samples, the batch-mean comparison, whether to throw. */
export interface BackpropCheckOptions {
  /** Tolerance for tape vs BP1–BP4 vs augmented vs batch mean (absolute up to 1, relative beyond). Default 1e-10 (float64) or 1e-4 (float32). */
  atol?: number;
  /** Tolerance for finite differences (which carry O(ε²) truncation error), likewise scaled. Default 1e-6 (float64 only). */
  fdAtol?: number;
  /** Central-difference step. Default 1e-6. */
  eps?: number;
  /** Check at most this many entries per weight matrix by finite differences (all if omitted). */
  fdSamples?: number;
  /** Also compare the batch gradient with the mean of per-example gradients. Default true. */
  batchMean?: boolean;
  /** Throw on failure (default) or return the report. */
  raise?: boolean;
}

/** |u − v| / max(1, |u|, |v|): absolute up to 1, relative beyond (NaN stays NaN). */
function difference(u: number, v: number): number {
  return Math.abs(u - v) / Math.max(1, Math.abs(u), Math.abs(v));
}

function maxDifference(a: Tensor, b: Tensor): number {
  let worst = 0;
  for (let i = 0; i < a.size; i++) {
    const d = difference(a.data[i], b.data[i]);
    if (!(d <= worst)) worst = d;
  }
  return worst;
}

/** The tape's gradients of C with respect to every Zˡ, Wˡ and bˡ. */
function tapeGradients(model: Sequential, X: Tensor, Y: Tensor, loss: LossName) {
  const layers = model.denseLayers();
  const tape = new Tape();
  const traced = tape.record(() => model.trace(X));
  const last = layers[layers.length - 1];
  const C = tape.record(() => cost(loss, { ...traced.layers[traced.layers.length - 1], activation: last.activation }, Y));
  const grads = tape.gradient(C, [...traced.layers.map((t) => t.z), ...layers.map((l) => l.W), ...layers.map((l) => l.b)]);
  const L = layers.length;
  return { cost: C.item(), dZ: grads.slice(0, L), dW: grads.slice(L, 2 * L), db: grads.slice(2 * L) };
}

/** Seed 001's augmented form: Zˡ = [bˡ Wˡ] [𝟙ᵀ; Aˡ⁻¹], differentiated, split back into ∂C/∂bˡ and ∂C/∂Wˡ. */
function augmentedGradients(model: Sequential, X: Tensor, Y: Tensor, loss: LossName) {
  const layers = model.denseLayers();
  const augmented = layers.map((l) => noGrad(() => concat([l.b, l.W], 1)).detach());
  const tape = new Tape();
  const C = tape.record(() => {
    let a = X;
    let z = X;
    layers.forEach((layer, i) => {
      const withOnes = concat([ones([1, a.shape[1]], { dtype: a.dtype }), a], 0);
      z = matmul(augmented[i], withOnes);
      a = activate(layer.activation, z);
    });
    return cost(loss, { z, a, activation: layers[layers.length - 1].activation }, Y);
  });
  const grads = tape.gradient(C, augmented);
  return grads.map((g) => ({ db: slice(g, [0, 0], [g.shape[0], 1]), dW: slice(g, [0, 1], [g.shape[0], g.shape[1] - 1]) }));
}

/**
 * Central differences of the cost with respect to chosen entries of each Wˡ and bˡ.
 * relu is not differentiable at 0: where moving θⱼ by ±ε switches a relu unit on or off
 * (a z crosses 0, or leaves an exact 0 such as a dead layer hands a zero-bias layer), the
 * quotient blends two slopes and says nothing about ∂C/∂θⱼ, so that entry is skipped.
 * Elsewhere C is smooth on [θ−ε, θ+ε] and the quotient is exact to O(ε²).
 */
function finiteDifferenceError(model: Sequential, X: Tensor, Y: Tensor, loss: LossName, tape: ReturnType<typeof tapeGradients>, eps: number, samples: number | undefined): Array<{ worst: number; skipped: number }> {
  const layers = model.denseLayers();
  const evaluate = () => {
    const pass = manualBackprop(model, X, Y, loss);
    const reluOn = pass.layers.map((p, l) => (layers[l].activation === 'relu' ? Array.from(p.z.data, (z) => (z > 0 ? 1 : 0)).join('') : '')).join('|');
    return { cost: pass.cost, reluOn };
  };
  const unperturbed = evaluate().reluOn;
  return layers.map((layer, l) => {
    let worst = 0;
    let skipped = 0;
    for (const [param, grad] of [[layer.W, tape.dW[l]], [layer.b, tape.db[l]]] as const) {
      const data = param.data;
      const stride = samples && samples < data.length ? data.length / samples : 1;
      for (let k = 0; k < data.length; k += stride) {
        const j = Math.floor(k);
        const original = data[j];
        data[j] = original + eps;
        const plus = evaluate();
        data[j] = original - eps;
        const minus = evaluate();
        data[j] = original;
        if (plus.reluOn !== unperturbed || minus.reluOn !== unperturbed) {
          skipped++;
          continue;
        }
        const d = difference((plus.cost - minus.cost) / (2 * eps), grad.data[j]);
        if (!(d <= worst)) worst = d;
      }
    }
    return { worst, skipped };
  });
}

/**
 * Compares the tape with BP1–BP4, finite differences and the augmented form for a
 * Sequential of Dense layers on a batch (X: [features, M], Y: [outputs, M]).
 */
export function checkBackprop(model: Sequential, X: Tensor, Y: Tensor, loss: LossName, options: BackpropCheckOptions = {}): BackpropCheckReport {
  const float64 = X.dtype === 'float64';
  const { atol = float64 ? 1e-10 : 1e-4, fdAtol = 1e-6, eps = 1e-6, fdSamples, batchMean = true, raise = true } = options;
  const layers = model.denseLayers();
  const fromTape = tapeGradients(model, X, Y, loss);
  const manual = manualBackprop(model, X, Y, loss);
  const augmented = augmentedGradients(model, X, Y, loss);
  const fd = float64 ? finiteDifferenceError(model, X, Y, loss, fromTape, eps, fdSamples) : layers.map(() => ({ worst: NaN, skipped: 0 }));
  const rows: BackpropCheckRow[] = layers.map((_, l) => ({
    layer: l + 1,
    delta: maxDifference(fromTape.dZ[l], manual.layers[l].delta),
    dW: maxDifference(fromTape.dW[l], manual.layers[l].dW),
    db: maxDifference(fromTape.db[l], manual.layers[l].db),
    finiteDifference: fd[l].worst,
    finiteDifferenceSkipped: fd[l].skipped,
    augmented: Math.max(maxDifference(fromTape.dW[l], augmented[l].dW), maxDifference(fromTape.db[l], augmented[l].db)),
  }));

  let batchVsExamples = 0;
  const M = X.shape[1];
  if (batchMean && M > 1) {
    // seed 001: the gradient of J is the average of the gradients of the individual losses
    const sums = [...fromTape.dW, ...fromTape.db].map((g) => new Float64Array(g.size));
    for (let m = 0; m < M; m++) {
      const single = manualBackprop(model, slice(X, [0, m], [X.shape[0], 1]), slice(Y, [0, m], [Y.shape[0], 1]), loss);
      [...single.layers.map((s) => s.dW), ...single.layers.map((s) => s.db)].forEach((g, i) => {
        for (let j = 0; j < g.size; j++) sums[i][j] += g.data[j] / M;
      });
    }
    [...fromTape.dW, ...fromTape.db].forEach((g, i) => {
      for (let j = 0; j < g.size; j++) batchVsExamples = Math.max(batchVsExamples, difference(g.data[j], sums[i][j]));
    });
  }

  const failures: string[] = [];
  for (const r of rows) {
    for (const key of ['delta', 'dW', 'db', 'augmented'] as const) {
      if (!(r[key] <= atol)) failures.push(`layer ${r.layer}: tape vs ${key === 'augmented' ? 'augmented form' : key === 'delta' ? 'BP1/BP2 Δ' : key === 'dW' ? 'BP3 ∂C/∂W' : 'BP4 ∂C/∂b'} differ by ${r[key]}`);
    }
    if (float64 && !(r.finiteDifference <= fdAtol)) failures.push(`layer ${r.layer}: tape vs finite differences differ by ${r.finiteDifference}`);
  }
  if (!(batchVsExamples <= atol)) failures.push(`batch gradient vs mean of single-example gradients differ by ${batchVsExamples}`);
  const ok = failures.length === 0;
  const message = ok
    ? `ok: ${rows.length} layers agree (tape = BP1–BP4 = augmented form${float64 ? ' = finite differences' : ''})`
    : `checkBackprop: ${failures.join('; ')}`;
  const report: BackpropCheckReport = { ok, rows, batchVsExamples, bp1: manual.bp1, tolerance: { exact: atol, finiteDifference: fdAtol }, message };
  if (!ok && raise) throw new ValueError('checkBackprop', failures.join('; '));
  return report;
}

/** Formats a report as the per-layer table the examples and CLI print. */
export function formatBackpropTable(report: BackpropCheckReport): string {
  const head = 'layer   Δ (BP1/BP2)   ∂C/∂W (BP3)   ∂C/∂b (BP4)   finite diff   augmented';
  const cell = (v: number) => (Number.isNaN(v) ? 'skipped' : v.toExponential(2)).padStart(11);
  const lines = report.rows.map((r) => `${String(r.layer).padStart(5)}   ${cell(r.delta)}   ${cell(r.dW)}   ${cell(r.db)}   ${cell(r.finiteDifference)}   ${cell(r.augmented)}`);
  return [head, ...lines, `batch gradient vs mean of per-example gradients: ${report.batchVsExamples.toExponential(2)}   (BP1: ${report.bp1})`].join('\n');
}
