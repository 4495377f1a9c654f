/**
 * The folded SGD update of core's arithmetic ops (`sub(w, mul(g, s))` outside tidy runs as
 * one subScaled call on a deferred product: packages/core/src/ops/arithmetic.ts) gives, on
 * every backend, bit for bit what that backend's mul then sub (or add) kernels give — NaN,
 * ±∞, ±0, subnormals, float32 overflow and scalars float32 cannot hold included — and a
 * deferred product read later is that backend's mul. Sizes reach past the native and wasm
 * backends' small-array thresholds, so their own kernels run, not js's.
 *
 * The same for a parameter's deferred matmul gradient (packages/core/src/ops/matmul.ts): the
 * README's loop outside tidy — a new Tape per step, `tape.gradient`, `sub(W, mul(dW, lr))`,
 * the product computed into a scratch buffer by the update — trains bit for bit the weights
 * the same loop trains inside tidy (where nothing is deferred), and dW read afterwards is the
 * backend's matmul, in all four transpose variants and both dtypes.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type DType, Tape, type Tensor, add, keep, matmulT, mean, mul, randn, setBackend, sigmoid, square, sub, tensor, tidy } from '@tapegrad/core';
import { deferredValuesOf } from '../packages/core/src/tensor.js';
import { initWasmBackend } from '../packages/backend-wasm/src/index.js';
import { initNativeBackendOrWarn } from '../packages/backend-native/src/index.js';

const SEED = 42;
const wasm = initWasmBackend();
// native where its addon was built (else one warning says why)
const native = initNativeBackendOrWarn();
afterEach(() => setBackend('js'));

function bits(t: Tensor): string[] {
  return Array.from(t.data, (v) => (Object.is(v, -0) ? '-0' : String(v)));
}

/** mul computed at once (read), so that the op after it runs its own kernel on it. */
function eagerMul(x: Tensor | number, y: Tensor | number): Tensor {
  const product = mul(x, y);
  void product.data;
  return product;
}

const special = fc.constantFrom(0, -0, Infinity, -Infinity, NaN, 1e-40, -3e-39, 3.4e38, -1e39);
const value = fc.oneof({ weight: 4, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) }, { weight: 1, arbitrary: special });
const scalar = fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), fc.constantFrom(0.1, 0.3, 0.05, -0, 1e-30, 3e38, NaN));
/** 1 to 300 elements (the fast backends hand arrays below ≈ 100 elements to js's kernels). */
const operands = fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.array(value, { minLength: n, maxLength: n }), fc.array(value, { minLength: n, maxLength: n })));

const backends = ['js', wasm.name, ...(native ? [native.name] : [])];

for (const backend of backends) {
  describe(`${backend}: the folded update equals mul then sub on this backend`, () => {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${dtype}: sub(w, mul(g, s)), add(w, mul(g, s)), add(mul(s, g), w), and the deferred product itself`, () => {
        setBackend(backend);
        fc.assert(
          fc.property(operands, scalar, ([w0, g0], s) => {
            const make = (values: number[], d: DType) => tensor(d === 'float64' ? Float64Array.from(values) : Float32Array.from(values), { shape: [values.length], dtype: d });
            const w = make(w0, dtype);
            const g = make(g0, dtype);
            const product = mul(g, s);
            const folded = [sub(w, product), add(w, mul(g, s)), add(mul(s, g), w)];
            expect(deferredValuesOf(product), 'sub folded the product without computing it').not.toBeNull();
            const unfused = [sub(w, eagerMul(g, s)), add(w, eagerMul(g, s)), add(eagerMul(s, g), w)];
            folded.forEach((f, i) => expect(bits(f), `form ${i}`).toEqual(bits(unfused[i])));
            expect(bits(product)).toEqual(bits(eagerMul(g, s)));
          }),
          { seed: SEED, numRuns: 40 },
        );
      });
    }
  });
}

for (const backend of backends) {
  describe(`${backend}: the user loop with deferred matmul gradients trains the weights it trains inside tidy`, () => {
    it('two layers, three steps, float32 and float64, every transpose variant: weights and the gradients read afterwards, bit for bit', () => {
      setBackend(backend);
      fc.assert(
        fc.property(fc.boolean(), fc.boolean(), fc.constantFrom<DType>('float32', 'float64'), fc.integer({ min: 1, max: 1000 }), (tA, tB, dtype, seed) => {
          // Z¹ = op(W¹)·op(X) with W¹ 40×48 and X 48×24, then a 10×40 layer: past the fast backends' thresholds
          const init = [randn(tA ? [48, 40] : [40, 48], { seed, dtype }), randn([40, 1], { seed: seed + 1, dtype }), randn([10, 40], { seed: seed + 2, dtype })];
          const X = randn(tB ? [24, 48] : [48, 24], { seed: seed + 3, dtype });
          const Y = randn([10, 24], { seed: seed + 4, dtype });
          const step = (w: Tensor[]) => {
            const tape = new Tape();
            const c = tape.record(() => mean(square(sub(matmulT(w[2], sigmoid(add(matmulT(w[0], X, tA, tB), w[1]))), Y))));
            const g = tape.gradient(c, w);
            return { g, next: w.map((p, i) => sub(p, mul(g[i], 0.05))) };
          };
          let free = init;
          let tidied = init;
          let lastFree: Tensor[] = [];
          let lastTidied: Tensor[] = [];
          for (let s = 0; s < 3; s++) {
            const f = step(free);
            free = f.next;
            lastFree = f.g;
            const t = tidy(() => {
              const r = step(tidied);
              return { g: r.g.map((x) => keep(x)), next: r.next };
            });
            tidied = t.next;
            lastTidied = t.g;
          }
          expect(deferredValuesOf(lastFree[0]), 'W¹\'s gradient was folded into the update uncomputed').not.toBeNull();
          free.forEach((p, i) => expect(bits(p), `parameter ${i}`).toEqual(bits(tidied[i])));
          lastFree.forEach((g, i) => expect(bits(g), `gradient ${i}`).toEqual(bits(lastTidied[i])));
        }),
        { seed: SEED, numRuns: 8 },
      );
    });
  });
}
