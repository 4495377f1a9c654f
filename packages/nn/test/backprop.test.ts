import { ShapeError, Tape, type Tensor, ValueError, createRng, tensor } from '@tapegrad/core';
import {
  Dense, type LossName, type Sequential, UnsupportedLayerError, checkBackprop, cost, formatBackpropTable, l2Penalty, manualBackprop, mlp, sequential,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

const f64 = (rows: number[][]) => tensor(rows, { dtype: 'float64' });

function expectCloseMatrix(actual: Tensor, expected: number[][], digits = 14): void {
  const rows = actual.toArray() as number[][];
  expect(rows.length).toBe(expected.length);
  rows.forEach((row, i) => row.forEach((v, j) => expect(v, `[${i},${j}]`).toBeCloseTo(expected[i][j], digits)));
}

/** The tape's ∂C/∂Zˡ, ∂C/∂Wˡ, ∂C/∂bˡ, to hold the hand-written numbers against. */
function tapeGradients(model: Sequential, X: Tensor, Y: Tensor, loss: LossName, l2 = 0) {
  const dense = model.denseLayers();
  const tape = new Tape();
  const { layers } = tape.record(() => model.trace(X));
  const C = tape.record(() => {
    const data = cost(loss, { ...layers[layers.length - 1], activation: dense[dense.length - 1].activation }, Y);
    return l2 > 0 ? data.add(l2Penalty(dense.map((d) => d.W), l2)) : data;
  });
  const L = dense.length;
  const g = tape.gradient(C, [...layers.map((t) => t.z), ...dense.map((d) => d.W), ...dense.map((d) => d.b)]);
  return { cost: C.item(), dZ: g.slice(0, L), dW: g.slice(L, 2 * L), db: g.slice(2 * L) };
}

/**
 * Seed 000's network: 3 inputs (temperature, scaled; slept well; lots of homework), a hidden
 * layer of 2 sigmoid units, 1 sigmoid output, binary cross-entropy; two days as columns.
 */
function sportsNetwork() {
  const model = mlp([3, 2, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', init: { constant: 0 } });
  const [hidden, output] = model.denseLayers();
  hidden.W.assign([0.5, -0.25, 0.75, -0.5, 1.0, 0.25]);
  hidden.b.assign([0.1, -0.2]);
  output.W.assign([1.5, -2.0]);
  output.b.assign([0.3]);
  const X = f64([[0.25, -0.75], [1, 0], [0, 1]]);
  const Y = f64([[1, 0]]);
  return { model, X, Y };
}

describe("seed 000's 3-2-1 network by hand", () => {
  // Numbers worked out once with a calculator from the weights above:
  //   Z¹ = W¹X + b¹ = [[−0.025, 0.475], [0.675, 0.425]],  A¹ = σ(Z¹)
  //   Z² = W²A¹ + b² = [[−0.2846182, 0.0154916]],  A² = σ(Z²) = [[0.4293219, 0.5038728]]
  const A2 = [[0.4293219317485221, 0.5038728193858723]];

  it('BP1 in closed form: Δ² = (A² − Y)/M, with σ′ cancelled against ∂L/∂A', () => {
    const { model, X, Y } = sportsNetwork();
    const manual = manualBackprop(model, X, Y, 'bce');
    expect(manual.bp1).toBe('sigmoid+bce');
    expectCloseMatrix(manual.layers[0].z, [[-0.025, 0.475], [0.675, 0.425]], 15);
    expectCloseMatrix(manual.layers[1].a, A2);
    // (0.4293219 − 1)/2 and (0.5038728 − 0)/2
    expectCloseMatrix(manual.layers[1].delta, [[(A2[0][0] - 1) / 2, A2[0][1] / 2]]);
    expectCloseMatrix(manual.layers[1].delta, [[-0.2853390341257389, 0.2519364096929361]]);
    // C = −½[log 0.4293219 + log(1 − 0.5038728)]
    expect(manual.cost).toBeCloseTo(0.7732355952108696, 14);
  });

  it('BP2–BP4 give every gradient, and the tape gives the same numbers', () => {
    const { model, X, Y } = sportsNetwork();
    const manual = manualBackprop(model, X, Y, 'bce');
    const expected = {
      delta: [[[-0.10698542045453836, 0.0893412802175925], [0.12757744366650892, -0.12044691222346644]], [[-0.2853390341257389, 0.2519364096929361]]],
      dW: [
        [[-0.09375231527682897, -0.10698542045453836, 0.0893412802175925], [0.12222954508422706, 0.12757744366650892, -0.12044691222346644]],
        [[0.01444931050844575, -0.03673119738947569]],
      ],
      db: [[[-0.01764414023694587], [0.00713053144304247]], [[-0.03340262443280279]]],
    };
    const tape = tapeGradients(model, X, Y, 'bce');
    expect(tape.cost).toBeCloseTo(0.7732355952108696, 14);
    for (const l of [0, 1]) {
      expectCloseMatrix(manual.layers[l].delta, expected.delta[l]);
      expectCloseMatrix(manual.layers[l].dW, expected.dW[l]);
      expectCloseMatrix(manual.layers[l].db, expected.db[l]);
      expectCloseMatrix(tape.dZ[l], expected.delta[l]);
      expectCloseMatrix(tape.dW[l], expected.dW[l]);
      expectCloseMatrix(tape.db[l], expected.db[l]);
    }
  });

  it('the general form of BP1, ∂L/∂A ⊙ σ′(Z)/M, gives the same Δ²', () => {
    const { model, X, Y } = sportsNetwork();
    const general = manualBackprop(model, X, Y, 'bce', { bp1: 'general' });
    expect(general.bp1).toBe('general');
    expectCloseMatrix(general.layers[1].delta, [[-0.2853390341257389, 0.2519364096929361]]);
    expectCloseMatrix(general.layers[0].dW, [[-0.09375231527682897, -0.10698542045453836, 0.0893412802175925], [0.12222954508422706, 0.12757744366650892, -0.12044691222346644]]);
  });

  it('weight decay λ adds λWˡ to BP3 and (λ/2)Σ‖Wˡ‖² to the cost, as l2Penalty does on the tape', () => {
    const { model, X, Y } = sportsNetwork();
    const lambda = 0.1;
    const manual = manualBackprop(model, X, Y, 'bce', { l2: lambda });
    // ‖W¹‖² + ‖W²‖² = (0.25 + 0.0625 + 0.5625 + 0.25 + 1 + 0.0625) + (2.25 + 4) = 8.4375
    expect(manual.cost).toBeCloseTo(0.7732355952108696 + 0.05 * 8.4375, 14);
    expectCloseMatrix(manual.layers[1].dW, [[0.01444931050844575 + 0.15, -0.03673119738947569 - 0.2]]);
    expectCloseMatrix(manual.layers[1].db, [[-0.03340262443280279]]);
    const tape = tapeGradients(model, X, Y, 'bce', lambda);
    expect(tape.cost).toBeCloseTo(manual.cost, 14);
    for (const l of [0, 1]) {
      expectCloseMatrix(tape.dW[l], manual.layers[l].dW.toArray() as number[][]);
      expectCloseMatrix(tape.db[l], manual.layers[l].db.toArray() as number[][]);
    }
  });
});

describe('manualBackprop rejects what it cannot differentiate, saying why', () => {
  const model = mlp([3, 2, 1], { hidden: 'tanh', output: 'sigmoid', dtype: 'float64', seed: 1 });
  const X = f64([[1, 2], [3, 4], [5, 6]]);
  const Y = f64([[1, 0]]);

  it('X with the wrong number of features', () => {
    expect(() => manualBackprop(model, f64([[1, 2], [3, 4]]), Y, 'bce')).toThrow(ShapeError);
    expect(() => manualBackprop(model, f64([[1, 2], [3, 4]]), Y, 'bce')).toThrow('manualBackprop: X has 2 rows but the first layer expects 3 features');
  });

  it('Y with the wrong number of units or examples', () => {
    expect(() => manualBackprop(model, X, f64([[1, 0], [0, 1]]), 'bce')).toThrow('manualBackprop: Y is [2,2] but the output is [1,2]');
    expect(() => manualBackprop(model, X, f64([[1, 0, 1]]), 'bce')).toThrow('manualBackprop: Y is [1,3] but the output is [1,2]');
  });

  it('X or Y that is not a matrix', () => {
    expect(() => manualBackprop(model, tensor([1, 2, 3], { dtype: 'float64' }), Y, 'bce')).toThrow('manualBackprop: X must be a matrix, got [3]');
    expect(() => manualBackprop(model, X, tensor([1, 0], { dtype: 'float64' }), 'bce')).toThrow('manualBackprop: Y must be a matrix, got [2]');
  });

  it('weights of another dtype than X', () => {
    const float32 = mlp([3, 2, 1], { dtype: 'float32', seed: 1 });
    expect(() => manualBackprop(float32, X, Y, 'mse')).toThrow(ValueError);
    expect(() => manualBackprop(float32, X, Y, 'mse')).toThrow("manualBackprop: X is float64 but a layer's weights are float32");
  });

  it('a layer it has no equations for, named (an UnsupportedLayerError)', () => {
    const custom = { parameters: () => ({}), forward: (x: Tensor) => x };
    const model = sequential(new Dense(3, 1, { seed: 1, dtype: 'float64' }), custom);
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow(UnsupportedLayerError);
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow("manualBackprop: layer '1' (Object) has no hand-derived backprop; supported: Conv2d, MaxPool2d, AvgPool2d, Flatten, Dense, ReLU, Tanh, Sigmoid, GELU and Dropout in evaluation mode");
  });
});

describe('checkBackprop', () => {
  it('steps around relu kinks instead of failing on them (a dead layer hands the next relu z = 0)', () => {
    // relu(−1·1) = 0, so with zero biases layer 2 sees z = 0 exactly: moving b² by ±ε turns
    // its unit on, and the central difference would report ½ where relu′(0) = 0.
    const model = mlp([1, 1, 1, 1], { hidden: 'relu', output: 'identity', dtype: 'float64', init: { constant: 1 } });
    model.denseLayers()[0].W.assign([-1]);
    const report = checkBackprop(model, f64([[1]]), f64([[1]]), 'mse', { raise: false });
    expect(report.message).toBe('ok: 3 layers agree (tape = BP1–BP4 = augmented form = finite differences)');
    expect(report.ok).toBe(true);
    expect(report.rows[1].finiteDifferenceSkipped).toBeGreaterThan(0);
    expect(report.rows[2].finiteDifferenceSkipped).toBe(0);
  });

  it('holds large gradients to a relative tolerance, not an absolute 1e-10', () => {
    // the seeds' "classic" N(0, 1) init through 4 identity layers: gradients in the thousands
    const widths = [6, 12, 12, 12, 2];
    const model = mlp(widths, { hidden: 'identity', output: 'identity', dtype: 'float64', init: 'standardNormal', biasInit: 'standardNormal', seed: 3 });
    const rng = createRng(7);
    const X = tensor(Float64Array.from({ length: 6 * 5 }, () => 4 * rng.normal()), { shape: [6, 5], dtype: 'float64' });
    const Y = tensor(Float64Array.from({ length: 2 * 5 }, () => rng.normal()), { shape: [2, 5], dtype: 'float64' });
    const largest = Math.max(...manualBackprop(model, X, Y, 'mse').layers.flatMap((l) => Array.from(l.dW.data, Math.abs)));
    expect(largest).toBeGreaterThan(1e4);
    const report = checkBackprop(model, X, Y, 'mse', { raise: false, fdAtol: 1e-5 });
    expect(report.message).toMatch(/^ok/);
    for (const row of report.rows) {
      for (const d of [row.delta, row.dW, row.db, row.augmented]) expect(d).toBeLessThanOrEqual(1e-10);
    }
  });

  it('in float32 compares tape and BP1–BP4 to float32 precision and skips finite differences', () => {
    const model = mlp([3, 4, 2], { hidden: 'tanh', output: 'softmax', dtype: 'float32', seed: 5 });
    const X = tensor([[1, 2, -1], [0.5, -0.5, 0], [2, 0, 1]], { dtype: 'float32' });
    const Y = tensor([[1, 0, 0], [0, 1, 1]], { dtype: 'float32' });
    const report = checkBackprop(model, X, Y, 'cce');
    expect(report.message).toBe('ok: 2 layers agree (tape = BP1–BP4 = augmented form)');
    expect(report.tolerance.exact).toBe(1e-4);
    expect(report.rows.map((r) => r.finiteDifference)).toEqual([NaN, NaN]);
    for (const row of report.rows) expect(row.dW).toBeLessThan(1e-6);
  });

  it('prints one table row per layer', () => {
    const { model, X, Y } = sportsNetwork();
    const report = checkBackprop(model, X, Y, 'bce');
    const lines = formatBackpropTable(report).split('\n');
    expect(lines).toHaveLength(1 + 2 + 1);
    expect(lines[0]).toMatch(/^layer\s+Δ \(BP1\/BP2\)/);
    expect(lines[1]).toMatch(/^\s+1\s/);
    expect(lines[3]).toMatch(/\(BP1: sigmoid\+bce\)$/);
  });
});
