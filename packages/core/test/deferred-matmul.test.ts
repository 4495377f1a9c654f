/**
 * A parameter's matmul gradient, outside every tidy and recording, is deferred (ops/matmul.ts):
 * `tape.gradient` hands out dW uncomputed, `sub(W, mul(dW, lr))` computes the product into a
 * pooled scratch buffer for its one subScaled call, and dW computes its own values only if
 * read. The claim: nothing a user can observe changes — dW and the updated W are bit for bit
 * what they were (the same values as the same step inside tidy, where nothing is deferred), in
 * all four transpose variants and both dtypes; reading, assigning, tidy, keep, grad-of-grad,
 * hvp, backward(), anomaly detection and device tensors behave as before.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DType, Tape, Tensor, add, backward, detectAnomalies, grad, hvp, keep, matmul, matmulT, mean, memoryStats, mul,
  outsideTidy, randn, setBackend, sigmoid, square, sub, sum, tensor, tidy,
} from '@tapegrad/core';
import { deferredValuesOf } from '../src/tensor.js';
import { createFakeDevice } from './helpers/fake-device.js';

const SEED = 42;
afterEach(() => setBackend('js'));

/** Element-wise Object.is: NaN equals NaN, +0 differs from −0. */
function bits(t: Tensor): string[] {
  return Array.from(t.data, (v) => (Object.is(v, -0) ? '-0' : String(v)));
}

const deferred = (t: Tensor) => deferredValuesOf(t) !== null;

/** A new Tape, c = sum(sigmoid(W·X)), and the gradients with respect to `sources`. */
function sigmoidStep(W: Tensor, X: Tensor, sources: Tensor[]): Tensor[] {
  const tape = new Tape();
  const c = tape.record(() => sum(sigmoid(matmul(W, X))));
  return tape.gradient(c, sources);
}

describe('matmul gradients of parameters outside tidy are deferred; elsewhere computed at once', () => {
  it('defers the gradients of leaves outside tidy and recordings (tape.gradient and backward())', () => {
    const W = randn([3, 4], { seed: 1 });
    const X = randn([4, 5], { seed: 2 });
    const [dW, dX] = sigmoidStep(W, X, [W, X]);
    expect(deferred(dW) && deferred(dX)).toBe(true);
    expect(dW.shape).toEqual([3, 4]);
    expect(dW.size).toBe(12);
    expect(dW.dtype).toBe('float32');
    expect(dW.device).toBe('cpu');
    const Wr = randn([3, 4], { seed: 1 }).requireGrad();
    backward(sum(sigmoid(matmul(Wr, X))));
    expect(deferred(Wr.grad!)).toBe(true);
    expect(bits(Wr.grad!)).toEqual(bits(dW));
  });

  it('computes them at once inside tidy, under a recording tape, with anomaly detection, where an operand requires gradients, for a non-leaf, and across broadcast batches', () => {
    const W = randn([3, 4], { seed: 1 });
    const X = randn([4, 5], { seed: 2 });
    tidy(() => expect(sigmoidStep(W, X, [W, X]).map(deferred)).toEqual([false, false]));
    new Tape().record(() => expect(sigmoidStep(W, X, [W, X]).map(deferred)).toEqual([false, false]));
    detectAnomalies(() => expect(sigmoidStep(W, X, [W, X]).map(deferred)).toEqual([false, false]));
    // W requires gradients: the tape's operands (the cotangent, the activation) do too, and the product gets a node as before
    const Wr = randn([3, 4], { seed: 1 }).requireGrad();
    const [dWr] = sigmoidStep(Wr, X, [Wr]);
    expect(deferred(dWr)).toBe(false);
    expect(dWr.node).not.toBeNull();
    // h = sigmoid(W) is not a leaf: its cotangent feeds sigmoid's VJP at once; W's own is a sigmoid VJP, not a product
    const tape = new Tape();
    let h: Tensor | null = null;
    const c = tape.record(() => {
      h = sigmoid(W);
      return sum(matmul(h, X));
    });
    expect(tape.gradient(c, [h!, W]).map(deferred)).toEqual([false, false]);
    // a weight shared across a batch: its gradient is the sum over the batch (unbroadcast)
    const batched = randn([2, 4, 5], { seed: 3 });
    const [dShared] = sigmoidStep(W, batched, [W]);
    expect(deferred(dShared)).toBe(false);
    expect(bits(dShared)).toEqual(bits(tidy(() => keep(sigmoidStep(W, batched, [W])[0]))));
  });

  it('computes them at once on a device backend (device tensors are never deferred)', async () => {
    const device = createFakeDevice();
    setBackend(device);
    const W = randn([3, 4], { seed: 1 });
    const X = randn([4, 5], { seed: 2 });
    const [dW] = sigmoidStep(W, X, [W]);
    expect(deferred(dW)).toBe(false);
    expect(dW.device).toBe(device.name);
    const updated = sub(W, mul(dW, 0.1));
    const onDevice = Array.from(await updated.dataAsync());
    setBackend('js');
    const Wc = tensor(await W.dataAsync(), { shape: [3, 4] });
    const Xc = tensor(await X.dataAsync(), { shape: [4, 5] });
    const [dWc] = sigmoidStep(Wc, Xc, [Wc]);
    expect(onDevice).toEqual(Array.from(sub(Wc, mul(dWc, 0.1)).data));
  });
});

/** Shapes of op(A)·op(B): A stored [m,k] or [k,m], B stored [k,n] or [n,k], with the flags. */
const products = fc.record({
  m: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 6 }),
  transposeA: fc.boolean(), transposeB: fc.boolean(), dtype: fc.constantFrom<DType>('float32', 'float64'),
  seed: fc.integer({ min: 1, max: 10_000 }), lr: fc.constantFrom(0.1, 0.05, -0.3, 1e-30, 0),
});

describe('deferred gradients give the values computed at once, bit for bit', () => {
  it('dA, dB and the folded updates sub(A, mul(dA, lr)): the same as the same step inside tidy, in all four transpose variants', () => {
    fc.assert(
      fc.property(products, ({ m, k, n, transposeA, transposeB, dtype, seed, lr }) => {
        const A = randn(transposeA ? [k, m] : [m, k], { seed, dtype });
        const B = randn(transposeB ? [n, k] : [k, n], { seed: seed + 1, dtype });
        const G = randn([m, n], { seed: seed + 2, dtype });
        const step = () => {
          const tape = new Tape();
          const c = tape.record(() => sum(mul(sigmoid(matmulT(A, B, transposeA, transposeB)), G)));
          return tape.gradient(c, [A, B]);
        };
        const [dA, dB] = step();
        expect(deferred(dA) && deferred(dB)).toBe(true);
        const updates = [sub(A, mul(dA, lr)), add(B, mul(dB, -lr))];
        // the updates folded the products in without computing dA or dB
        expect(deferred(dA) && deferred(dB)).toBe(true);
        const reference = tidy(() => {
          const [rA, rB] = step();
          return [rA, rB, sub(A, mul(rA, lr)), add(B, mul(rB, -lr))].map((t) => keep(t));
        });
        expect(bits(updates[0])).toEqual(bits(reference[2]));
        expect(bits(updates[1])).toEqual(bits(reference[3]));
        expect(bits(dA)).toEqual(bits(reference[0]));
        expect(bits(dB)).toEqual(bits(reference[1]));
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('a weight used twice: its two products are added, as before', () => {
    const W = randn([3, 3], { seed: 4, dtype: 'float64' });
    const X = randn([3, 2], { seed: 5, dtype: 'float64' });
    const f = () => {
      const tape = new Tape();
      const c = tape.record(() => sum(sigmoid(matmul(W, sigmoid(matmul(W, X))))));
      return tape.gradient(c, W);
    };
    const dW = f();
    expect(bits(dW)).toEqual(bits(tidy(() => keep(f()))));
  });
});

describe('everything a user does with a deferred gradient works as before', () => {
  it('read before or after the update, assigned, or its operands assigned after the gradient', () => {
    const W = randn([4, 3], { seed: 6 });
    const X = randn([3, 5], { seed: 7 });
    const expected = bits(tidy(() => keep(sigmoidStep(W, X, [W])[0])));
    const [dW] = sigmoidStep(W, X, [W]);
    // the batch changed after the gradient (as the next step's data might): dW keeps the values of its step
    X.assign(randn([3, 5], { seed: 99 }));
    const updated = sub(W, mul(dW, 0.5));
    expect(bits(dW)).toEqual(expected);
    // read first, then folded: the update reads the same values
    const [dW2] = sigmoidStep(W, X, [W]);
    const expected2 = bits(tidy(() => keep(sigmoidStep(W, X, [W])[0])));
    expect(bits(dW2)).toEqual(expected2);
    expect(bits(sub(W, mul(dW2, 0.5)))).toEqual(bits(tidy(() => keep(sub(W, mul(tensor(dW2.data.slice(), { shape: [4, 3] }), 0.5))))));
    // assigning dW after the update was built: the update keeps the gradient's values, dW has the new ones
    const [dW3] = sigmoidStep(W, X, [W]);
    const pending = mul(dW3, 0.5);
    dW3.assign(new Float32Array(12).fill(7));
    expect(Array.from(dW3.data)).toEqual(new Array(12).fill(7));
    expect(bits(sub(W, pending))).toEqual(bits(sub(W, mul(tensor(Float32Array.from(expected2.map(Number)), { shape: [4, 3] }), 0.5))));
    expect(bits(updated)).toEqual(bits(sub(W, mul(tensor(Float32Array.from(expected.map(Number)), { shape: [4, 3] }), 0.5))));
  });

  it('the operands outlive the sweep that released them: tidy churn between the gradient and its read changes nothing', () => {
    const W = randn([6, 5], { seed: 8 });
    const X = randn([5, 4], { seed: 9 });
    const expected = bits(tidy(() => keep(sigmoidStep(W, X, [W])[0])));
    const [dW] = sigmoidStep(W, X, [W]);
    const update = mul(dW, 0.1);
    // the sweep's own scope released the cotangent it lent to dW: the pool must not hand its buffer out
    for (let i = 0; i < 5; i++) tidy(() => sigmoidStep(W, X, [W])[0].data);
    // read first inside a tidy: the buffer dW gets is its own, not the pool's
    tidy(() => sum(add(dW, 1)).item());
    for (let i = 0; i < 5; i++) tidy(() => add(randn([6, 5], { seed: i }), 1).data);
    expect(bits(dW)).toEqual(expected);
    expect(bits(update)).toEqual(bits(tidy(() => keep(mul(tensor(Float32Array.from(expected.map(Number)), { shape: [6, 5] }), 0.1)))));
    // computed inside outsideTidy within a tidy: deferred there too, and valid after the tidy
    const inside = tidy(() => keep(outsideTidy(() => sigmoidStep(W, X, [W])[0])));
    expect(bits(inside)).toEqual(expected);
  });

  it('the update borrows one scratch buffer from the pool and gives it back: a loop without tidy leaves the pool as it was', () => {
    const W0 = randn([7, 9], { seed: 10 });
    const X = randn([9, 3], { seed: 11 });
    let W = W0;
    const step = () => {
      const [dW] = sigmoidStep(W, X, [W]);
      W = sub(W, mul(dW, 0.1));
    };
    step();
    step();
    const settled = memoryStats();
    for (let i = 0; i < 20; i++) step();
    const after = memoryStats();
    expect(after.pooledBuffers).toBe(settled.pooledBuffers);
    expect(after.pooledBytes).toBe(settled.pooledBytes);
    // the same 20 steps inside tidy give the same weights
    let V = W0;
    for (let i = 0; i < 22; i++) {
      V = tidy(() => {
        const [dV] = sigmoidStep(V, X, [V]);
        return sub(V, mul(dV, 0.1));
      });
    }
    expect(bits(W)).toEqual(bits(V));
  });

  it('grad of grad and hvp: values as inside tidy (their sweeps record, so nothing of theirs is deferred)', () => {
    const W = randn([3, 4], { seed: 12, dtype: 'float64' });
    const X = randn([4, 2], { seed: 13, dtype: 'float64' });
    const V = randn([3, 4], { seed: 14, dtype: 'float64' });
    const f = (w: Tensor) => mean(square(sigmoid(matmul(w, X))));
    const second = () => grad((w: Tensor) => sum(square(grad(f)(w))))(W);
    const product = () => hvp(f, W, V);
    expect(bits(second())).toEqual(bits(tidy(() => keep(second()))));
    expect(bits(product())).toEqual(bits(tidy(() => keep(product()))));
    // a deferred gradient used as a constant inside a later recording
    const [dW] = sigmoidStep(W, X, [W]);
    const tape = new Tape();
    const y = tape.record(() => sum(mul(W, dW)));
    expect(bits(tape.gradient(y, W))).toEqual(bits(dW));
  });

  it('the user loop (two layers, five steps, no tidy) trains the same weights as inside tidy', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const init = [randn([8, 6], { seed: 20, dtype }), randn([8, 1], { seed: 21, dtype }), randn([3, 8], { seed: 22, dtype }), randn([3, 1], { seed: 23, dtype })];
      const X = randn([6, 10], { seed: 24, dtype });
      const Y = randn([3, 10], { seed: 25, dtype });
      const update = (w: Tensor[]) => {
        const tape = new Tape();
        const c = tape.record(() => mean(square(sub(add(matmul(w[2], sigmoid(add(matmul(w[0], X), w[1]))), w[3]), Y))));
        const g = tape.gradient(c, w);
        return w.map((p, i) => sub(p, mul(g[i], 0.3)));
      };
      let free = init;
      let tidied = init;
      for (let s = 0; s < 5; s++) {
        free = update(free);
        tidied = tidy(() => update(tidied));
      }
      free.forEach((p, i) => expect(bits(p), `${dtype} parameter ${i}`).toEqual(bits(tidied[i])));
    }
  });
});
