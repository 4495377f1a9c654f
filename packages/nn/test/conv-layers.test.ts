import { type Tensor, ShapeError, Tape, conv2d, randn, reshape, sum, tensor, transpose } from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';
import {
  AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, type Module, SGD, categoricalCrossEntropyFromLogits, fans, initTensor, sequential,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

/** f(x, ...params) running `layer.forward(x)` with the named parameter fields replaced, for gradcheck. */
function withParameters(layer: Module, names: readonly string[]): (x: Tensor, ...ps: Tensor[]) => Tensor {
  return (x, ...ps) => {
    const clone = Object.create(layer) as Module;
    names.forEach((name, i) => Object.defineProperty(clone, name, { value: ps[i] }));
    return clone.forward(x);
  };
}

/** A few SGD steps on a fixed batch; returns the loss before each step. */
function trainSteps(model: Module, x: Tensor, y: Tensor, steps: number, lr: number): number[] {
  const named = model.parameters();
  const params = Object.values(named);
  const optimizer = new SGD({ lr });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const tape = new Tape();
    const loss = tape.record(() => categoricalCrossEntropyFromLogits(model.forward(x), y));
    losses.push(loss.item());
    optimizer.step(params, tape.gradient(loss, params));
  }
  return losses;
}

describe('fans and initTensor', () => {
  it('take a conv kernel [O, C/groups, kH, kW] over its receptive field, as PyTorch', () => {
    expect(fans([5, 3])).toEqual({ fanIn: 3, fanOut: 5 });
    expect(fans([8, 2, 3, 5])).toEqual({ fanIn: 2 * 3 * 5, fanOut: 8 * 3 * 5 });
    expect(() => fans([4])).toThrow('init: a weight needs at least two positive axes');
    const w = initTensor('heNormal', [64, 16, 5, 5], { seed: 1, dtype: 'float64' });
    expect(w.shape).toEqual([64, 16, 5, 5]);
    let sq = 0;
    for (const v of w.data) sq += v * v;
    // 25,600 draws: the sample std is within a few % of √(2 / 400)
    expect(Math.sqrt(sq / w.size) / Math.sqrt(2 / 400)).toBeCloseTo(1, 1);
  });
});

describe('Conv2d', () => {
  it('has a kernel [O, C/groups, kH, kW] and a bias [O], named W and b', () => {
    const conv = new Conv2d(4, 6, [3, 2], { groups: 2, seed: 1 });
    expect(conv.W.shape).toEqual([6, 2, 3, 2]);
    expect(Object.keys(conv.parameters())).toEqual(['W', 'b']);
    expect(conv.parameters().b.shape).toEqual([6]);
    expect(Object.keys(new Conv2d(1, 2, 3, { bias: false, seed: 1 }).parameters())).toEqual(['W']);
  });

  it('computes conv2d(x, W) plus the bias of each output channel', () => {
    const conv = new Conv2d(1, 2, 2, { init: { constant: 1 }, dtype: 'float64' });
    conv.b!.assign([0.5, -1]);
    const x = reshape(tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], { dtype: 'float64' }), [1, 1, 3, 3]);
    // each 2×2 window sums to 12, 16, 24, 28
    expect(conv.forward(x).toFlatArray()).toEqual([12.5, 16.5, 24.5, 28.5, 11, 15, 23, 27]);
    const strided = new Conv2d(1, 1, 3, { stride: 2, padding: 1, dilation: 1, seed: 2, dtype: 'float64' });
    expect(strided.forward(x).shape).toEqual([1, 1, 2, 2]);
    expect(strided.forward(x).toFlatArray()).toEqual(conv2d(x, strided.W, { stride: 2, padding: 1 }).toFlatArray());
  });

  it('has exact gradients in x, W and b (order 2, float64), with stride, padding, dilation and groups', () => {
    const conv = new Conv2d(4, 2, 2, { stride: [1, 2], padding: 1, dilation: [2, 1], groups: 2, seed: 3, dtype: 'float64' });
    conv.b!.assign([0.1, -0.2]);
    const x = randn([2, 4, 4, 5], { seed: 4, dtype: 'float64' });
    const report = gradcheck(withParameters(conv, ['W', 'b']), [x, conv.W, conv.b!], { order: 2 });
    expect(report.ok).toBe(true);
  });

  it('refuses a bad configuration or input, naming the shapes', () => {
    expect(() => new Conv2d(3, 4, 3, { groups: 2 })).toThrow('Conv2d: inChannels 3 and outChannels 4 must both be divisible by groups 2');
    expect(() => new Conv2d(0, 4, 3)).toThrow(ShapeError);
    expect(() => new Conv2d(1, 4, [3, 0], { seed: 1 })).toThrow('Conv2d: kernelSize must be a positive integer or a pair of them, got [3,0]');
    expect(() => new Conv2d(3, 4, 3, { seed: 1 }).forward(randn([1, 2, 5, 5], { seed: 1 }))).toThrow('Conv2d: expects images [N, 3, H, W], got [1,2,5,5]');
    expect(() => new Conv2d(1, 4, 3)).toThrow(/needs a seed or an rng/);
  });
});

describe('MaxPool2d and AvgPool2d', () => {
  const x = reshape(tensor(Array.from({ length: 16 }, (_, i) => i), { dtype: 'float64' }), [1, 1, 4, 4]);

  it('pool windows of the image, with no parameters', () => {
    expect(new MaxPool2d(2).forward(x).toFlatArray()).toEqual([5, 7, 13, 15]);
    expect(new AvgPool2d(2).forward(x).toFlatArray()).toEqual([2.5, 4.5, 10.5, 12.5]);
    expect(new MaxPool2d(3, { stride: 1 }).forward(x).toFlatArray()).toEqual([10, 11, 14, 15]);
    expect(new AvgPool2d(3, { stride: 3, padding: 1, countIncludePad: false }).forward(x).shape).toEqual([1, 1, 2, 2]);
    expect(new MaxPool2d(2).parameters()).toEqual({});
    expect(() => new MaxPool2d(2).forward(tensor([[1, 2]]))).toThrow('MaxPool2d: expects images [N, C, H, W], got [1,2]');
  });

  it('have exact gradients (order 2, float64)', () => {
    // distinct values: max pooling has no ties, so finite differences see one smooth piece
    const input = randn([2, 2, 5, 4], { seed: 5, dtype: 'float64' });
    expect(gradcheck((t) => new MaxPool2d(2, { stride: 1, padding: 1 }).forward(t), [input], { order: 2 }).ok).toBe(true);
    expect(gradcheck((t) => new AvgPool2d([2, 3], { stride: 2 }).forward(t), [input], { order: 2 }).ok).toBe(true);
  });
});

describe('Flatten', () => {
  it('hands Dense [C·H·W, N]: one example per column, in channel, row, column order', () => {
    const x = reshape(tensor(Array.from({ length: 24 }, (_, i) => i)), [2, 3, 2, 2]);
    const flat = new Flatten().forward(x);
    expect(flat.shape).toEqual([12, 2]);
    // column n is the row-major flattening of x[n]
    expect(transpose(flat, [1, 0]).toArray()).toEqual([
      Array.from({ length: 12 }, (_, i) => i),
      Array.from({ length: 12 }, (_, i) => 12 + i),
    ]);
    expect(() => new Flatten().forward(tensor([1, 2]))).toThrow('Flatten: expects a batch [N, …] of rank 2 or more, got [2]');
  });

  it('has exact gradients (order 2, float64)', () => {
    const x = randn([2, 2, 3, 2], { seed: 6, dtype: 'float64' });
    expect(gradcheck((t) => new Flatten().forward(t), [x], { order: 2 }).ok).toBe(true);
  });
});

describe('a CNN as a Sequential of Conv2d, pooling, Flatten and Dense', () => {
  it('names its parameters, runs end to end with no transpose by hand, and trains', () => {
    const model = sequential(
      new Conv2d(1, 4, 3, { padding: 1, seed: 1, dtype: 'float64' }),
      new MaxPool2d(2),
      new Conv2d(4, 6, 3, { seed: 2, dtype: 'float64' }),
      new AvgPool2d(2),
      new Flatten(),
      new Dense(6, 3, { seed: 3, dtype: 'float64' }),
    );
    expect(Object.keys(model.parameters())).toEqual(['0.W', '0.b', '2.W', '2.b', '5.W', '5.b']);
    const x = randn([8, 1, 8, 8], { seed: 7, dtype: 'float64' });
    // one-hot targets [3, 8]: example n is of class n mod 3
    const y = tensor(Array.from({ length: 3 }, (_, c) => Array.from({ length: 8 }, (_, n) => (n % 3 === c ? 1 : 0))), { dtype: 'float64' });
    expect(model.forward(x).shape).toEqual([3, 8]);
    const losses = trainSteps(model, x, y, 15, 0.1);
    expect(losses.at(-1)!).toBeLessThan(0.8 * losses[0]);
  });

  it('has exact gradients through the whole stack (order 2, float64)', () => {
    const conv = new Conv2d(2, 2, 2, { seed: 8, dtype: 'float64' });
    const dense = new Dense(8, 2, { seed: 9, dtype: 'float64' });
    const f = (x: Tensor, w: Tensor, b: Tensor, wd: Tensor) => {
      const c = withParameters(conv, ['W', 'b']);
      const d = withParameters(dense, ['W']);
      return sum(d(new Flatten().forward(new MaxPool2d(2).forward(c(x, w, b))), wd));
    };
    const x = randn([2, 2, 5, 5], { seed: 10, dtype: 'float64' });
    expect(gradcheck(f, [x, conv.W, randn([2], { seed: 11, dtype: 'float64' }), dense.W], { order: 2 }).ok).toBe(true);
  });
});
