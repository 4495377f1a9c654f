/**
 * Tests written for the mutants of core/src/tape.ts that survived a StrykerJS run
 * (scripts/mutation.sh tape; docs/mutation.md). Each pins down a behaviour of the public doors
 * (Tape, grad, hvp, backward, graphModel) that the suite did not check; none reads the
 * tape's internals, so a rewrite of the sweep keeps them valid.
 */
import { describe, expect, it } from 'vitest';
import {
  AnomalyError, GradientError, ReleasedTensorError, ShapeError, Tape, type Tensor, ValueError, add, backward, customGrad, detectAnomalies, grad,
  graphModel, hvp, log, mul, ones, setDetectAnomalies, sum, tensor, tidy, where,
} from '@tapegrad/core';

const f64 = (data: number[]) => tensor(data, { dtype: 'float64' });

describe('the output is itself a source that no op produced', () => {
  it('Tape.gradient of an unrecorded leaf with respect to itself is the output gradient', () => {
    const x = f64([2, -3]);
    const other = f64([1, 1]);
    const tape = new Tape({ persistent: true });
    tape.record(() => mul(x, other));
    const dy = f64([0.5, 4]);
    const [dx, dOther] = tape.gradient(x, [other, x], dy).reverse();
    expect(Array.from(dx.data)).toEqual([0.5, 4]);
    expect(Array.from(dOther.data)).toEqual([0, 0]);
    // a scalar leaf, seeded with one; listed second, so its slot is not the first
    const s = f64([7]).reshape([]);
    const [ds] = tape.gradient(s, [s]);
    expect(ds.item()).toBe(1);
    const [dxAgain, dsAgain] = tape.gradient(s, [x, s]);
    expect(Array.from(dxAgain.data)).toEqual([0, 0]);
    expect(dsAgain.item()).toBe(1);
  });

  it('backward() on a requiresGrad leaf gives it the output gradient as a tensor of its own', () => {
    const p = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const dy = f64([5, -1, 0.25]);
    backward(p, dy);
    expect(Array.from(p.grad!.data)).toEqual([5, -1, 0.25]);
    expect(p.grad).not.toBe(dy);
    dy.assign([0, 0, 0]);
    expect(Array.from(p.grad!.data)).toEqual([5, -1, 0.25]);
    // a scalar leaf without dy: seeded with one
    const q = tensor(4, { dtype: 'float64', requiresGrad: true });
    q.backward();
    expect(q.grad!.item()).toBe(1);
  });

  it('graphModel with gradients: the leaf output gets gradient one, an input its cotangent', () => {
    const leaf = tensor([3], { dtype: 'float64', requiresGrad: true });
    const alone = graphModel(leaf, { gradients: true });
    expect(alone.vertices).toHaveLength(1);
    expect(alone.vertices[0].gradient).toMatchObject({ min: 1, mean: 1, max: 1 });
    const y = sum(mul(leaf, leaf));
    const model = graphModel(y, { gradients: true });
    const leafVertex = model.vertices.find((v) => v.kind === 'leaf')!;
    expect(leafVertex.gradient).toMatchObject({ min: 6, mean: 6, max: 6 });
  });
});

describe('backward() and tidy', () => {
  it('a customGrad VJP handing back a tensor an earlier tidy released: backward() completes, reading .grad names the release', () => {
    let stale: Tensor | undefined;
    tidy(() => {
      stale = ones([2], { dtype: 'float64' });
    });
    const f = customGrad({ name: 'staleVjp', forward: (x: Tensor) => mul(x, 2), vjp: () => [stale!] });
    const p = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    sum(f(p)).backward();
    expect(() => p.grad!.toFlatArray()).toThrow(ReleasedTensorError);
  });
});

describe('Tape.reset', () => {
  it('makes a spent tape usable again: it records and differentiates once more', () => {
    const x = f64([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => sum(mul(x, x)));
    tape.gradient(y, x);
    expect(() => tape.record(() => x)).toThrow(GradientError);
    tape.reset();
    expect(tape.size).toBe(0);
    const z = tape.record(() => sum(mul(x, 3)));
    expect(Array.from(tape.gradient(z, x).data)).toEqual([3, 3]);
  });
});

describe('errors of the functional doors name what was wrong', () => {
  const x = f64([1, 2]);

  it('grad: an argument that is not a tensor is named by its type, a missing one as missing', () => {
    const f = (a: Tensor, b: unknown) => sum(mul(a, b as Tensor));
    expect(() => grad(f, { argnums: 1 })(x, 3)).toThrow(new ValueError('grad', 'argument 1 is number, not a Tensor, so it cannot be differentiated'));
    expect(() => grad(f, { argnums: [0, 1] })(x, undefined)).toThrow(new ValueError('grad', 'argument 1 is missing, not a Tensor, so it cannot be differentiated'));
  });

  it('grad: a function that returns no tensor', () => {
    expect(() => grad((_x: Tensor) => 3 as unknown as Tensor)(x)).toThrow(new ValueError('grad', 'the function must return a Tensor, got number'));
  });

  it('Tape.gradient: an output or a source that is not a tensor', () => {
    const tape = new Tape({ persistent: true });
    const y = tape.record(() => sum(x));
    expect(() => tape.gradient(y, [x, 'w' as unknown as Tensor])).toThrow(new ValueError('gradient', 'source 1 is string, not a Tensor'));
    expect(() => tape.gradient(undefined as unknown as Tensor, [x])).toThrow(new ValueError('gradient', 'the output must be a Tensor, got undefined'));
  });

  it('hvp: directions that do not match the tensors, in number, type or shape', () => {
    const f = (a: Tensor, b: Tensor) => sum(mul(a, b));
    const y = f64([3, 4]);
    expect(() => hvp(f, [x, y], [x])).toThrow(new ValueError('hvp', '1 directions for 2 tensors'));
    expect(() => hvp(f, [x, y], [x, [1, 1] as unknown as Tensor])).toThrow(new ValueError('hvp', 'x 1 and v 1 must be Tensors'));
    expect(() => hvp(f, [x, 5 as unknown as Tensor], [x, y])).toThrow(new ValueError('hvp', 'x 1 and v 1 must be Tensors'));
    expect(() => hvp(f, [x, y], [x, f64([1, 2, 3])])).toThrow(new ShapeError('hvp', 'direction v has shape [3] but x has shape [2]'));
  });

  it('hvp: a function that does not return a scalar tensor', () => {
    expect(() => hvp((a: Tensor) => mul(a, a), x, x)).toThrow(new GradientError('hvp', 'f must return a scalar tensor, got [2]'));
    expect(() => hvp(() => 1 as unknown as Tensor, x, x)).toThrow(new GradientError('hvp', 'f must return a scalar tensor, got number'));
    // and the right answer when it does: H of Σ a²·b at (a, b) = (x, x) along (1, 0) is 2b
    expect(Array.from(hvp((a: Tensor) => sum(mul(mul(a, a), add(a, 0))), x, f64([1, 0])).data)).toEqual([6, 0]);
  });
});

describe('the backward sweep (rewritten with Maps and Sets): what runs and what is blamed', () => {
  const f64c = (data: number[]) => tensor(data, { dtype: 'float64' });

  it('a node whose output gets no cotangent (a where condition computed from the source) runs no VJP', () => {
    // the condition mul(x, 1) depends on x, but where hands its condition no gradient
    const g = grad((x: Tensor) => sum(where(mul(x, 1), x, 0)))(f64c([2, 0, -1]));
    expect(Array.from(g.data)).toEqual([1, 0, 1]);
  });

  it('runs no VJP off the paths from the output to the sources', () => {
    let calls = 0;
    const counted = customGrad({
      name: 'counted',
      forward: (t: Tensor) => mul(t, 3),
      vjp: (dy) => {
        calls++;
        return [mul(dy, 3)];
      },
    });
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const c = tensor([5, 6], { dtype: 'float64', requiresGrad: true });
    // a branch that does not depend on the source x
    const tape = new Tape({ persistent: true });
    const y = tape.record(() => sum(add(mul(x, 2), counted(c))));
    expect(Array.from(tape.gradient(y, x).data)).toEqual([2, 2]);
    expect(calls).toBe(0);
    // an output that does not depend on the source at all: no VJP, a zero gradient
    const z = tape.record(() => sum(counted(c)));
    expect(Array.from(tape.gradient(z, x).data)).toEqual([0, 0]);
    expect(calls).toBe(0);
    expect(Array.from(tape.gradient(z, c).data)).toEqual([3, 3]);
    expect(calls).toBe(1);
    // the output's own node, when the output does not depend on the source: its VJP is not run either
    const w = tape.record(() => counted(sum(c)));
    expect(Array.from(tape.gradient(w, x).data)).toEqual([0, 0]);
    expect(calls).toBe(1);
  });

  it('a VJP that returns NaN itself (no op made it) is caught by anomaly detection, named as that VJP', () => {
    const bad = customGrad({
      name: 'bad',
      forward: (t: Tensor) => mul(t, 1),
      vjp: () => [f64c([NaN, 0])],
    });
    const x = f64c([1, 2]);
    let error: unknown;
    try {
      detectAnomalies(() => grad((t: Tensor) => sum(bad(t)))(x));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AnomalyError);
    expect((error as AnomalyError).op).toBe('bad (vjp, input 0)');
  });

  it('after a gradient, with detection on or off before it, a NaN in a forward op is blamed on the forward pass', () => {
    const x = f64c([1, 4]);
    const forwardNaN = () => {
      try {
        detectAnomalies(() => log(f64c([-1])));
      } catch (e) {
        return (e as AnomalyError).phase;
      }
      return 'no error';
    };
    grad((t: Tensor) => sum(mul(t, t)))(x); // detection off during the sweep
    expect(forwardNaN()).toBe('forward');
    // detection switched on globally (detectAnomalies would restore the blamed VJP on its own)
    setDetectAnomalies(true);
    try {
      grad((t: Tensor) => sum(mul(t, t)))(x);
    } finally {
      setDetectAnomalies(false);
    }
    expect(forwardNaN()).toBe('forward');
  });
});
