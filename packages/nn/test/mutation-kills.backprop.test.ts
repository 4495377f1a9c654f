/**
 * Tests written for the mutants of nn/src/manual/backprop.ts that survived a StrykerJS run
 * (docs/mutation.md): BP1's general form at the clipping points of ∂L/∂A, the cost from the
 * logits at saturation, softmax's shift by the maximum, float32 buffers, a message.
 */
import { type Backend, type TypedArray, jsBackend, registerBackend, setBackend, tensor } from '@tapegrad/core';
import { type LossName, manualBackprop, mlp } from '@tapegrad/nn';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * A one-unit identity output with W = 0: the output p is the bias b exactly, so BP1's general
 * form returns ∂L/∂p itself (M = 1, f′ = 1) at any p we choose.
 */
function deltaAt(p: number, target: number, loss: LossName, dtype: 'float32' | 'float64' = 'float64') {
  const model = mlp([1, 1], { output: 'identity', dtype, init: { constant: 0 } });
  model.denseLayers()[0].b.assign([p]);
  const result = manualBackprop(model, tensor([[1]], { dtype }), tensor([[target]], { dtype }), loss);
  expect(result.bp1).toBe('general');
  return result.layers[0].delta.data[0];
}

describe('manualBackprop: ∂L/∂A where the loss clips p (ε = 1e-12 in float64, 1e-7 in float32)', () => {
  it('bce: 0 outside [ε, 1 − ε], the exact −t/p + (1 − t)/(1 − p) on its edges', () => {
    expect(deltaAt(1, 0, 'bce')).toBe(0);
    expect(deltaAt(1 - 1e-12, 0, 'bce')).toBe(1 / (1 - (1 - 1e-12)));
    expect(deltaAt(1e-12, 1, 'bce')).toBe(-1 / 1e-12);
    expect(deltaAt(0.25, 1, 'bce')).toBe(-4);
  });

  it('cce: 0 below ε and above 1, −t/p on [ε, 1]', () => {
    expect(deltaAt(2, 1, 'cce')).toBe(0);
    expect(deltaAt(1e-13, 1, 'cce')).toBe(0);
    expect(deltaAt(1, 1, 'cce')).toBe(-1);
    expect(deltaAt(1e-12, 1, 'cce')).toBe(-1 / 1e-12);
  });

  it('float32: the clip is at 1e-7, and every buffer is float32', () => {
    expect(deltaAt(1e-8, 1, 'bce', 'float32')).toBe(0);
    const model = mlp([2, 3, 1], { hidden: 'tanh', output: 'sigmoid', dtype: 'float32', seed: 3 });
    const { layers } = manualBackprop(model, tensor([[0.5, -1], [2, 0.25]], { dtype: 'float32' }), tensor([[1, 0]], { dtype: 'float32' }), 'bce');
    for (const l of layers) for (const t of [l.z, l.a, l.delta, l.dW, l.db]) expect(t.data).toBeInstanceOf(Float32Array);
  });
});

describe('manualBackprop: saturated outputs stay exact', () => {
  it('sigmoid + bce takes the cost from the logits: z = 40, y = 0 costs 40, not the clipped −log ε ≈ 27.6', () => {
    const model = mlp([1, 1], { output: 'sigmoid', dtype: 'float64', init: { constant: 0 } });
    model.denseLayers()[0].b.assign([40]);
    const { cost } = manualBackprop(model, tensor([[1]], { dtype: 'float64' }), tensor([[0]], { dtype: 'float64' }), 'bce');
    expect(cost).toBeCloseTo(40, 12);
  });

  it('softmax subtracts the largest logit first: logits 400 and 399 give σ(1) and 1 − σ(1), not NaN', () => {
    const model = mlp([1, 2], { output: 'softmax', dtype: 'float64', init: { constant: 0 } });
    model.denseLayers()[0].b.assign([400, 399]);
    const { layers } = manualBackprop(model, tensor([[1]], { dtype: 'float64' }), tensor([[1], [0]], { dtype: 'float64' }), 'cce');
    const s = 1 / (1 + Math.exp(-1));
    expect(layers[0].a.data[0]).toBeCloseTo(s, 14);
    expect(layers[0].a.data[1]).toBeCloseTo(1 - s, 14);
  });
});

describe('manualBackprop: messages', () => {
  it('names the shape of an input that is not a matrix, every axis of it', () => {
    const model = mlp([3, 1], { output: 'sigmoid', dtype: 'float64', seed: 1 });
    const X = tensor([1, 2, 3, 4, 5, 6], { dtype: 'float64' }).reshape([3, 2, 1]);
    expect(() => manualBackprop(model, X, tensor([[1]], { dtype: 'float64' }), 'bce')).toThrow('manualBackprop: X must be a matrix, got [3,2,1]');
  });
});

describe('manualBackprop (manual/index.ts)', () => {
  it('takes a plain array of Dense layers as it takes their Sequential, naming the stages by index', () => {
    const model = mlp([3, 4, 2], { output: 'softmax', dtype: 'float64', seed: 5 });
    const X = tensor([[1, -2], [0.5, 3], [-1, 0.25]], { dtype: 'float64' });
    const Y = tensor([[1, 0], [0, 1]], { dtype: 'float64' });
    const fromSequential = manualBackprop(model, X, Y, 'cce');
    const fromArray = manualBackprop(model.denseLayers(), X, Y, 'cce');
    expect(fromArray.cost).toBe(fromSequential.cost);
    expect(fromArray.layers.map((l) => Array.from(l.dW.data))).toEqual(fromSequential.layers.map((l) => Array.from(l.dW.data)));
    expect(fromArray.stages.map((s) => s.name)).toEqual(['0', '1']);
  });
});

describe('manualBackprop hands the backend the operands\' true shapes', () => {
  afterEach(() => setBackend('js'));

  // js's binary reads shapes only when the lengths differ; wasm, native and WebGPU kernels
  // may read them always, so the engine must describe each operand as it is
  it('every binary call: the shapes given match the arrays (the Hadamard product of BP2, the bias add)', () => {
    const calls: string[] = [];
    const size = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);
    const checking: Backend = {
      ...jsBackend,
      name: 'shape-checking',
      binary(kernel, a, aShape, b, bShape, out, outShape) {
        calls.push(`${kernel} [${aShape.join(',')}] [${bShape.join(',')}] → [${outShape.join(',')}]`);
        expect([size(aShape), size(bShape), size(outShape)]).toEqual([a.length, b.length, out.length]);
        jsBackend.binary(kernel, a as TypedArray, aShape, b as TypedArray, bShape, out as TypedArray, outShape);
      },
    };
    registerBackend(checking);
    const model = mlp([3, 4, 2], { hidden: 'tanh', output: 'sigmoid', dtype: 'float64', seed: 7 });
    const X = tensor([[1, -2], [0.5, 3], [-1, 0.25]], { dtype: 'float64' });
    const Y = tensor([[1, 0], [0, 1]], { dtype: 'float64' });
    const expected = manualBackprop(model, X, Y, 'bce');
    setBackend('shape-checking');
    const result = manualBackprop(model, X, Y, 'bce');
    expect(calls).toContain('add [4,2] [4,1] → [4,2]');
    expect(calls).toContain('mul [4,2] [4,2] → [4,2]');
    expect(result.layers.map((l) => Array.from(l.dW.data))).toEqual(expected.layers.map((l) => Array.from(l.dW.data)));
  });
});
