import {
  type Tensor, Tape, add, createRng, getBackend, logSoftmax, matmul, mean, mul, relu, setBackend, sigmoid, sub, sum,
  tensor, log,
} from '@tapegrad/core';
import { afterEach, describe, expect, it } from 'vitest';
import { initWasmBackend } from '../src/index.js';

/**
 * The op-level check: the same float32 networks, forward and backward on core's Tape, once
 * on 'js' and once on 'wasm'; every gradient must agree. The tape, the ops and their VJPs
 * are shared, so this exercises the kernels as the ops call them: matmul in all four
 * transpose variants (the VJPs use Aᵀ·B and A·Bᵀ), bias adds broadcast over rows and over
 * columns, relu and its step, sigmoid, exp and the sums of unbroadcast and the losses.
 *
 * Tolerance: float32 rounding differs between the backends (summation order, a fused
 * multiply-add, exp's polynomial), by a few units of 2⁻²⁴ relative per op, compounding
 * through a handful of layers. We require every gradient to agree elementwise within
 * 1e-4 of its tensor's largest magnitude (and losses to 1e-5 relative): over 250 times
 * the differences seen (≤ 4e-7), while a wrong kernel is off by order 1.
 */

afterEach(() => setBackend('js'));

const rng = createRng(77);
const randn = (shape: number[], sd = 1) => {
  const n = shape.reduce((p, d) => p * d, 1);
  return tensor(Float32Array.from({ length: n }, () => rng.normal() * sd), { shape });
};

interface Run {
  loss: number;
  grads: Float32Array[];
}

function runOn(backend: string, params: Tensor[], loss: (p: Tensor[]) => Tensor): Run {
  setBackend(backend);
  const tape = new Tape();
  const y = tape.record(() => loss(params));
  const grads = tape.gradient(y, params);
  for (const g of grads) expect(g.dtype).toBe('float32');
  return { loss: y.item(), grads: grads.map((g) => Float32Array.from(g.data)) };
}

function expectClose(wasm: Run, js: Run, names: string[]): void {
  expect(Math.abs(wasm.loss - js.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(js.loss));
  js.grads.forEach((expected, t) => {
    const actual = wasm.grads[t];
    let scale = 0;
    for (const v of expected) scale = Math.max(scale, Math.abs(v));
    expect(scale, `${names[t]} has a nonzero gradient`).toBeGreaterThan(0);
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(actual[i] - expected[i]);
      if (!(d <= 1e-4 * scale)) throw new Error(`d${names[t]}[${i}]: wasm ${actual[i]}, js ${expected[i]} (|Δ| ${d}, allowed ${1e-4 * scale})`);
    }
  });
}

describe("op level: a float32 MLP's gradients on 'wasm' equal those on 'js'", () => {
  it('examples as rows: X·W + b (bias [1, n]), relu, sigmoid, softmax cross-entropy', () => {
    initWasmBackend();
    const [batch, inputs, hidden, hidden2, classes] = [32, 50, 40, 24, 10];
    const x = randn([batch, inputs]);
    const labels = Float32Array.from({ length: batch * classes }, (_, i) => (i % classes === (Math.floor(i / classes) * 7) % classes ? 1 : 0));
    const y = tensor(labels, { shape: [batch, classes] });
    const params = [
      randn([inputs, hidden], Math.sqrt(2 / inputs)), randn([1, hidden], 0.1),
      randn([hidden, hidden2], Math.sqrt(2 / hidden)), randn([hidden2], 0.1),
      randn([hidden2, classes], Math.sqrt(1 / hidden2)), randn([1, classes], 0.1),
    ];
    const loss = ([w1, b1, w2, b2, w3, b3]: Tensor[]) => {
      const h1 = relu(add(matmul(x, w1), b1));
      const h2 = sigmoid(add(matmul(h1, w2), b2));
      const logits = add(matmul(h2, w3), b3);
      // mean over the batch of −Σ y·log softmax
      return mul(mean(sum(mul(y, logSoftmax(logits, 1)), 1)), -1);
    };
    const js = runOn('js', params, loss);
    const wasm = runOn('wasm', params, loss);
    expect(getBackend().name).toBe('wasm');
    expectClose(wasm, js, ['W1', 'b1', 'W2', 'b2', 'W3', 'b3']);
  });

  it('examples as columns: W·A + b (bias [n, 1]), sigmoid, binary cross-entropy (T3-like)', () => {
    initWasmBackend();
    const [batch, inputs, hidden, outputs] = [10, 784, 30, 10];
    const a0 = randn([inputs, batch]);
    const target = tensor(Float32Array.from({ length: outputs * batch }, (_, i) => (i % 3 === 0 ? 1 : 0)), { shape: [outputs, batch] });
    const params = [randn([hidden, inputs], 0.05), randn([hidden, 1]), randn([outputs, hidden], 0.3), randn([outputs, 1])];
    const loss = ([w1, b1, w2, b2]: Tensor[]) => {
      const a1 = sigmoid(add(matmul(w1, a0), b1));
      const a2 = sigmoid(add(matmul(w2, a1), b2));
      // −Σ [t·log a + (1 − t)·log(1 − a)] over the units, mean over the batch
      const bce = add(mul(target, log(a2)), mul(sub(1, target), log(sub(1, a2))));
      return mul(mean(sum(bce, 0)), -1);
    };
    const js = runOn('js', params, loss);
    const wasm = runOn('wasm', params, loss);
    expectClose(wasm, js, ['W1', 'b1', 'W2', 'b2']);
  });

  it('float64 networks give bit-identical gradients (the wasm backend delegates them to js)', () => {
    initWasmBackend();
    const x = tensor(Float64Array.from({ length: 8 * 6 }, () => rng.normal()), { shape: [8, 6] });
    const w = tensor(Float64Array.from({ length: 6 * 4 }, () => rng.normal()), { shape: [6, 4] });
    const b = tensor(Float64Array.from({ length: 4 }, () => rng.normal()), { shape: [1, 4] });
    const f = () => sum(sigmoid(relu(add(matmul(x, w), b))));
    const grads = (backend: string) => {
      setBackend(backend);
      const tape = new Tape();
      const y = tape.record(f);
      return tape.gradient(y, [w, b]).map((g) => Array.from(g.data));
    };
    const js = grads('js');
    expect(grads('wasm')).toEqual(js);
  });
});
