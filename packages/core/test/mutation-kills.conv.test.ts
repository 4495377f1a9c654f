/**
 * Tests written for the mutants of core/src/ops/conv.ts and pool.ts that survived a StrykerJS
 * run (docs/mutation.md): mostly the one-sided halves of the option checks (a bound broken
 * along one axis only, a value equal to its bound) and the op and option names in messages.
 */
import { describe, expect, it } from 'vitest';
import {
  ShapeError, type Tensor, ValueError, adaptiveAvgPool2d, avgPool2d, conv1d, conv2d, convTranspose2d, fold, grad, maxPool2d, mul, sum,
  apply, tensor, unfold,
} from '@tapegrad/core';
import { channelsToImagesOp, foldOp, geometry, imagesToChannelsOp, unfoldOp, windowOf } from '../src/ops/conv.js';
import { maxPoolGatherOp, maxPoolOp, maxPoolScatterOp } from '../src/ops/pool.js';

const z = (...shape: number[]) => tensor(new Float64Array(shape.reduce((a, b) => a * b, 1)), { shape, dtype: 'float64' });
const shapeError = (op: string, detail: string) => new ShapeError(op, detail);
const valueError = (op: string, detail: string) => new ValueError(op, detail);
const sizeRule = (name: string, what: string, got: string) => `${name} must be ${what} integer or a [height, width] pair of them, got ${got}`;

describe('ops/conv.ts: sizes, strides and paddings', () => {
  const x = z(1, 1, 4, 4), w = z(1, 1, 3, 3);

  it('a size option is one integer ≥ its minimum or a pair of them: other lengths and fractions are refused', () => {
    expect(() => conv2d(x, w, { stride: [1, 1, 1] as never })).toThrow(valueError('conv2d', sizeRule('stride', 'a positive', '[1,1,1]')));
    expect(() => conv2d(x, w, { stride: [2] as never })).toThrow(valueError('conv2d', sizeRule('stride', 'a positive', '[2]')));
    expect(() => conv2d(x, w, { stride: 1.5 })).toThrow(valueError('conv2d', sizeRule('stride', 'a positive', '1.5')));
    expect(() => conv2d(x, w, { dilation: [1, 0.5] })).toThrow(valueError('conv2d', sizeRule('dilation', 'a positive', '[1,0.5]')));
  });

  it("padding 'same' needs stride 1 along each axis, not only along both", () => {
    expect(() => conv2d(x, w, { padding: 'same', stride: [1, 2] })).toThrow(valueError('conv2d', "padding 'same' needs stride 1, got stride [1,2]"));
    expect(() => conv2d(x, w, { padding: 'same', stride: [2, 1] })).toThrow(valueError('conv2d', "padding 'same' needs stride 1, got stride [2,1]"));
  });

  it('a kernel larger than the padded input along one axis only is refused; the message shows the padded size and a one-axis dilation', () => {
    expect(() => conv2d(z(1, 1, 2, 4), w)).toThrow(shapeError('conv2d', 'the kernel 3×3 is larger than the padded input 2×4: [1,1,2,4] * [1,1,3,3]'));
    expect(() => conv2d(z(1, 1, 4, 2), w)).toThrow(shapeError('conv2d', 'the kernel 3×3 is larger than the padded input 4×2: [1,1,4,2] * [1,1,3,3]'));
    expect(() => conv2d(x, w, { dilation: [1, 3] })).toThrow(shapeError('conv2d', 'the kernel 3×3 (dilated 3×7) is larger than the padded input 4×4: [1,1,4,4] * [1,1,3,3]'));
    expect(() => conv2d(x, w, { dilation: [3, 1] })).toThrow(shapeError('conv2d', 'the kernel 3×3 (dilated 7×3) is larger than the padded input 4×4: [1,1,4,4] * [1,1,3,3]'));
    expect(() => conv2d(z(1, 1, 1, 1), z(1, 1, 5, 4), { padding: [1, 1] })).toThrow(shapeError('conv2d', 'the kernel 5×4 is larger than the padded input 3×3: [1,1,1,1] * [1,1,5,4]'));
  });

  it('groups must be a positive integer: a fraction is refused', () => {
    expect(() => conv2d(x, w, { groups: 1.5 })).toThrow(valueError('conv2d', 'groups must be a positive integer, got 1.5'));
    expect(() => convTranspose2d(x, w, { groups: 0.5 })).toThrow(valueError('convTranspose2d', 'groups must be a positive integer, got 0.5'));
  });

  it('an empty kernel, along either axis, is refused by conv2d and convTranspose2d', () => {
    expect(() => conv2d(x, z(1, 1, 0, 3))).toThrow(shapeError('conv2d', 'the kernel must not be empty: [1,1,4,4] * [1,1,0,3]'));
    expect(() => conv2d(x, z(1, 1, 3, 0))).toThrow(shapeError('conv2d', 'the kernel must not be empty: [1,1,4,4] * [1,1,3,0]'));
    expect(() => convTranspose2d(z(1, 1, 2, 2), z(1, 1, 0, 2))).toThrow(shapeError('convTranspose2d', 'the kernel must not be empty: [1,1,2,2] * [1,1,0,2]'));
    expect(() => convTranspose2d(z(1, 1, 2, 2), z(1, 1, 2, 0))).toThrow(shapeError('convTranspose2d', 'the kernel must not be empty: [1,1,2,2] * [1,1,2,0]'));
  });

  it('a bias must be rank 1: [O, 1] is refused even though its length is O', () => {
    expect(() => conv2d(x, z(2, 1, 3, 3), { bias: z(2, 1) })).toThrow(shapeError('conv2d', 'bias [2,1] must be [2], one per output channel: [1,1,4,4] * [2,1,3,3]'));
  });
});

describe('ops/conv.ts: operands and names', () => {
  it("conv1d takes padding 'same' and 'valid' as conv2d does, along the length", () => {
    const x = tensor([1, 2, 3, 4], { shape: [1, 1, 4], dtype: 'float64' });
    const w = tensor([1, 10, 100], { shape: [1, 1, 3], dtype: 'float64' });
    // y[i] = x[i−1] + 10·x[i] + 100·x[i+1], x read as 0 outside
    expect(Array.from(conv1d(x, w, { padding: 'same' }).data)).toEqual([210, 321, 432, 43]);
    expect(Array.from(conv1d(x, w, { padding: 'valid' }).data)).toEqual([321, 432]);
  });

  it('conv2d and conv1d name themselves and the operand that is not a tensor, and check both ranks', () => {
    expect(() => conv2d(null as never, z(1, 1, 3, 3))).toThrow(valueError('conv2d', 'input 0 is null, not a Tensor'));
    expect(() => conv2d(z(1, 1, 4, 4), null as never)).toThrow(valueError('conv2d', 'input 1 is null, not a Tensor'));
    expect(() => conv2d(z(1, 1, 4, 4), z(1, 1, 3))).toThrow(shapeError('conv2d', 'expects an input [N, C, H, W] and a weight [O, C/groups, kH, kW], got [1,1,4,4] * [1,1,3]'));
    expect(() => conv1d(null as never, z(1, 1, 3))).toThrow(valueError('conv1d', 'input 0 is null, not a Tensor'));
    expect(() => conv1d(z(1, 1, 4), null as never)).toThrow(valueError('conv1d', 'input 1 is null, not a Tensor'));
    expect(() => conv1d(z(1, 1, 4, 1), z(1, 1, 3))).toThrow(shapeError('conv1d', 'expects an input [N, C, L] and a weight [O, C/groups, k], got [1,1,4,1] * [1,1,3]'));
    expect(() => conv1d(z(1, 1, 4), z(1, 1, 3, 1))).toThrow(shapeError('conv1d', 'expects an input [N, C, L] and a weight [O, C/groups, k], got [1,1,4] * [1,1,3,1]'));
  });

  it("conv1d's options are single numbers, each named when it is not", () => {
    const x = z(1, 1, 4), w = z(1, 1, 3);
    expect(() => conv1d(x, w, { stride: [1, 2] as never })).toThrow(valueError('conv1d', 'stride must be a number, got [1,2]'));
    expect(() => conv1d(x, w, { stride: 'two' as never })).toThrow(valueError('conv1d', 'stride must be a number, got two'));
    expect(() => conv1d(x, w, { padding: [1, 2] as never })).toThrow(valueError('conv1d', 'padding must be a number, got [1,2]'));
    expect(() => conv1d(x, w, { dilation: [2] as never })).toThrow(valueError('conv1d', 'dilation must be a number, got [2]'));
    // each is checked as the one number the user gave, not as the [height, length] pair conv1d makes of it
    expect(() => conv1d(x, w, { dilation: 0 })).toThrow(valueError('conv1d', 'dilation must be a positive integer, got 0'));
    expect(() => conv1d(x, w, { stride: 1.5 })).toThrow(valueError('conv1d', 'stride must be a positive integer, got 1.5'));
    expect(() => conv1d(x, w, { padding: -1 })).toThrow(valueError('conv1d', 'padding must be a non-negative integer, got -1'));
    expect(conv1d(x, w, { padding: 0, stride: 1, dilation: 1 }).shape).toEqual([1, 1, 2]);
  });

  it('unfold names itself, the option and the input in its errors', () => {
    const x = z(1, 1, 3, 3);
    expect(() => unfold(null as never, { kernelSize: 2 })).toThrow(valueError('unfold', 'input 0 is null, not a Tensor'));
    expect(() => unfold(z(1, 3, 3), { kernelSize: 2 })).toThrow(shapeError('unfold', 'expects an image [N, C, H, W], got [1,3,3]'));
    expect(() => unfold(x, {} as never)).toThrow(valueError('unfold', sizeRule('kernelSize', 'a positive', 'undefined')));
    expect(() => unfold(x, { kernelSize: 0 })).toThrow(valueError('unfold', sizeRule('kernelSize', 'a positive', '0')));
    expect(() => unfold(x, { kernelSize: 2, dilation: 0 })).toThrow(valueError('unfold', sizeRule('dilation', 'a positive', '0')));
    expect(() => unfold(x, { kernelSize: 4 })).toThrow(shapeError('unfold', 'the kernel 4×4 is larger than the padded input 3×3: [1,1,3,3]'));
  });

  it('fold names itself, its options and the columns in its errors', () => {
    expect(() => fold(null as never, { kernelSize: 2, outputSize: 3 })).toThrow(valueError('fold', 'input 0 is null, not a Tensor'));
    expect(() => fold(z(1, 4), { kernelSize: 2, outputSize: 3 })).toThrow(shapeError('fold', 'expects columns [N, C·kH·kW, L], got [1,4]'));
    expect(() => fold(z(1, 4, 4), undefined as never)).toThrow(valueError('fold', sizeRule('outputSize', 'a positive', 'undefined')));
    expect(() => fold(z(1, 4, 4), { kernelSize: 0, outputSize: 3 })).toThrow(valueError('fold', sizeRule('kernelSize', 'a positive', '0')));
    expect(() => fold(z(1, 10, 4), { kernelSize: 3, outputSize: 4 })).toThrow(shapeError('fold', '10 rows are not a whole number of 3×3 kernels: [1,10,4]'));
    expect(() => fold(z(1, 9, 1), { kernelSize: 3, outputSize: 2 })).toThrow(shapeError('fold', 'the kernel 3×3 is larger than the padded input 2×2: [1,9,1] into 2×2'));
  });
});

describe('ops/conv.ts: convTranspose2d', () => {
  const x = z(1, 1, 2, 2), w = z(1, 1, 2, 2);

  it('checks both ranks, groups against the input channels, and names each option', () => {
    expect(() => convTranspose2d(z(1, 1, 2), w)).toThrow(shapeError('convTranspose2d', 'expects an input [N, C_in, H, W] and a weight [C_in, C_out/groups, kH, kW], got [1,1,2] * [1,1,2,2]'));
    expect(() => convTranspose2d(x, z(1, 1, 2))).toThrow(shapeError('convTranspose2d', 'expects an input [N, C_in, H, W] and a weight [C_in, C_out/groups, kH, kW], got [1,1,2,2] * [1,1,2]'));
    expect(() => convTranspose2d(z(1, 3, 2, 2), z(3, 1, 2, 2), { groups: 2 })).toThrow(shapeError('convTranspose2d', '3 input channels are not divisible by groups 2: [1,3,2,2] * [3,1,2,2]'));
    expect(() => convTranspose2d(x, w, { stride: 0 })).toThrow(valueError('convTranspose2d', sizeRule('stride', 'a positive', '0')));
    expect(() => convTranspose2d(x, w, { padding: -1 })).toThrow(valueError('convTranspose2d', sizeRule('padding', 'a non-negative', '-1')));
    expect(() => convTranspose2d(x, w, { outputPadding: -1 })).toThrow(valueError('convTranspose2d', sizeRule('outputPadding', 'a non-negative', '-1')));
    expect(() => convTranspose2d(x, w, { dilation: 0 })).toThrow(valueError('convTranspose2d', sizeRule('dilation', 'a positive', '0')));
  });

  it('outputPadding must be below the stride or the dilation, per axis: equal is refused, below the dilation alone is allowed', () => {
    const refused = (extra: [number, number], stride: [number, number]) =>
      valueError('convTranspose2d', `outputPadding [${extra}] must be smaller than the stride [${stride}] or the dilation [1,1]`);
    expect(() => convTranspose2d(x, w, { stride: 2, outputPadding: [2, 0] })).toThrow(refused([2, 0], [2, 2]));
    expect(() => convTranspose2d(x, w, { stride: 2, outputPadding: [0, 2] })).toThrow(refused([0, 2], [2, 2]));
    expect(() => convTranspose2d(x, w, { outputPadding: [1, 0] })).toThrow(refused([1, 0], [1, 1]));
    expect(() => convTranspose2d(x, w, { outputPadding: [0, 1] })).toThrow(refused([0, 1], [1, 1]));
    // stride 1 but dilation 2: one extra row (or column) is allowed, and added at the bottom (right)
    const ones = tensor([1, 1, 1, 1], { shape: [1, 1, 2, 2], dtype: 'float64' });
    const tall = convTranspose2d(ones, ones, { dilation: [2, 1], outputPadding: [1, 0] });
    expect(tall.shape).toEqual([1, 1, 5, 3]);
    expect(tall.toFlatArray()).toEqual([1, 2, 1, 1, 2, 1, 1, 2, 1, 1, 2, 1, 0, 0, 0]);
    const wide = convTranspose2d(ones, ones, { dilation: [1, 2], outputPadding: [0, 1] });
    expect(wide.shape).toEqual([1, 1, 3, 5]);
    expect(wide.toFlatArray()).toEqual([1, 1, 1, 1, 0, 2, 2, 2, 2, 0, 1, 1, 1, 1, 0]);
  });

  it('a padding that leaves no output along one axis is refused', () => {
    const one = z(1, 1, 1, 1);
    expect(() => convTranspose2d(one, one, { padding: [1, 0] })).toThrow(shapeError('convTranspose2d', 'the padding [1,0] leaves an empty output (-1×1): [1,1,1,1] * [1,1,1,1]'));
    expect(() => convTranspose2d(one, one, { padding: [0, 1] })).toThrow(shapeError('convTranspose2d', 'the padding [0,1] leaves an empty output (1×-1): [1,1,1,1] * [1,1,1,1]'));
  });
});

describe('ops/pool.ts', () => {
  const x = z(1, 1, 4, 4);

  it('options must be an object; option names and the half-kernel bound per axis are checked', () => {
    expect(() => maxPool2d(x, null as never)).toThrow(valueError('maxPool2d', 'expects options { kernelSize, … }, got null'));
    expect(() => avgPool2d(x, 2 as never)).toThrow(valueError('avgPool2d', 'expects options { kernelSize, … }, got 2'));
    expect(() => maxPool2d(x, {} as never)).toThrow(valueError('maxPool2d', sizeRule('kernelSize', 'a positive', 'undefined')));
    expect(() => maxPool2d(x, { kernelSize: 2, padding: -1 })).toThrow(valueError('maxPool2d', sizeRule('padding', 'a non-negative', '-1')));
    expect(() => maxPool2d(x, { kernelSize: [3, 1], padding: [0, 1] })).toThrow(valueError('maxPool2d', 'padding [0,1] must be at most half the kernel size [3,1]'));
    expect(() => maxPool2d(x, { kernelSize: [1, 3], padding: [1, 0] })).toThrow(valueError('maxPool2d', 'padding [1,0] must be at most half the kernel size [1,3]'));
  });

  it('adaptiveAvgPool2d refuses an empty image', () => {
    expect(() => adaptiveAvgPool2d(z(1, 1, 0, 2), 2)).toThrow(shapeError('adaptiveAvgPool2d', 'cannot average an empty image [1,1,0,2]'));
    expect(() => adaptiveAvgPool2d(z(1, 1, 2, 0), 2)).toThrow(shapeError('adaptiveAvgPool2d', 'cannot average an empty image [1,1,2,0]'));
  });

  it("avgPool2d counts the padding in the divisor by default (PyTorch's count_include_pad)", () => {
    const ones = tensor([1, 1, 1, 1], { shape: [1, 1, 2, 2], dtype: 'float64' });
    // each 2×2 window with padding 1 holds one pixel of the image: 1/4 by default, 1 without the padding
    expect(avgPool2d(ones, { kernelSize: 2, padding: 1 }).toFlatArray()).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(avgPool2d(ones, { kernelSize: 2, padding: 1, countIncludePad: false }).toFlatArray()).toEqual([1, 1, 1, 1]);
  });

  it("maxPool2d's third derivative: the gather's VJP is the scatter again (dy lands on each window's maximum)", () => {
    const image = tensor([1, 4, 2, 3], { shape: [1, 1, 2, 2], dtype: 'float64' });
    const options = { kernelSize: 2 };
    // scatter(c; image) = the gradient of ⟨maxPool2d(image), c⟩; gather is its adjoint in c; scatter again is the gather's
    const scatter = (c: Tensor) => grad((t: Tensor) => sum(mul(maxPool2d(t, options), c)))(image);
    const gather = (u: Tensor) => grad((c: Tensor) => sum(mul(scatter(c), u)))(z(1, 1, 1, 1));
    const third = grad((u: Tensor) => sum(mul(gather(u), tensor([5], { shape: [1, 1, 1, 1], dtype: 'float64' }))))(z(1, 1, 2, 2));
    expect(third.toFlatArray()).toEqual([0, 5, 0, 0]);
    expect(gather(tensor([10, 20, 30, 40], { shape: [1, 1, 2, 2], dtype: 'float64' })).toFlatArray()).toEqual([20]);
  });
});

// The primitives behind the public functions check their operands' shapes too: the public
// functions never hand them a wrong one, but a composite or VJP written later could.
describe('ops/conv.ts and ops/pool.ts: the primitives refuse operands of another shape', () => {
  // a [1,2,3,3] image, 2×2 windows: 2×2 outputs of 2·2·2 = 8 rows
  const g = geometry('test', [1, 2, 3, 3], windowOf('test', { kernelSize: 2 }), '[1,2,3,3]');
  const image = z(1, 2, 3, 3);

  it('unfold and fold', () => {
    expect(apply(unfoldOp, [image], { geometry: g, padValue: 0, batched: false }).shape).toEqual([1, 8, 4]);
    expect(() => apply(unfoldOp, [z(1, 2, 3, 4)], { geometry: g, padValue: 0, batched: false })).toThrow(shapeError('unfold', 'expects an image [1,2,3,3], got [1,2,3,4]'));
    expect(apply(foldOp, [z(8, 4)], { geometry: g, batched: true }).shape).toEqual([1, 2, 3, 3]);
    expect(() => apply(foldOp, [z(1, 8, 4)], { geometry: g, batched: true })).toThrow(shapeError('fold', 'expects columns [8,4], got [1,8,4]'));
  });

  it('the transposes between the product layout [O, N·L] and images [N, O, outH, outW]', () => {
    const attrs = { N: 2, O: 3, outH: 2, outW: 1 };
    expect(apply(channelsToImagesOp, [z(3, 4)], attrs).shape).toEqual([2, 3, 2, 1]);
    expect(() => apply(channelsToImagesOp, [z(3, 5)], attrs)).toThrow(shapeError('channelsToImages', 'expects [3,4], got [3,5]'));
    expect(() => apply(channelsToImagesOp, [z(3, 4)], { N: 1, O: 3, outH: 3, outW: 2 })).toThrow(shapeError('channelsToImages', 'expects [3,6], got [3,4]'));
    expect(apply(imagesToChannelsOp, [z(2, 3, 2, 1)], attrs).shape).toEqual([3, 4]);
    expect(() => apply(imagesToChannelsOp, [z(2, 3, 1, 2)], attrs)).toThrow(shapeError('imagesToChannels', 'expects [2,3,2,1], got [2,3,1,2]'));
  });

  it('maxPool2d and its scatter and gather: the image, the values and the gradient, by rank and by size', () => {
    const pooled = z(1, 2, 2, 2);
    expect(apply(maxPoolOp, [image], { geometry: g }).shape).toEqual([1, 2, 2, 2]);
    // one axis off, a rank-3 prefix of the right shape, a rank-5 extension of it
    expect(() => apply(maxPoolOp, [z(1, 2, 3, 2)], { geometry: g })).toThrow(shapeError('maxPool2d', 'expects an image [1,2,3,3], got [1,2,3,2]'));
    expect(() => apply(maxPoolOp, [z(1, 2, 3)], { geometry: g })).toThrow(shapeError('maxPool2d', 'expects an image [1,2,3,3], got [1,2,3]'));
    expect(() => apply(maxPoolOp, [z(1, 2, 3, 3, 1)], { geometry: g })).toThrow(shapeError('maxPool2d', 'expects an image [1,2,3,3], got [1,2,3,3,1]'));
    expect(apply(maxPoolScatterOp, [pooled, image], { geometry: g }).shape).toEqual([1, 2, 3, 3]);
    expect(() => apply(maxPoolScatterOp, [z(1, 2, 2, 1), image], { geometry: g })).toThrow(shapeError('maxPoolScatter', 'expects a gradient [1,2,2,2], got [1,2,2,1]'));
    expect(() => apply(maxPoolScatterOp, [z(1, 2, 2), image], { geometry: g })).toThrow(shapeError('maxPoolScatter', 'expects a gradient [1,2,2,2], got [1,2,2]'));
    expect(() => apply(maxPoolScatterOp, [pooled, z(1, 2, 3)], { geometry: g })).toThrow(shapeError('maxPoolScatter', 'expects an image [1,2,3,3], got [1,2,3]'));
    expect(apply(maxPoolGatherOp, [image, image], { geometry: g }).shape).toEqual([1, 2, 2, 2]);
    expect(() => apply(maxPoolGatherOp, [pooled, image], { geometry: g })).toThrow(shapeError('maxPoolGather', 'expects values [1,2,3,3], got [1,2,2,2]'));
    expect(() => apply(maxPoolGatherOp, [image, pooled], { geometry: g })).toThrow(shapeError('maxPoolGather', 'expects an image [1,2,3,3], got [1,2,2,2]'));
  });
});
