/**
 * SGD, Momentum, Nesterov and Adam update their state and θ in place through the backend's
 * kernels (packages/nn/src/optim/inplace.ts). The claim is that the numbers do not change:
 * over several steps, on the js backend and on wasm (registered here), in float32 and
 * float64, every parameter equals — bit for bit — what the update formula built from ops
 * gives, and θ keeps its buffer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DType, type Tensor, add, div, mul, noGrad, setBackend, sqrt, square, sub, tensor, tidy, zerosLike,
} from '@tapegrad/core';
import { Adam, Momentum, type Optimizer, SGD } from '@tapegrad/nn';
import { initWasmBackend } from '../packages/backend-wasm/src/index.js';
import { initNativeBackendOrWarn } from '../packages/backend-native/src/index.js';

const wasm = initWasmBackend();
// native where its addon was built (else one warning says why)
const native = initNativeBackendOrWarn();
afterEach(() => setBackend('js'));

/** The update rules as they were written before the in-place versions, from ops. */
interface Reference {
  step(params: Tensor[], grads: Tensor[]): void;
}

function sgdByOps(lr: number): Reference {
  // inside tidy: mul then sub run as two kernels (outside it, sub folds mul's product into
  // the same subScaled call the optimiser makes, and the reference would be no reference)
  return { step: (params, grads) => noGrad(() => params.forEach((p, i) => tidy(() => p.assign(sub(p, mul(grads[i], lr)))))) };
}

function momentumByOps(lr: number, momentum: number, nesterov: boolean): Reference {
  const velocity = new Map<Tensor, Tensor>();
  return {
    step: (params, grads) => noGrad(() => params.forEach((p, i) => {
      const g = grads[i];
      const previous = velocity.get(p);
      const v = previous ? add(mul(previous, momentum), g) : g.detach();
      velocity.set(p, v);
      const direction = nesterov ? add(g, mul(v, momentum)) : v;
      p.assign(sub(p, mul(direction, lr)));
    })),
  };
}

function adamByOps(lr: number, beta1: number, beta2: number, eps: number): Reference {
  const moments = new Map<Tensor, { m: Tensor; v: Tensor; t: number }>();
  return {
    step: (params, grads) => noGrad(() => params.forEach((p, i) => {
      const g = grads[i];
      const s = moments.get(p) ?? { m: zerosLike(p), v: zerosLike(p), t: 0 };
      s.t += 1;
      s.m = add(mul(s.m, beta1), mul(g, 1 - beta1));
      s.v = add(mul(s.v, beta2), mul(square(g), 1 - beta2));
      moments.set(p, s);
      const mHat = div(s.m, 1 - beta1 ** s.t);
      const vHat = div(s.v, 1 - beta2 ** s.t);
      p.assign(sub(p, mul(div(mHat, add(sqrt(vHat), eps)), lr)));
    })),
  };
}

function lcg(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2;
}

const SHAPES = [[7, 143], [1, 3], [5]];
const STEPS = 6;

/**
 * Runs the optimiser and the reference side by side on fresh copies of the same parameters
 * (three of different sizes, so the shared scratch is used at several lengths), with the same
 * gradients each step — of mixed scales, with exact zeros and a −0 — and compares every
 * value after every step.
 */
function compare(dtype: DType, make: () => Optimizer, reference: () => Reference): void {
  const next = lcg(11);
  const initial = SHAPES.map((shape) => Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next));
  const params = SHAPES.map((shape, j) => tensor(initial[j], { dtype, shape }));
  const expected = SHAPES.map((shape, j) => tensor(initial[j], { dtype, shape }));
  const buffers = params.map((p) => p.data);
  const opt = make();
  const ref = reference();
  for (let t = 1; t <= STEPS; t++) {
    const grads = SHAPES.map((shape, j) => {
      const values = Array.from({ length: initial[j].length }, (_, e) => {
        if (e % 17 === 3) return 0;
        if (e % 29 === 5) return -0;
        return next() * 10 ** ((e % 7) - 3);
      });
      return tensor(values, { dtype, shape });
    });
    opt.step(params, grads);
    ref.step(expected, grads);
    params.forEach((p, j) => {
      expect(p.data, `parameter ${j} keeps its buffer`).toBe(buffers[j]);
      const got = Array.from(p.data);
      const want = Array.from(expected[j].data);
      // toEqual tells −0 from 0 (Object.is), so this is bit-identical short of NaN payloads
      expect(got, `${dtype} step ${t} parameter ${j}`).toEqual(want);
    });
  }
}

const backends = ['js', wasm.name, ...(native ? [native.name] : [])];

for (const backend of backends) {
  describe(`${backend}: in-place optimiser steps equal the formula built from ops`, () => {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`SGD, ${dtype} (θ − η·g in one subScaled call)`, () => {
        setBackend(backend);
        compare(dtype, () => new SGD({ lr: 0.1 }), () => sgdByOps(0.1));
        // an η that float32 cannot hold exactly: the kernel must round it as a lifted scalar
        compare(dtype, () => new SGD({ lr: 0.3 }), () => sgdByOps(0.3));
      });

      it(`Momentum, ${dtype}`, () => {
        setBackend(backend);
        compare(dtype, () => new Momentum({ lr: 0.1, momentum: 0.9 }), () => momentumByOps(0.1, 0.9, false));
      });

      it(`Nesterov, ${dtype}`, () => {
        setBackend(backend);
        compare(dtype, () => new Momentum({ lr: 0.03, momentum: 0.7, nesterov: true }), () => momentumByOps(0.03, 0.7, true));
      });

      it(`Adam, ${dtype} (defaults, and other hyper-parameters)`, () => {
        setBackend(backend);
        compare(dtype, () => new Adam(), () => adamByOps(1e-3, 0.9, 0.999, 1e-8));
        compare(dtype, () => new Adam({ lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-6 }), () => adamByOps(0.05, 0.8, 0.99, 1e-6));
      });
    }

    it('reset, then a first step again, still matches; the velocity does not alias the gradient', () => {
      setBackend(backend);
      const p = tensor([1, 2, 3]);
      const q = tensor([1, 2, 3]);
      const opt = new Momentum({ lr: 0.5, momentum: 0.5 });
      const g = tensor([0.25, -1, 3]);
      opt.step([p], [g]);
      opt.reset();
      opt.step([p], [g]);
      g.assignInPlace((d) => d.fill(100)); // the caller reuses its gradient buffer
      opt.step([p], [tensor([1, 1, 1])]);
      const ref = momentumByOps(0.5, 0.5, false);
      ref.step([q], [tensor([0.25, -1, 3])]);
      const ref2 = momentumByOps(0.5, 0.5, false);
      ref2.step([q], [tensor([0.25, -1, 3])]);
      ref2.step([q], [tensor([1, 1, 1])]);
      expect(Array.from(p.data)).toEqual(Array.from(q.data));
    });
  });
}
