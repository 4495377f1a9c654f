import { describe, expect, it } from 'vitest';
import {
  GradientError, Tape, type Tensor, ValueError, add, customGrad, exp, grad, log, mul, onesLike, sigmoid, sum, tensor,
} from '@tapegrad/core';
import { GradcheckError, gradcheck } from '@tapegrad/core/testing';

const f64 = (data: Parameters<typeof tensor>[0]) => tensor(data, { dtype: 'float64' });
const sig = (x: number) => 1 / (1 + Math.exp(-x));

// softplus(x) = log(1 + eˣ), with its own VJP dy·σ(x), written in tape ops so it differentiates again
const softplus = customGrad({
  name: 'softplus',
  forward: (x: Tensor) => log(add(exp(x), 1)),
  vjp: (dy, { inputs: [x] }) => [mul(dy, sigmoid(x))],
});

describe('customGrad', () => {
  it('computes the forward value', () => {
    const y = softplus(f64([-1, 0, 2]));
    expect(y.toFlatArray()).toEqual([Math.log1p(Math.exp(-1)), Math.log(2), Math.log1p(Math.exp(2))].map((v) => expect.closeTo(v, 14)));
  });

  it('uses its own VJP for the gradient', () => {
    const x = f64([-1, 0, 2]);
    const g = grad((t: Tensor) => sum(softplus(t)))(x);
    expect(g.toFlatArray()).toEqual([sig(-1), 0.5, sig(2)].map((v) => expect.closeTo(v, 14)));
  });

  it('is recorded once: the forward pass is invisible to the tape', () => {
    const x = f64([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => softplus(x));
    expect(tape.size).toBe(1);
    expect(y.node!.def.name).toBe('softplus');
    expect(y.toString().split('\n')[0]).toBe('Tensor(float64, [2], op=softplus)');
  });

  it('differentiates twice through a VJP written in tape ops: softplus″ = σ(1 − σ)', () => {
    const x = f64(0.7);
    const second = grad(grad((t: Tensor) => softplus(t)))(x);
    expect(second.item()).toBeCloseTo(sig(0.7) * (1 - sig(0.7)), 14);
  });

  it('passes gradcheck at orders 1 and 2', () => {
    const report = gradcheck(softplus, [f64([[-2, -0.5], [0.3, 1.7]])], { order: 2 });
    expect(report.ok).toBe(true);
    expect(report.checked).toBe(8);
    expect(report.zeroCotangentViolation).toBeNull();
    expect(report.message).toMatch(/^ok: 8 derivatives agree/);
  });

  it('works with several inputs, a null gradient and backward()', () => {
    // scaled(x, s) = x·s, where s is treated as a constant (null gradient)
    const scaled = customGrad({
      name: 'scaled',
      forward: (x: Tensor, s: Tensor) => mul(x, s),
      vjp: (dy, { inputs: [, s] }) => [mul(dy, s), null],
    });
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const s = tensor([3, 4], { dtype: 'float64', requiresGrad: true });
    sum(scaled(x, s)).backward();
    expect(x.grad!.toArray()).toEqual([3, 4]);
    expect(s.grad).toBeNull();
    const tape = new Tape();
    const y = tape.record(() => sum(scaled(x, s)));
    expect(tape.gradient(y, s).toArray()).toEqual([0, 0]);
  });

  it('returning the wrong number of gradients is an error naming the op', () => {
    const broken = customGrad({
      name: 'twoGrads',
      forward: (x: Tensor) => mul(x, 2),
      vjp: (dy) => [dy, dy],
    });
    const error = (() => {
      try {
        grad((t: Tensor) => sum(broken(t)))(f64([1, 2]));
      } catch (e) {
        return e as GradientError;
      }
      throw new Error('no error');
    })();
    expect(error).toBeInstanceOf(GradientError);
    expect(error.op).toBe('twoGrads');
    expect(error.message).toBe('twoGrads: vjp must return an array of 1 gradients (one per input), got 2');
  });

  it('returning a gradient of the wrong shape is a GradientError naming the op and both shapes', () => {
    const broken = customGrad({
      name: 'badShape',
      forward: (x: Tensor) => mul(x, 2),
      vjp: (dy) => [sum(dy)],
    });
    expect(() => grad((t: Tensor) => sum(broken(t)))(f64([1, 2, 3]))).toThrow(GradientError);
    expect(() => grad((t: Tensor) => sum(broken(t)))(f64([1, 2, 3]))).toThrow('badShape: vjp returned shape [] for input 0 of shape [3]');
  });

  it('rejects a forward that does not return a tensor, and non-tensor inputs', () => {
    const broken = customGrad({
      name: 'noTensor',
      forward: (_x: Tensor) => 3 as unknown as Tensor,
      vjp: (dy) => [dy],
    });
    expect(() => broken(f64([1]))).toThrow(ValueError);
    expect(() => broken(f64([1]))).toThrow('noTensor: forward must return a Tensor, got number');
    expect(() => softplus([1] as unknown as Tensor)).toThrow('softplus: input 0 is an array, not a Tensor');
    expect(() => customGrad({ name: 'pair', forward: (a: Tensor, b: Tensor) => add(a, b), vjp: (dy) => [dy, dy] })(f64([1]), tensor([1])))
      .toThrow('pair: mixed dtypes: float64 [1] and float32 [1]; convert one with cast()');
  });

  it('a forward that returns its input unchanged still gives a separate output node', () => {
    const identity = customGrad({
      name: 'straightThrough',
      forward: (x: Tensor) => x,
      vjp: (dy) => [mul(dy, 3)],
    });
    const x = f64([1, 2]);
    const g = grad((t: Tensor) => sum(identity(t)))(x);
    expect(g.toArray()).toEqual([3, 3]);
    expect(x.node).toBeNull();
  });
});

describe('gradcheck catches a wrong VJP', () => {
  const wrong = customGrad({
    name: 'wrongSoftplus',
    forward: (x: Tensor) => log(add(exp(x), 1)),
    vjp: (dy, { inputs: [x] }) => [mul(mul(dy, sigmoid(x)), 1.5)],
  });
  const x = f64([-1, 0.5, 2]);

  it('throws a GradcheckError naming the input, the index, analytic and numeric values', () => {
    let error: GradcheckError | undefined;
    try {
      gradcheck(wrong, [x]);
    } catch (e) {
      error = e as GradcheckError;
    }
    expect(error).toBeInstanceOf(GradcheckError);
    const worst = error!.report.worst!;
    expect(worst.input).toBe(0);
    expect(worst.order).toBe(1);
    expect(worst.shape).toEqual([3]);
    // the error grows with σ(x)·|r|; which index is worst depends on the random cotangent r,
    // so check the values at whichever index is reported
    const i = worst.index[0];
    expect(worst.analytic / worst.numeric).toBeCloseTo(1.5, 6);
    expect(Math.abs(worst.numeric)).toBeGreaterThan(0);
    expect([0, 1, 2]).toContain(i);
    expect(error!.message).toContain(`gradient mismatch for input 0 [3] at [${i}]`);
    expect(error!.message).toContain(`analytic ${worst.analytic} vs numeric ${worst.numeric}`);
    expect(error!.message).toMatch(/^gradcheck: /);
    expect(error!.op).toBe('gradcheck');
  });

  it('with raise:false returns the report with ok:false', () => {
    const report = gradcheck(wrong, [x], { raise: false });
    expect(report.ok).toBe(false);
    expect(report.checked).toBe(3);
    expect(report.worst!.relError).toBeCloseTo(0.5, 5);
    expect(report.message).toMatch(/^gradient mismatch for input 0 \[3\]/);
  });

  it('detects a VJP that ignores its cotangent (returns ones)', () => {
    // forward Σx has gradient ones, so the first-order check alone passes: only the
    // zero-cotangent check can see that dy is ignored
    const ignoresDy = customGrad({
      name: 'ignoresDy',
      forward: (t: Tensor) => sum(t),
      vjp: (_dy, { inputs: [t] }) => [onesLike(t)],
    });
    const report = gradcheck(ignoresDy, [f64([[1, 2], [3, 4]])], { raise: false });
    expect(report.ok).toBe(false);
    expect(report.zeroCotangentViolation).toBe('a zero output gradient gave a non-zero gradient for input 0 [2,2] at [0,0] (1)');
    expect(report.message).toBe(report.zeroCotangentViolation);
    expect(() => gradcheck(ignoresDy, [f64([1, 2])])).toThrow(GradcheckError);
    // the correct VJP passes
    const honest = customGrad({
      name: 'honest',
      forward: (t: Tensor) => sum(t),
      vjp: (dy, { inputs: [t] }) => [mul(onesLike(t), dy)],
    });
    expect(gradcheck(honest, [f64([[1, 2], [3, 4]])]).ok).toBe(true);
  });
});
