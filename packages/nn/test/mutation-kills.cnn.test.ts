/**
 * Tests written for the mutants of nn/src/manual/cnn.ts that survived (or were not reached
 * by) a StrykerJS run against the manual backprop tests (docs/mutation.md).
 */
import { tensor, type Tensor } from '@tapegrad/core';
import { AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, type Module, UnsupportedLayerError, checkBackprop, manualBackprop, sequential } from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

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
});
