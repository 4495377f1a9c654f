import {
  type Tensor, Tape, ValueError, concat, matmul, noGrad, ones, slice,
} from '@tapegrad/core';
import { type Activation, activate } from './activations.js';
import { Conv2d } from './layers/conv.js';
import { Dense } from './layers/dense.js';
import { Flatten } from './layers/flatten.js';
import { AvgPool2d, MaxPool2d } from './layers/pool.js';
import { type LossName, cost } from './losses.js';
import { type ManualStage, type ManualStageKind, manualCostAndKinks } from './manual/cnn.js';
import { manualBackprop } from './manual/index.js';
import type { Module } from './module.js';
import type { Sequential } from './sequential.js';

/**
 * Three witnesses for one network's gradients, layer by layer: the tape, the hand-written
 * BP1–BP4 engine (with the CNN equations of manual/cnn.ts for Conv2d, pools, Flatten and
 * activation layers), and central finite differences (seed 000's "Why Backpropagation?"),
 * plus seed 001's augmented form [b W][1; A] (Dense layers) and the batch-vs-mean-of-examples
 * identity. Exported so that a test suite can assert them for its own networks.
 */

/**
 * Every difference below is |u − v| / max(1, |u|, |v|): absolute for values up to 1 and
 * relative beyond, so a deep network with large gradients is held to the same ~1e-16
 * round-off per operation as a small one.
 */
export interface BackpropCheckRow {
  /** 1-based layer index l (the layer's position in the model). */
  layer: number;
  /** The layer's name in the model (its index, or its key when built from an object). */
  name: string;
  /** Its kind: 'Dense', 'Conv2d', 'MaxPool2d', 'AvgPool2d', 'Flatten', 'ReLU', … */
  kind: ManualStageKind;
  /**
   * max difference tape vs hand derivation over the layer's error: Δˡ = ∂C/∂Zˡ (BP1/BP2) for
   * Dense and Conv2d, ∂C/∂(output) for the layers without parameters.
   */
  delta: number;
  /** max difference tape vs BP3 over ∂C/∂Wˡ (Dense) or BP3-conv over ∂C/∂Kˡ (Conv2d); NaN for a layer without weights. */
  dW: number;
  /** tape vs BP4 (BP4-conv) over ∂C/∂bˡ; NaN for a layer without a bias. */
  db: number;
  /** max difference tape vs finite differences over the checked entries of Wˡ (Kˡ) and bˡ (NaN if skipped or no parameters). */
  finiteDifference: number;
  /** Entries left out of the finite differences because ±ε switched a relu unit on or off or moved a max-pool's maximum. */
  finiteDifferenceSkipped: number;
  /** max difference tape vs augmented form over the split-back ∂C/∂Wˡ and ∂C/∂bˡ (Dense layers; NaN otherwise). */
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

/** A layer's weights (W of Dense, the kernel of Conv2d) and bias, where it has them. */
function parametersOf(layer: Module): { W: Tensor | null; b: Tensor | null } {
  if (layer instanceof Dense || layer instanceof Conv2d) return { W: layer.W, b: layer.b };
  return { W: null, b: null };
}

const present = (t: Tensor | null): t is Tensor => t !== null;

/**
 * The tape's gradients of C with respect to every layer's output (Zˡ for Dense, whose
 * activation is inside it) and every layer's weights and bias.
 */
function tapeGradients(model: Sequential, X: Tensor, Y: Tensor, loss: LossName) {
  const tape = new Tape();
  const outputs: Tensor[] = [];
  const C = tape.record(() => {
    let a = X;
    let head: { z: Tensor; a: Tensor; activation: Activation } | null = null;
    model.layers.forEach((layer, l) => {
      if (layer instanceof Dense) {
        const traced = layer.trace(a);
        outputs.push(traced.z);
        a = traced.a;
        if (l === model.layers.length - 1) head = { ...traced, activation: layer.activation };
      } else {
        a = layer.forward(a);
        outputs.push(a);
      }
    });
    // a Dense output pairs its activation with the loss; any other last layer is scored as it is
    return cost(loss, head ?? { z: a, a, activation: 'identity' }, Y);
  });
  const params = model.layers.map(parametersOf);
  const grads = tape.gradient(C, [...outputs, ...params.flatMap((p) => [p.W, p.b].filter(present))]);
  let next = outputs.length;
  const layers = params.map((p) => ({ dW: p.W ? grads[next++] : null, db: p.b ? grads[next++] : null }));
  return { cost: C.item(), dOutput: grads.slice(0, outputs.length), layers };
}

/**
 * Seed 001's augmented form for the Dense layers: Zˡ = [bˡ Wˡ] [𝟙ᵀ; Aˡ⁻¹], differentiated,
 * split back into ∂C/∂bˡ and ∂C/∂Wˡ (null for the other layers, which run as they are).
 */
function augmentedGradients(model: Sequential, X: Tensor, Y: Tensor, loss: LossName): Array<{ dW: Tensor; db: Tensor } | null> {
  const augmented = model.layers.map((l) => (l instanceof Dense ? noGrad(() => concat([l.b, l.W], 1)).detach() : null));
  const tape = new Tape();
  const C = tape.record(() => {
    let a = X;
    let z = X;
    let activation: Activation = 'identity';
    model.layers.forEach((layer, i) => {
      const bW = augmented[i];
      if (layer instanceof Dense && bW) {
        const withOnes = concat([ones([1, a.shape[1]], { dtype: a.dtype }), a], 0);
        z = matmul(bW, withOnes);
        a = activate(layer.activation, z);
        activation = layer.activation;
      } else {
        a = z = layer.forward(a);
        activation = 'identity';
      }
    });
    return cost(loss, { z, a, activation }, Y);
  });
  const grads = tape.gradient(C, augmented.filter(present));
  let next = 0;
  return augmented.map((t) => {
    if (t === null) return null;
    const g = grads[next++];
    return { db: slice(g, [0, 0], [g.shape[0], 1]), dW: slice(g, [0, 1], [g.shape[0], g.shape[1] - 1]) };
  });
}

/**
 * Central differences of the cost with respect to chosen entries of each layer's weights and
 * bias. relu is not differentiable at 0, nor max-pooling where two elements tie: where moving
 * θⱼ by ±ε switches a relu unit on or off (a z crosses 0, or leaves an exact 0 such as a dead
 * layer hands a zero-bias layer) or hands a pool window's maximum to another element, the
 * quotient blends two slopes and says nothing about ∂C/∂θⱼ, so that entry is skipped.
 * Elsewhere C is smooth on [θ−ε, θ+ε] and the quotient is exact to O(ε²).
 */
function finiteDifferenceError(model: Sequential, X: Tensor, Y: Tensor, loss: LossName, tape: ReturnType<typeof tapeGradients>, eps: number, samples: number | undefined): Array<{ worst: number; skipped: number }> {
  const evaluate = () => manualCostAndKinks(model, X, Y, loss);
  const unperturbed = evaluate().kinks;
  return model.layers.map((layer, l) => {
    const { W, b } = parametersOf(layer);
    if (W === null && b === null) return { worst: NaN, skipped: 0 };
    let worst = 0;
    let skipped = 0;
    const pairs: Array<[Tensor, Tensor]> = [];
    if (W && tape.layers[l].dW) pairs.push([W, tape.layers[l].dW!]);
    if (b && tape.layers[l].db) pairs.push([b, tape.layers[l].db!]);
    for (const [param, grad] of pairs) {
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
        if (plus.kinks !== unperturbed || minus.kinks !== unperturbed) {
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

/** A stage's weight (∂C/∂W or ∂C/∂K) and bias gradients, null where the layer has none. */
function stageParameterGradients(stage: ManualStage): [Tensor | null, Tensor | null] {
  if (stage.kind === 'Dense') return [stage.dW, stage.db];
  if (stage.kind === 'Conv2d') return [stage.dK, stage.db];
  return [null, null];
}

/**
 * Whether X holds its examples as columns ([features, M], what a Dense reads) rather than
 * along its first axis ([M, …], what Conv2d, the pools and Flatten read, so also a matrix
 * [M, F] fed to Flatten): the first layer that is not element-wise decides.
 */
function examplesAsColumns(model: Sequential): boolean {
  for (const layer of model.layers) {
    if (layer instanceof Dense) return true;
    if (layer instanceof Conv2d || layer instanceof Flatten || layer instanceof MaxPool2d || layer instanceof AvgPool2d) return false;
  }
  return true; // element-wise layers only: X is laid out as Y, [outputs, M]
}

/** Example m alone: column m of a matrix [features, M], or entry m along the first axis of a batch [M, …]. */
function example(X: Tensor, m: number, asColumns: boolean): Tensor {
  if (asColumns) return slice(X, [0, m], [X.shape[0], 1]);
  return slice(X, [m, ...X.shape.slice(1).map(() => 0)], [1, ...X.shape.slice(1)]);
}

/**
 * Compares the tape with the hand derivation, finite differences and the augmented form,
 * layer by layer: for a Sequential of Dense layers on a batch X [features, M], or a CNN
 * (Conv2d, MaxPool2d, AvgPool2d, Flatten, activation layers, Dense head; manual/cnn.ts) on
 * images X [M, C, H, W] (or any batch [M, …] into a Flatten, e.g. rows [M, F]); Y is
 * [outputs, M] either way. A layer the hand derivation does not cover raises
 * UnsupportedLayerError.
 */
export function checkBackprop(model: Sequential, X: Tensor, Y: Tensor, loss: LossName, options: BackpropCheckOptions = {}): BackpropCheckReport {
  const float64 = X.dtype === 'float64';
  const { atol = float64 ? 1e-10 : 1e-4, fdAtol = 1e-6, eps = 1e-6, fdSamples, batchMean = true, raise = true } = options;
  const manual = manualBackprop(model, X, Y, loss);
  const fromTape = tapeGradients(model, X, Y, loss);
  const augmented = augmentedGradients(model, X, Y, loss);
  const fd = float64 ? finiteDifferenceError(model, X, Y, loss, fromTape, eps, fdSamples) : model.layers.map(() => ({ worst: NaN, skipped: 0 }));
  const compare = (tape: Tensor | null, hand: Tensor | null) => (tape && hand ? maxDifference(tape, hand) : NaN);
  const rows: BackpropCheckRow[] = manual.stages.map((stage, l) => {
    const [dW, db] = stageParameterGradients(stage);
    const aug = augmented[l];
    return {
      layer: l + 1,
      name: stage.name,
      kind: stage.kind,
      delta: maxDifference(fromTape.dOutput[l], stage.delta),
      dW: compare(fromTape.layers[l].dW, dW),
      db: compare(fromTape.layers[l].db, db),
      finiteDifference: fd[l].worst,
      finiteDifferenceSkipped: fd[l].skipped,
      augmented: aug ? Math.max(maxDifference(fromTape.layers[l].dW!, aug.dW), maxDifference(fromTape.layers[l].db!, aug.db)) : NaN,
    };
  });

  // every parameter's tape gradient, in order, for the batch identity
  const tapeParameters = fromTape.layers.flatMap((p) => [p.dW, p.db].filter(present));
  let batchVsExamples = 0;
  const M = Y.shape[1];
  if (batchMean && M > 1) {
    // seed 001: the gradient of J is the average of the gradients of the individual losses
    const sums = tapeParameters.map((g) => new Float64Array(g.size));
    const asColumns = examplesAsColumns(model);
    for (let m = 0; m < M; m++) {
      const single = manualBackprop(model, example(X, m, asColumns), slice(Y, [0, m], [Y.shape[0], 1]), loss);
      single.stages.flatMap((s) => stageParameterGradients(s).filter(present)).forEach((g, i) => {
        for (let j = 0; j < g.size; j++) sums[i][j] += g.data[j] / M;
      });
    }
    tapeParameters.forEach((g, i) => {
      for (let j = 0; j < g.size; j++) batchVsExamples = Math.max(batchVsExamples, difference(g.data[j], sums[i][j]));
    });
  }

  const allDense = rows.every((r) => r.kind === 'Dense');
  const failures: string[] = [];
  for (const r of rows) {
    const where = allDense ? `layer ${r.layer}` : `layer ${r.layer} ('${r.name}', ${r.kind})`;
    const conv = r.kind === 'Conv2d';
    const labels = {
      delta: r.kind === 'Dense' ? 'BP1/BP2 Δ' : conv ? 'Δ = ∂C/∂Z' : 'Δ = ∂C/∂(output)',
      dW: conv ? 'BP3-conv ∂C/∂K' : 'BP3 ∂C/∂W',
      db: conv ? 'BP4-conv ∂C/∂b' : 'BP4 ∂C/∂b',
      augmented: 'augmented form',
    };
    // a column that does not apply to the layer holds NaN and is not a failure
    const { W, b } = parametersOf(model.layers[r.layer - 1]);
    const applies = { delta: true, dW: W !== null, db: b !== null, augmented: r.kind === 'Dense' };
    for (const key of ['delta', 'dW', 'db', 'augmented'] as const) {
      if (applies[key] && !(r[key] <= atol)) failures.push(`${where}: tape vs ${labels[key]} differ by ${r[key]}`);
    }
    if (float64 && W !== null && !(r.finiteDifference <= fdAtol)) failures.push(`${where}: tape vs finite differences differ by ${r.finiteDifference}`);
  }
  if (!(batchVsExamples <= atol)) failures.push(`batch gradient vs mean of single-example gradients differ by ${batchVsExamples}`);
  const ok = failures.length === 0;
  const hasDense = rows.some((r) => r.kind === 'Dense');
  const witnesses = allDense
    ? `tape = BP1–BP4 = augmented form${float64 ? ' = finite differences' : ''}`
    : `tape = hand-derived CNN backprop${hasDense ? ' and BP1–BP4 = augmented form' : ''}${float64 ? ' = finite differences' : ''}`;
  const message = ok ? `ok: ${rows.length} layers agree (${witnesses})` : `checkBackprop: ${failures.join('; ')}`;
  const report: BackpropCheckReport = { ok, rows, batchVsExamples, bp1: manual.bp1, tolerance: { exact: atol, finiteDifference: fdAtol }, message };
  if (!ok && raise) throw new ValueError('checkBackprop', failures.join('; '));
  return report;
}

/**
 * Formats a report as the per-layer table the examples and CLI print: for a Sequential of
 * Dense layers BP1–BP4's columns; with other layers, one row per layer with its name and
 * kind ('—' where a column does not apply: no weights, no bias, not Dense).
 */
export function formatBackpropTable(report: BackpropCheckReport): string {
  const footer = `batch gradient vs mean of per-example gradients: ${report.batchVsExamples.toExponential(2)}   (BP1: ${report.bp1})`;
  if (report.rows.every((r) => r.kind === 'Dense')) {
    const head = 'layer   Δ (BP1/BP2)   ∂C/∂W (BP3)   ∂C/∂b (BP4)   finite diff   augmented';
    const cell = (v: number) => (Number.isNaN(v) ? 'skipped' : v.toExponential(2)).padStart(11);
    const lines = report.rows.map((r) => `${String(r.layer).padStart(5)}   ${cell(r.delta)}   ${cell(r.dW)}   ${cell(r.db)}   ${cell(r.finiteDifference)}   ${cell(r.augmented)}`);
    return [head, ...lines, footer].join('\n');
  }
  const nameWidth = Math.max(4, ...report.rows.map((r) => r.name.length));
  const kindWidth = Math.max(4, ...report.rows.map((r) => r.kind.length));
  const cell = (v: number, missing: string) => (Number.isNaN(v) ? missing : v.toExponential(2)).padStart(11);
  const head = `layer   ${'name'.padEnd(nameWidth)}   ${'kind'.padEnd(kindWidth)}   ${'Δ'.padStart(11)}   ${'∂C/∂W, ∂C/∂K'.padStart(12)}   ${'∂C/∂b'.padStart(11)}   finite diff   augmented`;
  const lines = report.rows.map((r) => {
    const hasWeights = r.kind === 'Dense' || r.kind === 'Conv2d';
    return `${String(r.layer).padStart(5)}   ${r.name.padEnd(nameWidth)}   ${r.kind.padEnd(kindWidth)}   ${cell(r.delta, '—')}   ${cell(r.dW, '—').padStart(12)}   ${cell(r.db, '—')}   ${cell(r.finiteDifference, hasWeights ? 'skipped' : '—')}   ${cell(r.augmented, '—')}`;
  });
  return [head, ...lines, footer].join('\n');
}
