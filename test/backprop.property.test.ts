/**
 * The tape and the hand derivation (BACKPROP.md's BP1–BP4) agree for every layer of every
 * network fast-check can think of: depth 1–5, widths 1–16, batch 1–16, a random activation
 * per hidden layer (softmax included), and every loss with the output activations it is
 * used with. All in float64.
 *
 * A case is a plain record (NetworkSpec), so fast-check shrinks a failure to the smallest
 * network that still fails and prints it readably, e.g.
 *   {"depth":1,"widths":[1,1],"batch":1,"hidden":[],"output":"relu","loss":"mse","biasInit":"zeros","zeroInput":true,"seed":0}
 * The weights, inputs and targets come from the record's seed: `build(record)` replays the case.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type Rng, type Tensor, Tape, concat, createRng, matmul, matmulT, mul, noGrad, ones, onesLike, slice, step, sub, tensor,
} from '@tapegrad/core';
import {
  type Activation, type LossName, type Sequential, activate, checkBackprop, cost, manualBackprop, mlp,
} from '@tapegrad/nn';

const SEED = 42;

// ---- the network spec ------------------------------------------------------------------

interface NetworkSpec {
  /** L, the number of dense layers. */
  depth: number;
  /** [d₀, d₁, …, d_L]: input features, then each layer's units. */
  widths: number[];
  /** M, examples per batch (columns of X). */
  batch: number;
  /** f₁ … f_{L−1}. */
  hidden: Activation[];
  output: Activation;
  loss: LossName;
  biasInit: 'zeros' | 'standardNormal';
  /**
   * Example 0 (column 0 of X) is all zeros. With zero biases, every relu layer reached
   * through identity, relu or tanh layers then sees z = 0 exactly, where relu′(0) = 0 is a
   * convention both derivations must share (BACKPROP.md); random inputs never land there.
   */
  zeroInput: boolean;
  /** Weights (mlp's seed), inputs and targets. */
  seed: number;
}

/** Listed simplest first: fast-check's constantFrom shrinks towards the first entry. */
const HIDDEN: readonly Activation[] = ['identity', 'sigmoid', 'tanh', 'relu', 'softmax'];

interface Head { loss: LossName; output: Activation }

/**
 * The losses with the output activations they meet: BP1's closed forms (sigmoid + bce,
 * softmax + cce, mse with any element-wise f) and the general Jacobian form (softmax + bce,
 * sigmoid + cce, softmax + mse).
 */
const HEADS: readonly Head[] = [
  { loss: 'mse', output: 'identity' },
  { loss: 'mse', output: 'sigmoid' },
  { loss: 'mse', output: 'tanh' },
  { loss: 'mse', output: 'relu' },
  { loss: 'mse', output: 'softmax' },
  { loss: 'bce', output: 'sigmoid' },
  { loss: 'bce', output: 'softmax' },
  { loss: 'cce', output: 'softmax' },
  { loss: 'cce', output: 'sigmoid' },
];

interface SpecConstraints {
  heads?: readonly Head[];
  hidden?: readonly Activation[];
  maxDepth?: number;
  maxWidth?: number;
  maxBatch?: number;
}

/**
 * Each hidden layer is drawn as a pair (units, activation), so shrinking that removes a layer
 * removes its activation with it and the others keep theirs; the depth follows from the
 * list (a chain from a drawn depth to the widths would shrink far worse).
 */
function networkSpec(constraints: SpecConstraints = {}): fc.Arbitrary<NetworkSpec> {
  const { heads = HEADS, hidden = HIDDEN, maxDepth = 5, maxWidth = 16, maxBatch = 16 } = constraints;
  const width = fc.integer({ min: 1, max: maxWidth });
  return fc.record({
    inputs: width,
    hiddenLayers: fc.array(fc.tuple(width, fc.constantFrom(...hidden)), { maxLength: maxDepth - 1 }),
    outputs: width,
    batch: fc.integer({ min: 1, max: maxBatch }),
    head: fc.constantFrom(...heads),
    biasInit: fc.constantFrom('zeros' as const, 'standardNormal' as const),
    zeroInput: fc.boolean(),
    seed: fc.nat({ max: 2 ** 31 - 1 }),
  }).map(({ inputs, hiddenLayers, outputs, batch, head, biasInit, zeroInput, seed }) => ({
    depth: hiddenLayers.length + 1,
    widths: [inputs, ...hiddenLayers.map(([units]) => units), outputs],
    batch,
    hidden: hiddenLayers.map(([, f]) => f),
    output: head.output,
    loss: head.loss,
    biasInit,
    zeroInput,
    seed,
  }));
}

interface Problem {
  model: Sequential;
  X: Tensor;
  Y: Tensor;
}

function matrix(rows: number, cols: number, draw: (row: number, col: number) => number): Tensor {
  const values = new Float64Array(rows * cols);
  for (let i = 0; i < values.length; i++) values[i] = draw(Math.floor(i / cols), i % cols);
  return tensor(values, { shape: [rows, cols], dtype: 'float64' });
}

/** Targets valid for the loss: one-hot columns for cce, {0, 1} for bce, reals for mse. */
function targets(loss: LossName, units: number, batch: number, rng: Rng): Tensor {
  if (loss === 'mse') return matrix(units, batch, () => rng.normal());
  if (loss === 'bce') return matrix(units, batch, () => (rng.next() < 0.5 ? 1 : 0));
  const classes = Array.from({ length: batch }, () => Math.floor(rng.next() * units));
  const Y = new Float64Array(units * batch);
  classes.forEach((c, m) => { Y[c * batch + m] = 1; });
  return tensor(Y, { shape: [units, batch], dtype: 'float64' });
}

function build(spec: NetworkSpec): Problem {
  const model = mlp(spec.widths, { hidden: spec.hidden, output: spec.output, biasInit: spec.biasInit, dtype: 'float64', seed: spec.seed });
  // a generator of its own, so inputs do not depend on how many numbers the weights drew
  const rng = createRng(spec.seed ^ 0x5bd1e995);
  const X = matrix(spec.widths[0], spec.batch, (_, m) => (spec.zeroInput && m === 0 ? 0 : rng.normal()));
  const Y = targets(spec.loss, spec.widths[spec.depth], spec.batch, rng);
  return { model, X, Y };
}

// ---- the witnesses ---------------------------------------------------------------------

interface LayerGradients { dZ: Tensor; dW: Tensor; db: Tensor }

/** The tape's cost and its ∂C/∂Zˡ, ∂C/∂Wˡ, ∂C/∂bˡ for every layer. */
function tapeGradients({ model, X, Y }: Problem, loss: LossName): { cost: number; layers: LayerGradients[] } {
  const dense = model.denseLayers();
  const tape = new Tape();
  const traced = tape.record(() => model.trace(X));
  const last = traced.layers[traced.layers.length - 1];
  const C = tape.record(() => cost(loss, { ...last, activation: dense[dense.length - 1].activation }, Y));
  const L = dense.length;
  const grads = tape.gradient(C, [...traced.layers.map((t) => t.z), ...dense.map((d) => d.W), ...dense.map((d) => d.b)]);
  return { cost: C.item(), layers: dense.map((_, l) => ({ dZ: grads[l], dW: grads[L + l], db: grads[2 * L + l] })) };
}

/**
 * Seed 001's augmented form: Zˡ = [bˡ Wˡ] [𝟙ᵀ; Aˡ⁻¹], one matrix per layer, differentiated
 * by the tape and split back into ∂C/∂bˡ (column 0) and ∂C/∂Wˡ (the rest).
 */
function augmentedGradients({ model, X, Y }: Problem, loss: LossName): Array<{ dW: Tensor; db: Tensor }> {
  const dense = model.denseLayers();
  const augmented = dense.map((d) => concat([d.b, d.W], 1));
  const tape = new Tape();
  const C = tape.record(() => {
    let a = X;
    let z = X;
    dense.forEach((layer, l) => {
      z = matmul(augmented[l], concat([ones([1, a.shape[1]], { dtype: 'float64' }), a], 0));
      a = activate(layer.activation, z);
    });
    return cost(loss, { z, a, activation: dense[dense.length - 1].activation }, Y);
  });
  return tape.gradient(C, augmented).map((g) => ({
    db: slice(g, [0, 0], [g.shape[0], 1]),
    dW: slice(g, [0, 1], [g.shape[0], g.shape[1] - 1]),
  }));
}

function column(t: Tensor, m: number): Tensor {
  return slice(t, [0, m], [t.shape[0], 1]);
}

/**
 * "Equal" for values computed in a different order: 1e-10 absolute, relative once the
 * values exceed 1. Round-off in these networks is ~1e-15 relative; a wrong derivative is
 * off by orders of magnitude more.
 */
const EXACT = 1e-10;

/** Throws, naming the layer, the quantity and the first entry that disagrees, unless all agree. */
function expectAgree(actual: Tensor, expected: Tensor, what: string, tolerance = EXACT): void {
  if (actual.shape.join() !== expected.shape.join()) {
    throw new Error(`${what}: shapes differ, [${actual.shape.join(',')}] vs [${expected.shape.join(',')}]`);
  }
  const cols = actual.shape[1] ?? 1;
  for (let i = 0; i < actual.size; i++) {
    const a = actual.data[i];
    const e = expected.data[i];
    if (!(Math.abs(a - e) <= tolerance * Math.max(1, Math.abs(a), Math.abs(e)))) {
      throw new Error(`${what} at [${Math.floor(i / cols)},${i % cols}]: ${a} vs ${e} (difference ${Math.abs(a - e).toExponential(3)})`);
    }
  }
}

function expectAgreeNumber(actual: number, expected: number, what: string): void {
  expectAgree(tensor([actual], { dtype: 'float64' }), tensor([expected], { dtype: 'float64' }), what);
}

function everyLayer<T>(spec: NetworkSpec, f: (l: number, name: string) => T): T[] {
  return Array.from({ length: spec.depth }, (_, l) => f(l, `layer ${l + 1} of ${spec.depth}`));
}

// ---- properties ------------------------------------------------------------------------

describe('tape = BP1–BP4, layer by layer, on random networks (float64)', () => {
  it('∂C/∂Zˡ = Δˡ (BP1, BP2), ∂C/∂Wˡ = BP3, ∂C/∂bˡ = BP4, and the costs agree', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(networkSpec(), (spec) => {
        const problem = build(spec);
        const tape = tapeGradients(problem, spec.loss);
        const manual = manualBackprop(problem.model, problem.X, problem.Y, spec.loss);
        expectAgreeNumber(tape.cost, manual.cost, 'cost C');
        everyLayer(spec, (l, name) => {
          expectAgree(tape.layers[l].dZ, manual.layers[l].delta, `${name}: tape ∂C/∂Z vs ${l === spec.depth - 1 ? 'BP1' : 'BP2'} Δ`);
          expectAgree(tape.layers[l].dW, manual.layers[l].dW, `${name}: tape ∂C/∂W vs BP3 Δ(Aˡ⁻¹)ᵀ`);
          expectAgree(tape.layers[l].db, manual.layers[l].db, `${name}: tape ∂C/∂b vs BP4 Δ𝟙`);
        });
        seen.set(`${spec.loss}+${spec.output}`, (seen.get(`${spec.loss}+${spec.output}`) ?? 0) + 1);
        for (const f of spec.hidden) seen.set(`hidden ${f}`, (seen.get(`hidden ${f}`) ?? 0) + 1);
        for (const key of [`depth ${spec.depth}`, `widest ${Math.max(...spec.widths)}`, `batch ${spec.batch}`]) seen.set(key, (seen.get(key) ?? 0) + 1);
      }),
      { numRuns: 200, seed: SEED, includeErrorInReport: true },
    );
    // the runs reached every loss/output pair and every hidden activation, softmax included
    for (const { loss, output } of HEADS) expect(seen.get(`${loss}+${output}`) ?? 0).toBeGreaterThanOrEqual(5);
    for (const f of HIDDEN) expect(seen.get(`hidden ${f}`) ?? 0).toBeGreaterThanOrEqual(10);
    // … every depth, and the extremes of the ranges
    for (const depth of [1, 2, 3, 4, 5]) expect(seen.get(`depth ${depth}`) ?? 0).toBeGreaterThanOrEqual(10);
    for (const key of ['widest 1', 'widest 16', 'batch 1', 'batch 16']) expect(seen.get(key) ?? 0, key).toBeGreaterThanOrEqual(1);
  });

  it('the batch gradient is the mean of the single-example gradients (tape and BP1–BP4), and column m of Δˡ is δˡ,ᵐ/M', () => {
    fc.assert(
      fc.property(networkSpec({ maxBatch: 8 }), (spec) => {
        const problem = build(spec);
        const batch = tapeGradients(problem, spec.loss);
        const M = spec.batch;
        const mean = (source: 'tape' | 'BP') => batch.layers.map((g) => ({ source, dW: new Float64Array(g.dW.size), db: new Float64Array(g.db.size) }));
        const means = [mean('tape'), mean('BP')];
        for (let m = 0; m < M; m++) {
          const X = column(problem.X, m);
          const Y = column(problem.Y, m);
          const tape = tapeGradients({ model: problem.model, X, Y }, spec.loss).layers;
          const manual = manualBackprop(problem.model, X, Y, spec.loss).layers.map((r) => ({ dZ: r.delta, dW: r.dW, db: r.db }));
          [tape, manual].forEach((single, k) => everyLayer(spec, (l, name) => {
            // the per-example error δ, scaled by 1/M, is column m of the batch's Δ
            expectAgree(mul(single[l].dZ, 1 / M), column(batch.layers[l].dZ, m), `${name}: ${means[k][l].source} δ of example ${m} / M vs column ${m} of the batch's Δ`);
            single[l].dW.data.forEach((v, j) => { means[k][l].dW[j] += v / M; });
            single[l].db.data.forEach((v, j) => { means[k][l].db[j] += v / M; });
          }));
        }
        for (const perExample of means) {
          everyLayer(spec, (l, name) => {
            const { source, dW, db } = perExample[l];
            expectAgree(batch.layers[l].dW, tensor(dW, { shape: batch.layers[l].dW.shape }), `${name}: batch ∂C/∂W vs mean of per-example ∂L/∂W (${source})`);
            expectAgree(batch.layers[l].db, tensor(db, { shape: batch.layers[l].db.shape }), `${name}: batch ∂C/∂b vs mean of per-example ∂L/∂b (${source})`);
          });
        }
      }),
      { numRuns: 100, seed: SEED, includeErrorInReport: true },
    );
  });

  it('seed 001\'s augmented form [b W][𝟙ᵀ; A] gives the same ∂C/∂Wˡ and ∂C/∂bˡ as the tape and BP3/BP4', () => {
    fc.assert(
      fc.property(networkSpec(), (spec) => {
        const problem = build(spec);
        const tape = tapeGradients(problem, spec.loss);
        const manual = manualBackprop(problem.model, problem.X, problem.Y, spec.loss);
        const augmented = augmentedGradients(problem, spec.loss);
        everyLayer(spec, (l, name) => {
          expectAgree(augmented[l].dW, tape.layers[l].dW, `${name}: augmented ∂C/∂W vs tape`);
          expectAgree(augmented[l].db, tape.layers[l].db, `${name}: augmented ∂C/∂b vs tape`);
          expectAgree(augmented[l].dW, manual.layers[l].dW, `${name}: augmented ∂C/∂W vs BP3`);
          expectAgree(augmented[l].db, manual.layers[l].db, `${name}: augmented ∂C/∂b vs BP4`);
        });
      }),
      { numRuns: 150, seed: SEED, includeErrorInReport: true },
    );
  });

  it('BP1\'s general Jacobian form equals its closed forms (sigmoid + bce, softmax + cce, mse)', () => {
    const closedForms = { bce: 'sigmoid', cce: 'softmax' } as const;
    fc.assert(
      fc.property(networkSpec(), (spec) => {
        const { model, X, Y } = build(spec);
        const closed = manualBackprop(model, X, Y, spec.loss);
        const general = manualBackprop(model, X, Y, spec.loss, { bp1: 'general' });
        expect(general.bp1).toBe('general');
        const paired = spec.loss !== 'mse' && closedForms[spec.loss] === spec.output;
        expect(closed.bp1).toBe(paired ? `${spec.output}+${spec.loss}` : spec.loss === 'mse' && spec.output !== 'softmax' ? 'mse' : 'general');
        // The general form divides by Aᴸ (∂L/∂Aᴸ = −Y/Aᴸ …), so where a clipped loss saturates
        // (Aᴸ within the loss's ε = 1e-12 of 0 or 1) it follows the clip and the closed form
        // does not: there only one of them applies.
        const aL = closed.layers[spec.depth - 1].a.data;
        fc.pre(spec.loss === 'mse' || aL.every((p) => p >= 1e-12 && p <= 1 - 1e-12));
        expectAgreeNumber(general.cost, closed.cost, 'cost C');
        everyLayer(spec, (l, name) => {
          expectAgree(general.layers[l].delta, closed.layers[l].delta, `${name}: general vs closed-form Δ`);
          expectAgree(general.layers[l].dW, closed.layers[l].dW, `${name}: general vs closed-form ∂C/∂W`);
          expectAgree(general.layers[l].db, closed.layers[l].db, `${name}: general vs closed-form ∂C/∂b`);
        });
      }),
      { numRuns: 150, seed: SEED, includeErrorInReport: true },
    );
  });
});

// ---- finite differences, the third witness ----------------------------------------------

/** Central-difference step; float64 round-off then costs ~1e-16·|C|/ε ≈ 1e-10·|C|. */
const FD_EPS = 1e-6;
/** Truncation error is O(ε²·C‴) and round-off O(1e-10·|C|): far below, and a wrong derivative far above. */
const FD_ATOL = 1e-6;
const FD_RTOL = 1e-5;

/** The library's cost, evaluated without a tape, and which relu units are on (z > 0) in the pass. */
function costAndReluPattern({ model, X, Y }: Problem, loss: LossName): { cost: number; pattern: string } {
  return noGrad(() => {
    const dense = model.denseLayers();
    const traced = model.trace(X);
    const last = traced.layers[traced.layers.length - 1];
    const pattern = traced.layers
      .map((t, l) => (dense[l].activation === 'relu' ? Array.from(t.z.data, (z) => (z > 0 ? '1' : '0')).join('') : ''))
      .join('|');
    return { cost: cost(loss, { ...last, activation: dense[dense.length - 1].activation }, Y).item(), pattern };
  });
}

describe('finite differences agree with the tape (and so with BP1–BP4)', () => {
  it('every ∂C/∂Wˡ and ∂C/∂bˡ entry, except across a relu kink', () => {
    let checked = 0;
    let skipped = 0;
    fc.assert(
      fc.property(networkSpec({ maxWidth: 10, maxBatch: 8 }), (spec) => {
        const problem = build(spec);
        const tape = tapeGradients(problem, spec.loss);
        const base = costAndReluPattern(problem, spec.loss).pattern;
        everyLayer(spec, (l, name) => {
          const layer = problem.model.denseLayers()[l];
          for (const [param, analytic, label] of [[layer.W, tape.layers[l].dW, 'W'], [layer.b, tape.layers[l].db, 'b']] as const) {
            const original = Float64Array.from(param.data);
            const at = (j: number, value: number) => {
              const moved = original.slice();
              moved[j] = value;
              param.assign(moved);
              return costAndReluPattern(problem, spec.loss);
            };
            for (let j = 0; j < original.length; j++) {
              const plus = at(j, original[j] + FD_EPS);
              const minus = at(j, original[j] - FD_EPS);
              param.assign(original);
              // relu is not differentiable at 0: if moving θⱼ by ±ε switches any relu unit on
              // or off (z crosses 0, or leaves an exact 0 such as a dead layer hands a
              // zero-bias layer), the difference quotient straddles a kink and measures a
              // blend of two slopes, not ∂C/∂θⱼ. We skip exactly those entries rather than
              // every entry with some |z| < 1e-4, which would throw away most relu networks
              // with zero biases; where no unit switches, C is smooth on [θ−ε, θ+ε] and the
              // difference is exact to O(ε²). The tape-vs-BP comparisons above never skip.
              if (plus.pattern !== base || minus.pattern !== base) {
                skipped++;
                continue;
              }
              const numeric = (plus.cost - minus.cost) / (2 * FD_EPS);
              const a = analytic.data[j];
              if (!(Math.abs(numeric - a) <= FD_ATOL + FD_RTOL * Math.abs(a))) {
                const cols = param.shape[1];
                throw new Error(`${name}: ∂C/∂${label}[${Math.floor(j / cols)},${j % cols}]: tape ${a} vs finite difference ${numeric}`);
              }
              checked++;
            }
          }
        });
      }),
      { numRuns: 100, seed: SEED, includeErrorInReport: true },
    );
    // the skips are the rare exception, not what made the property pass
    expect(checked).toBeGreaterThan(2000);
    expect(skipped).toBeLessThan(0.05 * checked);
  });

  it('checkBackprop, the exported tool, reports every witness in agreement on random networks', () => {
    let withRelu = 0;
    fc.assert(
      fc.property(networkSpec({ maxWidth: 8, maxBatch: 6 }), (spec) => {
        if ([...spec.hidden, spec.output].includes('relu')) withRelu++;
        const { model, X, Y } = build(spec);
        const report = checkBackprop(model, X, Y, spec.loss, { raise: false });
        if (!report.ok) throw new Error(report.message);
        expect(report.rows).toHaveLength(spec.depth);
        for (const row of report.rows) {
          expect(row.delta).toBeLessThanOrEqual(report.tolerance.exact);
          expect(row.finiteDifference).toBeLessThanOrEqual(report.tolerance.finiteDifference);
        }
      }),
      { numRuns: 60, seed: SEED, includeErrorInReport: true },
    );
    // relu networks were among them: their kinks are stepped around, not failed on
    expect(withRelu).toBeGreaterThanOrEqual(10);
  });
});

// ---- a deliberately broken derivation is caught, and shrunk -----------------------------

/**
 * BP1 (mse) and BP2 written again on core ops outside any tape, for element-wise
 * activations, with a table of derivatives the caller may get wrong.
 */
type Derivatives = Record<'identity' | 'sigmoid' | 'tanh' | 'relu', (z: Tensor, a: Tensor) => Tensor>;

const CORRECT: Derivatives = {
  identity: (z) => onesLike(z),
  sigmoid: (_z, a) => mul(a, sub(1, a)),
  tanh: (_z, a) => sub(1, mul(a, a)),
  relu: (z) => step(z),
};

/** The classic slip: tanh′ written as 1 − z² instead of 1 − tanh²(z) = 1 − a². */
const TANH_IN_TERMS_OF_Z: Derivatives = { ...CORRECT, tanh: (z) => sub(1, mul(z, z)) };

function handBackprop({ model, X, Y }: Problem, derivatives: Derivatives): Tensor[] {
  return noGrad(() => {
    const dense = model.denseLayers();
    const { layers } = model.trace(X);
    const fPrime = (l: number) => derivatives[dense[l].activation as keyof Derivatives](layers[l].z, layers[l].a);
    const L = dense.length;
    let delta = mul(mul(sub(layers[L - 1].a, Y), fPrime(L - 1)), 1 / X.shape[1]); // BP1 for mse
    const deltas: Tensor[] = [delta];
    for (let l = L - 2; l >= 0; l--) {
      delta = mul(matmulT(dense[l + 1].W, delta, true), fPrime(l)); // BP2
      deltas.unshift(delta);
    }
    return deltas;
  });
}

describe('a broken gradient is detected and shrunk to a small network', () => {
  it('tanh′ = 1 − z² disagrees with the tape; fast-check reports a tiny tanh network', () => {
    const specs = networkSpec({ heads: HEADS.filter((h) => h.loss === 'mse' && h.output !== 'softmax'), hidden: ['identity', 'sigmoid', 'tanh', 'relu'] });
    const agrees = (derivatives: Derivatives) => fc.property(specs, (spec) => {
      const problem = build(spec);
      const tape = tapeGradients(problem, spec.loss);
      const deltas = handBackprop(problem, derivatives);
      everyLayer(spec, (l, name) => expectAgree(deltas[l], tape.layers[l].dZ, `${name}: hand-written Δ vs tape ∂C/∂Z`));
    });

    // the hand derivation with the right table passes, so what fails below is the bug alone
    fc.assert(agrees(CORRECT), { numRuns: 100, seed: SEED });

    const result = fc.check(agrees(TANH_IN_TERMS_OF_Z), { numRuns: 100, seed: SEED });
    expect(result.failed).toBe(true);
    const [smallest] = result.counterexample!;
    // shrunk to (nearly) the smallest network that has a tanh somewhere
    expect([smallest.output, ...smallest.hidden]).toContain('tanh');
    expect(smallest.depth).toBeLessThanOrEqual(2);
    expect(Math.max(...smallest.widths)).toBeLessThanOrEqual(2);
    expect(smallest.batch).toBe(1);
    expect(fc.defaultReportMessage(result)).toMatch(/"depth":\d,"widths":\[/);
  });
});
