import { ShapeError, type Tensor, ValueError, randn, tensor } from '@tapegrad/core';
import {
  AvgPool2d, BatchNorm2d, Conv2d, Dense, Dropout, Flatten, GELU, MaxPool2d, ReLU, Sigmoid, Tanh, UnsupportedLayerError,
  checkBackprop, formatBackpropTable, manualBackprop, sequential,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

const f64 = (values: number[], shape: number[]) => tensor(values, { shape, dtype: 'float64' });
const values = (t: Tensor) => Array.from(t.data);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** One 3×3 kernel K[p,q] = 3p + q + 1 = [[1,2,3],[4,5,6],[7,8,9]], no bias, and a Dense head reading Z through weights w. */
function convThenDense(size: number, stride: number, w: number[]) {
  const conv = new Conv2d(1, 1, 3, { seed: 1, stride, bias: false, dtype: 'float64' });
  conv.W.assign(range(9).map((i) => i + 1));
  const out = Math.floor((size - 3) / stride) + 1;
  const dense = new Dense(out * out, 1, { seed: 1, dtype: 'float64' });
  dense.W.assign(w);
  dense.b.assign([0]);
  return sequential({ conv, flat: new Flatten(), fc: dense });
}

describe('hand-derived CNN backprop, by hand', () => {
  it('a 1×1 image through a 1×1 conv: every number is one multiplication', () => {
    // Z = 2·3 + 0.5 = 6.5, ŷ = −Z = −6.5, C = ½(ŷ − 1)² = 28.125
    const conv = new Conv2d(1, 1, 1, { seed: 1, dtype: 'float64' });
    conv.W.assign([2]);
    conv.b!.assign([0.5]);
    const dense = new Dense(1, 1, { seed: 1, dtype: 'float64' });
    dense.W.assign([-1]);
    const model = sequential({ conv, flat: new Flatten(), fc: dense });
    const result = manualBackprop(model, f64([3], [1, 1, 1, 1]), f64([1], [1, 1]), 'mse');
    expect(result.cost).toBe(28.125);
    const [c, flat, fc] = result.stages;
    expect(values(fc.delta)).toEqual([-7.5]); // BP1: ŷ − y
    expect(fc.kind === 'Dense' && [values(fc.dW), values(fc.db)]).toEqual([[-48.75], [-7.5]]); // Δ·Zᵀ, Δ
    expect(values(flat.delta)).toEqual([7.5]); // Wᵀ Δ
    expect(c.kind).toBe('Conv2d');
    if (c.kind !== 'Conv2d') return;
    expect(values(c.delta)).toEqual([7.5]);
    expect(values(c.dK)).toEqual([22.5]); // Δ·x
    expect(values(c.db!)).toEqual([7.5]); // Σ Δ
    expect(values(result.dX)).toEqual([15]); // K·Δ
    expect(c.dK.shape).toEqual([1, 1, 1, 1]);
  });

  it('a 3×3 kernel on a 4×4 image: ∂C/∂K is the input correlated with Δ, ∂C/∂X the kernel placed back by Δ', () => {
    // X[h,w] = 4h + w, so Z[i,j] = 45·(4i + j) + 303 = [[303, 348], [483, 528]];
    // ŷ = Z₀₀ + 2·Z₁₁ = 1359 and y = 1358 make Δᴸ = 1, so the conv's Δ = [[1, 0], [0, 2]]
    const model = convThenDense(4, 1, [1, 0, 0, 2]);
    const result = manualBackprop(model, f64(range(16), [1, 1, 4, 4]), f64([1358], [1, 1]), 'mse');
    const conv = result.stages[0];
    if (conv.kind !== 'Conv2d') throw new Error('expected a Conv2d stage');
    expect(values(conv.z)).toEqual([303, 348, 483, 528]);
    expect(result.cost).toBe(0.5);
    expect(values(conv.delta)).toEqual([1, 0, 0, 2]);
    // BP3-conv: X[0:3, 0:3] + 2·X[1:4, 1:4]
    expect(values(conv.dK)).toEqual([10, 13, 16, 22, 25, 28, 34, 37, 40]);
    expect(conv.db).toBeNull();
    // BP2-conv: the full convolution of Δ with the flipped kernel is K at (0,0) plus 2K at (1,1)
    expect(values(result.dX)).toEqual([
      1, 2, 3, 0,
      4, 7, 10, 6,
      7, 16, 19, 12,
      0, 14, 16, 18,
    ]);
  });

  it('stride 2: the error is dilated before the full convolution, so the kernel lands two pixels apart', () => {
    // X[h,w] = 5h + w on 5×5: Z = [[366, 456], [816, 906]]; ŷ = Z₀₀ + 2·Z₁₁ = 2178, y = 2177
    const model = convThenDense(5, 2, [1, 0, 0, 2]);
    const result = manualBackprop(model, f64(range(25), [1, 1, 5, 5]), f64([2177], [1, 1]), 'mse');
    const conv = result.stages[0];
    if (conv.kind !== 'Conv2d') throw new Error('expected a Conv2d stage');
    expect(values(conv.z)).toEqual([366, 456, 816, 906]);
    // X[0:3, 0:3] + 2·X[2:5, 2:5]
    expect(values(conv.dK)).toEqual([24, 27, 30, 39, 42, 45, 54, 57, 60]);
    // K at (0,0) plus 2K at (2,2): they overlap at (2,2), 9 + 2·1 = 11
    expect(values(result.dX)).toEqual([
      1, 2, 3, 0, 0,
      4, 5, 6, 0, 0,
      7, 8, 11, 4, 6,
      0, 0, 8, 10, 12,
      0, 0, 14, 16, 18,
    ]);
  });

  it('agrees with central finite differences and the tape on a 3×3 kernel over a 4×4 image with padding', () => {
    const conv = new Conv2d(2, 2, 3, { padding: 1, seed: 1, dtype: 'float64' });
    conv.b!.assign([0.3, -0.2]);
    const model = sequential(conv, new Tanh(), new Flatten(), new Dense(32, 3, { activation: 'softmax', seed: 2, dtype: 'float64' }));
    const X = randn([2, 2, 4, 4], { seed: 3, dtype: 'float64' });
    const Y = f64([1, 0, 0, 0, 0, 1], [3, 2]);
    const report = checkBackprop(model, X, Y, 'cce', { raise: false });
    expect(report.message).toBe('ok: 4 layers agree (tape = hand-derived CNN backprop and BP1–BP4 = augmented form = finite differences)');
    expect(report.rows.map((r) => [r.name, r.kind])).toEqual([['0', 'Conv2d'], ['1', 'Tanh'], ['2', 'Flatten'], ['3', 'Dense']]);
    expect(report.rows[0].finiteDifference).toBeLessThan(1e-8);
    expect(report.rows[0].finiteDifferenceSkipped).toBe(0);
    for (const row of report.rows) expect(row.delta).toBeLessThan(1e-14);
    // the rows without parameters say so
    expect([report.rows[1].dW, report.rows[1].db, report.rows[1].finiteDifference, report.rows[0].augmented]).toEqual([NaN, NaN, NaN, NaN]);
  });

  it('GELU and Sigmoid layers, a dilated max pool, groups, dilation and \'same\' padding with an even extent agree with the tape', () => {
    const model = sequential({
      conv1: new Conv2d(2, 4, [2, 3], { padding: 'same', dilation: [1, 2], seed: 1, dtype: 'float64' }), gelu: new GELU(),
      pool: new MaxPool2d(2, { stride: 1, dilation: 2 }),
      conv2: new Conv2d(4, 2, 2, { groups: 2, stride: 2, seed: 2, dtype: 'float64' }), sigmoid: new Sigmoid(),
      flat: new Flatten(), fc: new Dense(8, 2, { activation: 'sigmoid', seed: 3, dtype: 'float64' }),
    });
    for (const p of Object.values(model.parameters())) if (p.rank === 1) p.assign(randn(p.shape, { seed: 4, dtype: 'float64' }));
    const report = checkBackprop(model, randn([3, 2, 6, 6], { seed: 5, dtype: 'float64' }), f64([1, 0, 1, 0, 1, 1], [2, 3]), 'bce', { raise: false });
    expect(report.message).toBe('ok: 7 layers agree (tape = hand-derived CNN backprop and BP1–BP4 = augmented form = finite differences)');
    expect(report.bp1).toBe('sigmoid+bce');
    for (const row of report.rows) expect(row.delta).toBeLessThan(1e-14);
  });

  it('max pool routes the error to the maximum, and ties share it as core\'s maxPool2d does', () => {
    // window [[1, 3], [3, 2]]: the two 3s tie and get half of Δ = ŷ − y = 3 − 2 = 1 each
    const dense = new Dense(1, 1, { seed: 1, dtype: 'float64' });
    dense.W.assign([1]);
    const model = sequential(new MaxPool2d(2), new Flatten(), dense);
    const result = manualBackprop(model, f64([1, 3, 3, 2], [1, 1, 2, 2]), f64([2], [1, 1]), 'mse');
    expect(values(result.stages[0].output)).toEqual([3]);
    expect(values(result.dX)).toEqual([0, 0.5, 0.5, 0]);
    expect(checkBackprop(model, f64([1, 3, 3, 2], [1, 1, 2, 2]), f64([2], [1, 1]), 'mse', { raise: false }).ok).toBe(true);
  });

  it('average pool spreads the error evenly, padding counted in the divisor or not (countIncludePad)', () => {
    // a 2×2 image, 2×2 windows with stride 2 and padding 1: each window holds one pixel
    const X = f64([1, 2, 3, 4], [1, 1, 2, 2]);
    for (const [countIncludePad, share] of [[true, 0.25], [false, 1]] as const) {
      const dense = new Dense(4, 1, { seed: 1, dtype: 'float64' });
      dense.W.assign([1, 1, 1, 1]);
      const model = sequential(new AvgPool2d(2, { padding: 1, countIncludePad }), new Flatten(), dense);
      const y = countIncludePad ? 2.5 - 1 : 10 - 1; // Δᴸ = 1
      const result = manualBackprop(model, X, f64([y], [1, 1]), 'mse');
      expect(values(result.stages[0].output)).toEqual([1, 2, 3, 4].map((v) => v * share));
      expect(values(result.dX)).toEqual([share, share, share, share]);
    }
  });

  it('Flatten is a reshape of Δ: feature (c·H + h)·W + w of column m is pixel [m, c, h, w]', () => {
    const dense = new Dense(8, 1, { seed: 1, dtype: 'float64' });
    dense.W.assign(range(8));
    const model = sequential(new Flatten(), dense);
    const X = randn([3, 2, 2, 2], { seed: 1, dtype: 'float64' });
    const result = manualBackprop(model, X, f64([0, 0, 0], [1, 3]), 'mse');
    const flatDelta = result.stages[0].delta; // [8, 3]
    expect(flatDelta.shape).toEqual([8, 3]);
    for (let m = 0; m < 3; m++) {
      for (let f = 0; f < 8; f++) expect(result.dX.data[m * 8 + f]).toBe(flatDelta.data[f * 3 + m]);
    }
  });

  it('weight decay adds λK to ∂C/∂K and (λ/2)‖K‖² to the cost, as it does for Dense weights', () => {
    const conv = new Conv2d(1, 2, 2, { seed: 4, dtype: 'float64' });
    const model = sequential(conv, new ReLU(), new Flatten(), new Dense(8, 2, { seed: 5, dtype: 'float64' }));
    const X = randn([2, 1, 3, 3], { seed: 6, dtype: 'float64' });
    const Y = randn([2, 2], { seed: 7, dtype: 'float64' });
    const plain = manualBackprop(model, X, Y, 'mse');
    const decayed = manualBackprop(model, X, Y, 'mse', { l2: 0.1 });
    const [before, after] = [plain.stages[0], decayed.stages[0]];
    if (before.kind !== 'Conv2d' || after.kind !== 'Conv2d') throw new Error('expected Conv2d stages');
    after.dK.data.forEach((v, i) => expect(v).toBeCloseTo(before.dK.data[i] + 0.1 * conv.W.data[i], 14));
    const squares = [...conv.W.data, ...model.parameters()['3.W'].data].reduce((s, w) => s + w * w, 0);
    expect(decayed.cost).toBeCloseTo(plain.cost + 0.05 * squares, 14);
  });

  it('float32 networks agree to float32 precision', () => {
    const model = sequential(new Conv2d(1, 2, 3, { seed: 1 }), new ReLU(), new MaxPool2d(2), new Flatten(), new Dense(2, 2, { activation: 'softmax', seed: 2 }));
    const X = randn([2, 1, 4, 4], { seed: 3 });
    const Y = tensor([[1, 0], [0, 1]], { dtype: 'float32' });
    const report = checkBackprop(model, X, Y, 'cce');
    expect(report.message).toBe('ok: 5 layers agree (tape = hand-derived CNN backprop and BP1–BP4 = augmented form)');
    for (const row of report.rows) expect(row.delta).toBeLessThan(1e-6);
  });
});

describe('hand-derived CNN backprop refuses what it has no equations for', () => {
  const X = randn([2, 1, 4, 4], { seed: 1, dtype: 'float64' });
  const Y = f64([1, 0], [1, 2]);
  const head = () => [new Flatten(), new Dense(16, 1, { seed: 2, dtype: 'float64' })];

  it('BatchNorm: an UnsupportedLayerError naming the layer', () => {
    const model = sequential({ bn: new BatchNorm2d(1, { dtype: 'float64' }), flat: new Flatten(), fc: new Dense(16, 1, { seed: 1, dtype: 'float64' }) });
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow(UnsupportedLayerError);
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow(/^manualBackprop: layer 'bn' \(BatchNorm2d\) has no hand-derived backprop; supported: Conv2d/);
    expect(() => checkBackprop(model, X, Y, 'mse')).toThrow(UnsupportedLayerError);
    try {
      manualBackprop(model, X, Y, 'mse');
    } catch (e) {
      expect(e).toBeInstanceOf(ValueError);
      expect((e as UnsupportedLayerError).layer).toBe('bn');
    }
  });

  it('Dropout in training mode (its mask is random), but not in evaluation mode, where it is the identity', () => {
    const model = sequential(new Dropout(0.5, { seed: 1 }), ...head());
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow("manualBackprop: layer '0' (Dropout, p = 0.5) is in training mode: its random mask is not part of the hand derivation; call model.eval() first");
    model.eval();
    expect(checkBackprop(model, X, Y, 'mse', { raise: false }).ok).toBe(true);
  });

  it('images of the wrong shape, and a Dense layer fed images', () => {
    const model = sequential(new Conv2d(3, 1, 3, { seed: 1, dtype: 'float64' }), ...head());
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow(ShapeError);
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow("manualBackprop: layer '0' (Conv2d) expects images [M, 3, H, W], got [2,1,4,4]");
    const noFlatten = sequential(new Conv2d(1, 1, 3, { seed: 1, dtype: 'float64' }), new Dense(4, 1, { seed: 1, dtype: 'float64' }));
    expect(() => manualBackprop(noFlatten, X, Y, 'mse')).toThrow("manualBackprop: layer '1' (Dense) expects [4, M] (features × examples; a Flatten before it turns images into that), got [2,1,2,2]");
  });

  it('pool padding beyond half the kernel, and \'same\' padding with a stride, as core refuses them', () => {
    expect(() => manualBackprop(sequential(new MaxPool2d(2, { padding: 2 }), ...head()), X, Y, 'mse')).toThrow("manualBackprop: layer '0': padding [2,2] must be at most half the kernel size [2,2]");
    const strided = sequential(new Conv2d(1, 1, 3, { padding: 'same', stride: 2, seed: 1, dtype: 'float64' }), ...head());
    expect(() => manualBackprop(strided, X, Y, 'mse')).toThrow("manualBackprop: layer '0': padding 'same' needs stride 1, got stride [2,2]");
  });

  it('targets that do not match the output', () => {
    const model = sequential(new Conv2d(1, 1, 3, { seed: 1, dtype: 'float64' }), ...head().slice(0, 1), new Dense(4, 2, { seed: 1, dtype: 'float64' }));
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow('manualBackprop: Y is [1,2] but the output is [2,2]');
  });

  it('parameters of another dtype than the images', () => {
    const model = sequential(new Conv2d(1, 1, 3, { seed: 1 }), ...head());
    expect(() => manualBackprop(model, X, Y, 'mse')).toThrow("manualBackprop: X is float64 but parameter '0.W' is float32");
  });
});

describe('checkBackprop on a CNN', () => {
  it('names the layer and the equation of every comparison that fails, and only of those that apply', () => {
    const model = sequential({ conv: new Conv2d(1, 1, 2, { bias: false, seed: 1, dtype: 'float64' }), relu: new ReLU(), flat: new Flatten(), fc: new Dense(9, 1, { seed: 2, dtype: 'float64' }) });
    // a negative tolerance fails every comparison that is made
    const report = checkBackprop(model, randn([1, 1, 4, 4], { seed: 3, dtype: 'float64' }), f64([1], [1, 1]), 'mse', { atol: -1, fdAtol: -1, raise: false });
    expect(report.ok).toBe(false);
    const failures = report.message.replace(/^checkBackprop: /, '').split('; ').map((f) => f.replace(/ differ by .*$/, ''));
    expect(failures).toEqual([
      "layer 1 ('conv', Conv2d): tape vs Δ = ∂C/∂Z",
      "layer 1 ('conv', Conv2d): tape vs BP3-conv ∂C/∂K",
      "layer 1 ('conv', Conv2d): tape vs finite differences",
      "layer 2 ('relu', ReLU): tape vs Δ = ∂C/∂(output)",
      "layer 3 ('flat', Flatten): tape vs Δ = ∂C/∂(output)",
      "layer 4 ('fc', Dense): tape vs BP1/BP2 Δ",
      "layer 4 ('fc', Dense): tape vs BP3 ∂C/∂W",
      "layer 4 ('fc', Dense): tape vs BP4 ∂C/∂b",
      "layer 4 ('fc', Dense): tape vs augmented form",
      "layer 4 ('fc', Dense): tape vs finite differences",
      'batch gradient vs mean of single-example gradients',
    ]);
  });

  it('splits a batch of rows [M, F] fed to a Flatten-first network into its M examples (rows, as images [M, C, H, W])', () => {
    // Flatten reads [M, F] as M examples of F features; the per-example split must take rows, not columns
    const dense = new Dense(3, 2, { activation: 'softmax', seed: 2, dtype: 'float64' });
    const model = sequential({ flat: new Flatten(), fc: dense });
    const X = randn([4, 3], { seed: 3, dtype: 'float64' });
    const Y = f64([1, 0, 0, 1, 0, 1, 1, 0], [2, 4]);
    const report = checkBackprop(model, X, Y, 'cce', { raise: false });
    expect(report.message).toBe('ok: 2 layers agree (tape = hand-derived CNN backprop and BP1–BP4 = augmented form = finite differences)');
    expect(report.batchVsExamples).toBeLessThan(1e-14);
    // the same with a ReLU before Flatten: the first layer that is not element-wise decides
    const withRelu = sequential({ relu: new ReLU(), flat: new Flatten(), fc: dense });
    expect(checkBackprop(withRelu, X, Y, 'cce', { raise: false }).ok).toBe(true);
  });
});

describe('formatBackpropTable for a CNN', () => {
  it('prints one row per layer with its name and kind, and — where a column does not apply', () => {
    const model = sequential({
      conv: new Conv2d(1, 2, 3, { seed: 1, dtype: 'float64' }), relu: new ReLU(), pool: new MaxPool2d(2),
      flat: new Flatten(), fc: new Dense(2, 2, { activation: 'softmax', seed: 2, dtype: 'float64' }),
    });
    const report = checkBackprop(model, randn([2, 1, 4, 4], { seed: 3, dtype: 'float64' }), f64([1, 0, 0, 1], [2, 2]), 'cce');
    const lines = formatBackpropTable(report).split('\n');
    expect(lines).toHaveLength(1 + 5 + 1);
    expect(lines[0]).toMatch(/^layer\s+name\s+kind\s+Δ\s+∂C\/∂W, ∂C\/∂K\s+∂C\/∂b\s+finite diff\s+augmented$/);
    expect(lines[1]).toMatch(/^\s+1\s+conv\s+Conv2d(\s+\S+e[-+]\d+){4}\s+—$/);
    expect(lines[2]).toMatch(/^\s+2\s+relu\s+ReLU\s+\S+e[-+]\d+\s+—\s+—\s+—\s+—$/);
    expect(lines[5]).toMatch(/^\s+5\s+fc\s+Dense(\s+\S+e[-+]\d+){5}$/);
    expect(lines[6]).toMatch(/\(BP1: softmax\+cce\)$/);
  });
});
