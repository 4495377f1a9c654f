import { ShapeError, Tape, type Tensor, ValueError, sigmoid, tensor } from '@tapegrad/core';
import {
  binaryCrossEntropy, binaryCrossEntropyFromLogits, categoricalCrossEntropy, categoricalCrossEntropyFromLogits,
  cost, l2Penalty, meanSquaredError,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

/** [units, examples] in float64, examples as columns. */
const f64 = (rows: number[][]) => tensor(rows, { dtype: 'float64' });

function valueAndGradient(loss: (yHat: Tensor) => Tensor, yHat: Tensor): { value: number; gradient: number[][] } {
  const tape = new Tape();
  const C = tape.record(() => loss(yHat));
  return { value: C.item(), gradient: tape.gradient(C, yHat).toArray() as number[][] };
}

function expectFinite(values: number[][]): void {
  for (const v of values.flat()) expect(Number.isFinite(v), `${v}`).toBe(true);
}

function expectCloseMatrix(actual: number[][], expected: number[][], digits = 12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, i) => row.forEach((v, j) => expect(v, `[${i},${j}]`).toBeCloseTo(expected[i][j], digits)));
}

describe('binary cross-entropy (seed 000, eq. 15 and 24)', () => {
  // 2 output units × 2 examples
  const yHat = f64([[0.9, 0.2], [0.3, 0.6]]);
  const y = f64([[1, 0], [0, 1]]);

  it('sums over the output units and averages over the examples', () => {
    // example 1: −(log 0.9 + log 0.7) = 0.105361 + 0.356675 = 0.462035
    // example 2: −(log 0.8 + log 0.6) = 0.223144 + 0.510826 = 0.733969
    expect(binaryCrossEntropy(yHat, y).item()).toBeCloseTo((0.46203545959655873 + 0.7339691750802004) / 2, 14);
    expect(binaryCrossEntropy(yHat, y).item()).toBeCloseTo(0.5980023173383796, 14);
    // one example with two units: the sum over units, not their mean
    expect(binaryCrossEntropy(f64([[0.9], [0.3]]), f64([[1], [0]])).item()).toBeCloseTo(0.46203545959655873, 14);
  });

  it('has gradient (−y/ŷ + (1−y)/(1−ŷ))/M with respect to ŷ', () => {
    const { gradient } = valueAndGradient((p) => binaryCrossEntropy(p, y), yHat);
    expectCloseMatrix(gradient, [[-1 / 0.9 / 2, 1 / 0.8 / 2], [1 / 0.7 / 2, -1 / 0.6 / 2]]);
  });

  it('from logits equals the loss of σ(z), and its gradient is BP1\'s closed form (σ(z) − y)/M', () => {
    const z = f64([[2, -1], [0.5, 0]]);
    const fromLogits = valueAndGradient((t) => binaryCrossEntropyFromLogits(t, y), z);
    expect(fromLogits.value).toBeCloseTo(binaryCrossEntropy(sigmoid(z), y).item(), 14);
    // softplus(2) − 0 = log(1 + e²) = 2.126928 is one of the four terms
    expect(binaryCrossEntropyFromLogits(f64([[2]]), f64([[0]])).item()).toBeCloseTo(2.1269280110429727, 14);
    const s = (x: number) => 1 / (1 + Math.exp(-x));
    expectCloseMatrix(fromLogits.gradient, [[(s(2) - 1) / 2, (s(-1) - 0) / 2], [(s(0.5) - 0) / 2, (s(0) - 1) / 2]]);
  });

  it('at ŷ = 0 or 1 gives a large but finite cost and finite gradients', () => {
    // both predictions wrong with certainty: ŷ is clipped to [1e−12, 1 − 1e−12], so each term
    // is about −log(1e−12) = 27.631 (the second a hair less: 1 − (1 − 1e−12) rounds to 1.0000889e−12)
    const wrong = valueAndGradient((p) => binaryCrossEntropy(p, f64([[1], [0]])), f64([[0], [1]]));
    expect(wrong.value).toBeCloseTo(-Math.log(1e-12) - Math.log(1 - (1 - 1e-12)), 12);
    expect(wrong.value).toBeCloseTo(55.26206, 5);
    expectFinite(wrong.gradient);
    // both right with certainty: no cost, finite gradients
    const right = valueAndGradient((p) => binaryCrossEntropy(p, f64([[0], [1]])), f64([[0], [1]]));
    expect(right.value).toBeCloseTo(0, 10);
    expectFinite(right.gradient);
  });

  it('from logits stays finite at z = ±1000', () => {
    const z = f64([[1000], [-1000]]);
    // wrong by 1000 either way: softplus(1000) − 0 + softplus(−1000) + 1000 = 2000
    const wrong = valueAndGradient((t) => binaryCrossEntropyFromLogits(t, f64([[0], [1]])), z);
    expect(wrong.value).toBeCloseTo(2000, 10);
    expectCloseMatrix(wrong.gradient, [[1], [-1]]);
    const right = valueAndGradient((t) => binaryCrossEntropyFromLogits(t, f64([[1], [0]])), z);
    expect(right.value).toBeCloseTo(0, 12);
    expectCloseMatrix(right.gradient, [[0], [0]]);
  });
});

describe('categorical cross-entropy', () => {
  // 3 classes × 2 examples; each column of ŷ sums to 1
  const yHat = f64([[0.7, 0.1], [0.2, 0.3], [0.1, 0.6]]);
  const y = f64([[1, 0], [0, 0], [0, 1]]);

  it('is −(1/M) Σ log ŷ of the true classes', () => {
    // (−log 0.7 − log 0.6)/2 = (0.356675 + 0.510826)/2
    expect(categoricalCrossEntropy(yHat, y).item()).toBeCloseTo(0.4337502838523616, 14);
    const { gradient } = valueAndGradient((p) => categoricalCrossEntropy(p, y), yHat);
    expectCloseMatrix(gradient, [[-1 / 0.7 / 2, 0], [0, 0], [0, -1 / 0.6 / 2]]);
  });

  it('from logits is −log softmax(z) of the true class, with gradient (softmax(z) − y)/M', () => {
    // log(e¹ + e² + e³) − 3 = 0.407606
    const { value, gradient } = valueAndGradient((z) => categoricalCrossEntropyFromLogits(z, f64([[0], [0], [1]])), f64([[1], [2], [3]]));
    expect(value).toBeCloseTo(0.40760596444438013, 14);
    const total = Math.exp(1) + Math.exp(2) + Math.exp(3);
    expectCloseMatrix(gradient, [[Math.exp(1) / total], [Math.exp(2) / total], [Math.exp(3) / total - 1]]);
  });

  it('at ŷ = 0 for the true class gives a finite cost and finite gradients', () => {
    const { value, gradient } = valueAndGradient((p) => categoricalCrossEntropy(p, f64([[1], [0]])), f64([[0], [1]]));
    expect(value).toBeCloseTo(27.631021115928547, 8);
    expectFinite(gradient);
    const certain = valueAndGradient((p) => categoricalCrossEntropy(p, f64([[1], [0]])), f64([[1], [0]]));
    expect(certain.value).toBeCloseTo(0, 15);
    expectFinite(certain.gradient);
  });

  it('from logits stays finite at z = ±1000', () => {
    const { value, gradient } = valueAndGradient((z) => categoricalCrossEntropyFromLogits(z, f64([[0], [1], [0]])), f64([[1000], [-1000], [0]]));
    expect(value).toBeCloseTo(2000, 10);
    expectCloseMatrix(gradient, [[1], [-1], [0]]);
  });
});

describe('mean squared error with seed 001\'s ½', () => {
  it('is (1/M) Σₘ ½‖yᵐ − ŷᵐ‖², with gradient (ŷ − y)/M', () => {
    const yHat = f64([[1, 2], [3, 5]]);
    const y = f64([[0, 2], [1, 1]]);
    // example 1: ½(1² + 2²) = 2.5; example 2: ½(0² + 4²) = 8; mean 5.25
    const { value, gradient } = valueAndGradient((p) => meanSquaredError(p, y), yHat);
    expect(value).toBe(5.25);
    expectCloseMatrix(gradient, [[0.5, 0], [1, 2]], 15);
  });
});

describe('l2Penalty', () => {
  it('is (λ/2) Σ‖W‖², with gradient λW for each tensor', () => {
    const W1 = f64([[1, 2], [3, 4]]);
    const W2 = f64([[-1]]);
    const tape = new Tape();
    const penalty = tape.record(() => l2Penalty([W1, W2], 0.1));
    // 0.05 · (1 + 4 + 9 + 16 + 1) = 1.55
    expect(penalty.item()).toBeCloseTo(1.55, 14);
    const [g1, g2] = tape.gradient(penalty, [W1, W2]);
    expectCloseMatrix(g1.toArray() as number[][], [[0.1, 0.2], [0.3, 0.4]], 15);
    expectCloseMatrix(g2.toArray() as number[][], [[-0.1]], 15);
  });

  it('rejects a negative λ and an empty list', () => {
    expect(() => l2Penalty([f64([[1]])], -1)).toThrow(ValueError);
    expect(() => l2Penalty([f64([[1]])], -1)).toThrow('l2Penalty: lambda must be ≥ 0, got -1');
    expect(() => l2Penalty([], 0.1)).toThrow('l2Penalty: needs at least one tensor');
  });
});

describe('cost', () => {
  const z = f64([[0.5, -2], [1, 0.25]]);
  const y = f64([[1, 0], [0, 1]]);

  it('uses the from-logits form where the output activation and the loss pair up', () => {
    const a = sigmoid(z);
    expect(cost('bce', { z, a, activation: 'sigmoid' }, y).item()).toBeCloseTo(binaryCrossEntropyFromLogits(z, y).item(), 15);
    expect(cost('bce', { z, a, activation: 'tanh' }, y).item()).toBeCloseTo(binaryCrossEntropy(a, y).item(), 15);
    expect(cost('cce', { z, a, activation: 'softmax' }, y).item()).toBeCloseTo(categoricalCrossEntropyFromLogits(z, y).item(), 15);
    expect(cost('cce', { z, a, activation: 'sigmoid' }, y).item()).toBeCloseTo(categoricalCrossEntropy(a, y).item(), 15);
    expect(cost('mse', { z, a, activation: 'sigmoid' }, y).item()).toBeCloseTo(meanSquaredError(a, y).item(), 15);
  });

  it('rejects an unknown loss and mismatched shapes', () => {
    expect(() => cost('hinge' as never, { z, a: z, activation: 'identity' }, y)).toThrow("cost: unknown loss 'hinge': choose one of bce, cce, mse");
    expect(() => meanSquaredError(f64([[1, 2]]), f64([[1], [2]]))).toThrow(ShapeError);
    expect(() => binaryCrossEntropy(f64([[0.5, 0.5]]), f64([[1, 0], [0, 1]]))).toThrow(
      'binaryCrossEntropy: predictions [1,2] and targets [2,2] must both be [units, examples] and equal',
    );
  });
});
