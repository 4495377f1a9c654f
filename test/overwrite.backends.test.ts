/**
 * Inside tidy(), element-wise ops and matmul get their output buffer from the pool without
 * zeroing it (allocateForOverwrite): the kernel must write every element. Here the pool is
 * first filled with NaN-filled buffers of exactly the sizes the ops below will ask for, so a
 * kernel that skips an element (a tail, an edge tile, the k = 0 product) leaves a NaN that
 * the comparison catches — on every registered backend, for sizes on both sides of the wasm
 * backend's small-call thresholds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Tensor, add, emptyPool, full, listBackends, matmul, matmulT, memoryStats, mul, relu, resetMemoryStats, setBackend, sigmoid, softplus, sub, tensor, tidy,
  argmax, cumsum, scatterAdd, take,
} from '@tapegrad/core';
import { initWasmBackend } from '../packages/backend-wasm/src/index.js';
import { initNativeBackendOrWarn } from '../packages/backend-native/src/index.js';

initWasmBackend();
initNativeBackendOrWarn();
afterEach(() => setBackend('js'));

/** Leaves released NaN buffers of each size in the pool (tidy releases what it created). */
function poison(sizes: number[]): void {
  emptyPool();
  tidy(() => {
    for (const size of sizes) for (let copy = 0; copy < 4; copy++) full([size], Number.NaN);
  });
}

const ramp = (rows: number, cols: number, scale: number): Tensor =>
  tensor(Float32Array.from({ length: rows * cols }, (_, i) => (i % 7) * scale - 1), { shape: [rows, cols], dtype: 'float32' });

describe.each(listBackends())('on %s, outputs from unzeroed pool buffers are written in full', (backend) => {
  for (const [m, k, n] of [[3, 5, 7], [30, 13, 10], [64, 40, 17], [4, 0, 6]] as const) {
    it(`matmul ${m}×${k}×${n} (all four transpose variants) and element-wise ops on its output`, () => {
      const a = ramp(m, k, 0.25), b = ramp(k, n, 0.5), bias = ramp(m, 1, 0.125);
      setBackend('js');
      const expected = {
        c: matmul(a, b).toFlatArray(),
        cT: matmulT(a.T, b.T, true, true).toFlatArray(),
        act: sigmoid(add(matmul(a, b), bias)).toFlatArray(),
        relu: relu(sub(matmul(a, b), 1)).toFlatArray(),
        sp: softplus(mul(matmul(a, b), -2)).toFlatArray(),
      };
      setBackend(backend);
      poison([m * n]);
      resetMemoryStats();
      const got = tidy(() => {
        const c = matmul(a, b);
        return {
          c: c.toFlatArray(),
          cT: matmulT(a.T, b.T, true, true).toFlatArray(),
          act: sigmoid(add(c, bias)).toFlatArray(),
          relu: relu(sub(c, 1)).toFlatArray(),
          sp: softplus(mul(c, -2)).toFlatArray(),
        };
      });
      // the outputs really came from the poisoned pool
      expect(memoryStats().reused).toBeGreaterThanOrEqual(4);
      for (const key of Object.keys(expected) as Array<keyof typeof expected>) {
        expect(got[key].some(Number.isNaN), `${key} has an unwritten element`).toBe(false);
        got[key].forEach((v, i) => expect(v).toBeCloseTo(expected[key][i], 4));
      }
    });
  }

  it('take, cumsum and argmax write every element; scatterAdd (which accumulates) gets a zeroed buffer', () => {
    const x = ramp(6, 5, 0.25);
    const ids = [[4, 0], [4, 5], [1, 1]]; // 6 rows of 5: 30 elements, x's size
    setBackend('js');
    const expected = {
      take: take(x, ids, 0).toFlatArray(),
      cumsum: cumsum(x, 0, { exclusive: true }).toFlatArray(),
      argmax: argmax(x, 1).toFlatArray(),
      scatter: scatterAdd(take(x, ids, 0), ids, 0, 6).toFlatArray(),
    };
    setBackend(backend);
    poison([30, 6]);
    resetMemoryStats();
    const got = tidy(() => ({
      take: take(x, ids, 0).toFlatArray(),
      cumsum: cumsum(x, 0, { exclusive: true }).toFlatArray(),
      argmax: argmax(x, 1).toFlatArray(),
      scatter: scatterAdd(take(x, ids, 0), ids, 0, 6).toFlatArray(),
    }));
    expect(memoryStats().reused).toBeGreaterThanOrEqual(4);
    for (const key of Object.keys(expected) as Array<keyof typeof expected>) {
      expect(got[key].some(Number.isNaN), `${key} has an unwritten element`).toBe(false);
      expect(got[key], key).toEqual(expected[key]);
    }
  });
});
