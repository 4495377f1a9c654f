/**
 * Tests written for the mutants of nn/src/manual/cnn.ts that survived (or were not reached
 * by) a StrykerJS run against the manual backprop tests (docs/mutation.md).
 */
import { ShapeError, ValueError, maxPool2d, tensor, type Tensor } from '@tapegrad/core';
import {
  AvgPool2d, Conv2d, Dense, Dropout, Flatten, MaxPool2d, type Module, ReLU, UnsupportedLayerError, checkBackprop, manualBackprop, sequential,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';
import { manualCostAndKinks } from '../src/manual/cnn.js';

const f64 = (values: number[], shape: number[]) => tensor(values, { shape, dtype: 'float64' });
const values = (t: Tensor) => Array.from(t.data);

describe('nn/src/manual/cnn.ts', () => {
  it('a window that does not fit names the padded size, per axis', () => {
    const X = tensor(new Array(24).fill(1), { shape: [1, 1, 4, 6], dtype: 'float64' });
    const Y = f64([0], [1, 1]);
    const padded = sequential(new Conv2d(1, 1, 7, { padding: 1, seed: 1, dtype: 'float64' }), new Flatten());
    expect(() => manualBackprop(padded, X, Y, 'mse')).toThrow("manualBackprop: layer '0': the window 7×7 does not fit the padded input 6×8");
    const valid = sequential(new Conv2d(1, 1, 5, { padding: 'valid', seed: 1, dtype: 'float64' }), new Flatten());
    expect(() => manualBackprop(valid, X, Y, 'mse')).toThrow("manualBackprop: layer '0': the window 5×5 does not fit the padded input 4×6");
    const tall = tensor(new Array(24).fill(1), { shape: [1, 1, 6, 4], dtype: 'float64' });
    expect(() => manualBackprop(valid, tall, Y, 'mse')).toThrow("manualBackprop: layer '0': the window 5×5 does not fit the padded input 6×4");
  });

  it("refuses padding 'same' with a stride other than 1 on either axis", () => {
    const X = tensor(new Array(16).fill(1), { shape: [1, 1, 4, 4], dtype: 'float64' });
    for (const stride of [[1, 2], [2, 1]] as [number, number][]) {
      const model = sequential(new Conv2d(1, 1, 3, { padding: 'same', stride, seed: 1, dtype: 'float64' }), new Flatten());
      expect(() => manualBackprop(model, X, f64([0], [1, 1]), 'mse')).toThrow(`manualBackprop: layer '0': padding 'same' needs stride 1, got stride [${stride}]`);
    }
  });

  it('refuses a pool fed a matrix, a Flatten fed a vector, and targets that are not a matrix', () => {
    const X = f64([1, 2, 3, 4], [1, 1, 2, 2]);
    expect(() => manualBackprop(sequential(new Flatten(), new MaxPool2d(2)), X, f64([0], [1, 1]), 'mse'))
      .toThrow("manualBackprop: layer '1' (MaxPool2d) expects images [M, C, H, W], got [4,1]");
    expect(() => manualBackprop(sequential(new Flatten()), f64([1, 2], [2]), f64([0, 0], [1, 2]), 'mse'))
      .toThrow("manualBackprop: layer '0' (Flatten) expects a batch [M, …], got [2]");
    expect(() => manualBackprop(sequential(new Flatten()), X, f64([0], [1]), 'mse'))
      .toThrow('manualBackprop: Y must be a matrix [units, examples], got [1]');
  });

  it('an average pool counts the padding by default; a last layer that is not Dense is scored as it is', () => {
    // every 2×2 window over the image padded by 1 holds one pixel and three zeros: ŷ = (1+2+3+4)/4
    const dense = new Dense(4, 1, { seed: 1, dtype: 'float64' });
    dense.W.assign([1, 1, 1, 1]);
    dense.b.assign([0]);
    const pooled = manualBackprop(sequential(new AvgPool2d(2, { padding: 1 }), new Flatten(), dense), f64([1, 2, 3, 4], [1, 1, 2, 2]), f64([0], [1, 1]), 'mse');
    expect(pooled.cost).toBe(3.125);
    // Z = 2·3 + 0.5 = 6.5 out of a Flatten, identity output: C = ½(6.5 − 1)², δ = 5.5
    const conv = new Conv2d(1, 1, 1, { seed: 1, dtype: 'float64' });
    conv.W.assign([2]);
    conv.b!.assign([0.5]);
    const result = manualBackprop(sequential(conv, new Flatten()), f64([3], [1, 1, 1, 1]), f64([1], [1, 1]), 'mse');
    expect(result.cost).toBe(15.125);
    expect(values(result.stages[1].delta)).toEqual([5.5]);
  });

  it('float32 images give float32 buffers throughout', () => {
    const conv = new Conv2d(1, 1, 1, { seed: 1 });
    conv.W.assign([2]);
    conv.b!.assign([0.5]);
    const result = manualBackprop(sequential(conv, new Flatten()), tensor([3], { shape: [1, 1, 1, 1] }), tensor([1], { shape: [1, 1] }), 'mse');
    expect(result.cost).toBe(15.125);
    for (const stage of result.stages) expect(stage.delta.data).toBeInstanceOf(Float32Array);
  });

  it('a grouped conv with two output channels per group sends its error to the right input channels', () => {
    const model = sequential(
      new Conv2d(1, 2, 1, { seed: 1, dtype: 'float64' }),
      new Conv2d(2, 4, 1, { groups: 2, seed: 2, dtype: 'float64' }),
      new Flatten(),
      new Dense(16, 1, { seed: 3, dtype: 'float64' }),
    );
    const report = checkBackprop(model, f64([1, -2, 0.5, 3], [1, 1, 2, 2]), f64([1], [1, 1]), 'mse', { raise: false });
    expect(report.ok).toBe(true);
    for (const row of report.rows) expect(row.delta).toBeLessThan(1e-12);
  });

  it('a layer object without a constructor is called a Module in the refusal', () => {
    const bare: Module = Object.assign(Object.create(null) as object, { parameters: () => ({}), forward: (x: Tensor) => x });
    const model = sequential({ bare, flat: new Flatten() });
    const run = () => manualBackprop(model, f64([1], [1, 1, 1, 1]), f64([1], [1, 1]), 'mse');
    expect(run).toThrow(UnsupportedLayerError);
    expect(run).toThrow(/^manualBackprop: layer 'bare' \(Module\) has no hand-derived backprop; supported: Conv2d/);
  });

  it("a max pool's output is core's bit for bit: the first of tied maxima wins, so [−0, 0, 0, 0] pools to −0", () => {
    const X = f64([-0, 0, 0, 0], [1, 1, 2, 2]);
    const result = manualBackprop(sequential(new MaxPool2d(2), new Flatten()), X, f64([0], [1, 1]), 'mse');
    const pooled = result.stages[0].output.data[0];
    expect(Object.is(pooled, -0)).toBe(true);
    expect(Object.is(pooled, maxPool2d(X, { kernelSize: 2 }).data[0])).toBe(true);
  });

  it('Dropout with p = 0 is accepted in training mode and passes the error through unchanged', () => {
    const build = (withDropout: boolean) => {
      const conv = new Conv2d(1, 1, 1, { seed: 1, dtype: 'float64' });
      conv.W.assign([2]);
      conv.b!.assign([0.5]);
      const dense = new Dense(4, 1, { seed: 1, dtype: 'float64' });
      dense.W.assign([1, -1, 2, -2]);
      dense.b.assign([0]);
      return sequential(...(withDropout ? [conv, new Dropout(0), new Flatten(), dense] : [conv, new Flatten(), dense]));
    };
    const X = f64([1, 2, 3, 4], [1, 1, 2, 2]);
    const Y = f64([1], [1, 1]);
    const withDropout = build(true);
    expect(withDropout.layers[1]).toBeInstanceOf(Dropout);
    expect((withDropout.layers[1] as Dropout).training).toBe(true);
    const got = manualBackprop(withDropout, X, Y, 'mse');
    // Z = [2.5, 4.5, 6.5, 8.5], ŷ = 2.5 − 4.5 + 13 − 17 = −6, C = ½(−7)² = 24.5, δ = −7
    expect(got.cost).toBe(24.5);
    expect(got.stages[1].kind).toBe('Dropout');
    expect(values(got.stages[1].delta)).toEqual([-7, 7, -14, 14]);
    expect(values(got.stages[0].delta)).toEqual([-7, 7, -14, 14]);
    expect(values(got.dX)).toEqual([-14, 14, -28, 28]);
    const without = manualBackprop(build(false), X, Y, 'mse');
    const conv = got.stages[0], plain = without.stages[0];
    expect(conv.kind === 'Conv2d' && plain.kind === 'Conv2d' && [values(conv.dK), values(plain.dK)]).toEqual([[21], [21]]); // Σ δ·x = −7 + 14 − 42 + 56
  });

  it('refuses pool padding beyond half the kernel on either axis', () => {
    const X = f64(new Array(16).fill(1), [1, 1, 4, 4]);
    for (const padding of [[2, 0], [0, 2]] as [number, number][]) {
      for (const pool of [new MaxPool2d(2, { padding }), new AvgPool2d(2, { padding })]) {
        const run = () => manualBackprop(sequential(pool, new Flatten()), X, f64([0], [1, 1]), 'mse');
        expect(run).toThrow(ValueError);
        expect(run).toThrow(`manualBackprop: layer '0': padding [${padding}] must be at most half the kernel size [2,2]`);
      }
    }
  });

  it('a Dense layer fed images, or a matrix with the wrong number of features, is a ShapeError', () => {
    const conv = new Conv2d(1, 1, 1, { seed: 1, dtype: 'float64' });
    // images [2,1,1,1] whose first axis happens to equal the Dense's 2 inputs
    const images = () => manualBackprop(sequential(conv, new Dense(2, 1, { seed: 1, dtype: 'float64' })), f64([1, 2], [2, 1, 1, 1]), f64([0, 0], [1, 2]), 'mse');
    expect(images).toThrow(ShapeError);
    expect(images).toThrow("manualBackprop: layer '1' (Dense) expects [2, M] (features × examples; a Flatten before it turns images into that), got [2,1,1,1]");
    const matrix = () => manualBackprop(sequential(new ReLU(), new Dense(3, 1, { seed: 1, dtype: 'float64' })), f64([1, 2, 3, 4], [2, 2]), f64([0, 0], [1, 2]), 'mse');
    expect(matrix).toThrow("manualBackprop: layer '1' (Dense) expects [3, M] (features × examples; a Flatten before it turns images into that), got [2,2]");
  });

  it('a Flatten fed a matrix [M, F] turns it into [F, M], as the layer does', () => {
    const dense = new Dense(3, 1, { seed: 1, dtype: 'float64' });
    dense.W.assign([1, 2, 3]);
    dense.b.assign([0]);
    const model = sequential(new Flatten(), dense);
    // two examples as rows: ŷ = [1·1 + 2·0 + 3·1, 1·0 + 2·1 + 3·0] = [4, 2]; C = ((4−1)² + (2−1)²)/(2·2) = 2.5
    const result = manualBackprop(model, f64([1, 0, 1, 0, 1, 0], [2, 3]), f64([1, 1], [1, 2]), 'mse');
    expect(result.cost).toBe(2.5);
    expect(result.stages[0].output.shape).toEqual([3, 2]);
    expect(result.dX.shape).toEqual([2, 3]);
    expect(values(result.dX)).toEqual([1.5, 3, 4.5, 0.5, 1, 1.5]); // δ = [3, 1]/2, each row δ_m·w
    // (batchMean off: checkBackprop's per-example split reads a matrix X as [features, M])
    expect(checkBackprop(model, f64([1, 0, 1, 0, 1, 0], [2, 3]), f64([1, 1], [1, 2]), 'mse', { raise: false, batchMean: false }).ok).toBe(true);
  });

  it("targets that do not match the output's rows, columns or rank are a ShapeError naming both", () => {
    const X = f64([1, 2, 3, 4], [1, 1, 2, 2]);
    const flat = sequential(new ReLU(), new Flatten());
    expect(() => manualBackprop(flat, X, f64([0, 0, 0], [3, 1]), 'mse')).toThrow('manualBackprop: Y is [3,1] but the output is [4,1]');
    expect(() => manualBackprop(flat, X, f64(new Array(8).fill(0), [4, 2]), 'mse')).toThrow('manualBackprop: Y is [4,2] but the output is [4,1]');
    const images = () => manualBackprop(sequential(new ReLU()), X, f64([0, 0], [1, 2]), 'mse');
    expect(images).toThrow(ShapeError);
    expect(images).toThrow('manualBackprop: Y is [1,2] but the output is [1,1,2,2]');
    // images [1, 2, 1, 1] hold as many numbers as Y [1, 2], and their first two axes match it
    expect(() => manualBackprop(sequential(new ReLU()), f64([1, 2], [1, 2, 1, 1]), f64([0, 0], [1, 2]), 'mse'))
      .toThrow('manualBackprop: Y is [1,2] but the output is [1,2,1,1]');
  });

  it("a CNN's result lists its Dense stages as layers, the same tensors", () => {
    const model = sequential(
      new Conv2d(1, 1, 1, { seed: 1, dtype: 'float64' }), new Flatten(),
      new Dense(4, 2, { seed: 2, dtype: 'float64', activation: 'tanh' }), new Dense(2, 1, { seed: 3, dtype: 'float64' }),
    );
    const result = manualBackprop(model, f64([1, -2, 0.5, 3], [1, 1, 2, 2]), f64([1], [1, 1]), 'mse');
    const dense = result.stages.filter((s) => s.kind === 'Dense');
    expect(dense).toHaveLength(2);
    expect(result.layers).toHaveLength(2);
    result.layers.forEach((layer, i) => {
      const stage = dense[i];
      if (stage.kind !== 'Dense') throw new Error('not a Dense stage');
      expect(Object.keys(layer).sort()).toEqual(['a', 'dW', 'db', 'delta', 'z']);
      expect([layer.z, layer.a, layer.delta, layer.dW, layer.db]).toEqual([stage.z, stage.a, stage.delta, stage.dW, stage.db]);
      expect(layer.dW).toBe(stage.dW);
    });
    expect(result.layers[0].dW.shape).toEqual([2, 4]);
    expect(result.layers[1].dW.shape).toEqual([1, 2]);
  });

  it("the kink signature: each relu unit on or off (Dense relu, ReLU layers), each max-pool window's winners, one part per layer", () => {
    const conv = new Conv2d(1, 1, 1, { seed: 1, dtype: 'float64' });
    conv.W.assign([1]);
    conv.b!.assign([0]);
    const hidden = new Dense(2, 3, { seed: 2, dtype: 'float64', activation: 'relu' });
    hidden.W.assign([1, 0, 0, 1, -1, 0]); // z = [x₁, x₂, −x₁] for the two pooled values
    hidden.b.assign([0, 0, 0]);
    const head = new Dense(3, 1, { seed: 3, dtype: 'float64' });
    head.W.assign([1, 1, 1]);
    head.b.assign([0]);
    const model = sequential(conv, new ReLU(), new MaxPool2d(2), new Flatten(), hidden, head);
    // the ReLU sees rows [1, 0, 3, −4] and [2, 2, −1, 0]: on where > 0; the pool's left window
    // [1, 0; 2, 2] ties between elements 4 and 5, its right one [3, 0; 0, 0] is won by 2;
    // pooled [2, 3], hidden z = [2, 3, −2]: on, on, off
    const X = f64([1, 0, 3, -4, 2, 2, -1, 0], [1, 1, 2, 4]);
    const { cost, kinks } = manualCostAndKinks(model, X, f64([1], [1, 1]), 'mse');
    expect(kinks).toBe('|10101100|4,5,-1,2,-1||110|');
    expect(cost).toBe(8); // ŷ = 2 + 3 + 0 = 5, C = ½(5 − 1)²
    // a unit exactly at 0 counts as off in a Dense relu too
    hidden.W.assign([1, 0, 0, 0, -1, 0]);
    expect(manualCostAndKinks(model, X, f64([1], [1, 1]), 'mse').kinks).toBe('|10101100|4,5,-1,2,-1||100|');
  });
});
