import { anomalyDetection } from '../anomaly.js';
import { type Backend, getBackend } from '../backend/index.js';
import type { DType, TypedArray } from '../dtype.js';
import { borrowScratch, inScope, outsideTidy, returnScratch } from '../memory.js';
import { apply } from '../op.js';
import { hasActiveRecorders } from '../recording.js';
import { type Shape, sameShape } from '../shape.js';
import { outputStorage } from '../storage.js';
import { type DeferredValues, Tensor, deferredTensor, deferredValuesOf, lendSource } from '../tensor.js';
import { binaryOp, unaryOp } from './elementwise.js';
import { type TensorLike, liftPair } from './lift.js';
import { unbroadcast } from './layout.js';

/**
 * add, sub, mul, div and neg. Binary ops broadcast as NumPy does; the gradient of a
 * broadcast operand is summed back to its own shape by `unbroadcast`, written once.
 */

// d(a+b) = da + db
export const addOp = binaryOp('add', 'add', (dy, { inputs: [a, b] }) => [
  () => unbroadcast(dy, a.shape),
  () => unbroadcast(dy, b.shape),
]);

// d(a−b) = da − db
export const subOp = binaryOp('sub', 'sub', (dy, { inputs: [a, b] }) => [
  () => unbroadcast(dy, a.shape),
  () => unbroadcast(neg(dy), b.shape),
]);

// d(a·b) = b·da + a·db
export const mulOp = binaryOp('mul', 'mul', (dy, { inputs: [a, b] }) => [
  () => unbroadcast(mul(dy, b), a.shape),
  () => unbroadcast(mul(dy, a), b.shape),
]);

// d(a/b) = da/b − (a/b²)·db; the output a/b is reused for the second term
export const divOp = binaryOp('div', 'div', (dy, { inputs: [a, b], output }) => [
  () => unbroadcast(div(dy, b), a.shape),
  () => unbroadcast(neg(mul(dy, div(output, b))), b.shape),
]);

// d(−x) = −dx
export const negOp = unaryOp('neg', 'neg', (dy) => [() => neg(dy)]);

/** a + b, broadcasting. */
export function add(a: TensorLike, b: TensorLike): Tensor {
  // a + s·x = a − (−s)·x exactly (negation is exact, and fl(−s) = −fl(s)); addition commutes
  const scaled = a instanceof Tensor && b instanceof Tensor ? foldable(a, b) ?? foldable(b, a) : null;
  if (scaled !== null) {
    const [other, values] = scaled;
    return apply(addOp, [a as Tensor, b as Tensor], undefined, (backend, _outShape, dtype) => subtractScaled(backend, other, values, -values.scalar, dtype));
  }
  return apply(addOp, liftPair('add', a, b), undefined);
}

/** a − b, broadcasting. */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  const scaled = a instanceof Tensor && b instanceof Tensor ? foldable(a, b) : null;
  if (scaled !== null) {
    const [other, values] = scaled;
    return apply(subOp, [a as Tensor, b as Tensor], undefined, (backend, _outShape, dtype) => subtractScaled(backend, other, values, values.scalar, dtype));
  }
  return apply(subOp, liftPair('sub', a, b), undefined);
}

/** a ⊙ b (element-wise), broadcasting. */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number' && a instanceof Tensor) return deferScaled(a, b, false) ?? apply(mulOp, liftPair('mul', a, b), undefined);
  if (typeof a === 'number' && b instanceof Tensor) return deferScaled(b, a, true) ?? apply(mulOp, liftPair('mul', a, b), undefined);
  return apply(mulOp, liftPair('mul', a, b), undefined);
}

/** a / b (element-wise), broadcasting. */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return apply(divOp, liftPair('div', a, b), undefined);
}

/** −x. */
export function neg(x: Tensor): Tensor {
  return apply(negOp, [x], undefined);
}

/*
 * The functional SGD update `w = sub(w, mul(g, lr))` outside tidy: mul's output is usually
 * read by that sub alone, so it is deferred — a tensor whose values mul computes only if
 * something else reads them — and sub folds it into one subScaled kernel (y − s·x, rounded
 * as mul then sub round, never fused: the Backend contract), one fresh buffer and one pass
 * instead of two of each and a lifted scalar. Why only outside tidy and any recording: there
 * every fresh buffer is a new ArrayBuffer that V8 must create, account and sweep (inside
 * tidy the pool reuses buffers, and a recording or a gradient-requiring operand must record
 * mul's node as always); a deferred tensor has no node, exactly as mul's output there has
 * none, so the tape (grad-of-grad included) never sees a difference.
 */

/**
 * mul(x, s) (or mul(s, x) when scalarFirst) of a number s, computed when first read. x is
 * x's lent buffer, or x's own deferred values when x is a weight gradient not computed yet
 * (ops/matmul.ts): then they are computed into a pooled scratch buffer for the one kernel call
 * that reads them, and the update `sub(W, mul(dW, lr))` creates no gradient buffer at all.
 */
class ScaledValues implements DeferredValues {
  constructor(
    readonly backend: Backend, readonly x: TypedArray | DeferredValues, readonly shape: Shape, readonly scalar: number,
    readonly scalarFirst: boolean, readonly dtype: DType,
  ) {}

  get size(): number {
    const x = this.x;
    return ArrayBuffer.isView(x) ? x.length : x.size;
  }

  compute(): TypedArray {
    const { backend, shape, dtype } = this;
    const s = dtype === 'float64' ? Float64Array.of(this.scalar) : Float32Array.of(this.scalar); // the lifted scalar
    // mul's own forward; outside tidy (as the call was): the buffer is this tensor's own, never the pool's
    return withValuesOf(this, (x) => outsideTidy(() => (this.scalarFirst
      ? mulOp.forward(backend, [s, x], [[], shape], shape, dtype, undefined)
      : mulOp.forward(backend, [x, s], [shape, []], shape, dtype, undefined))) as TypedArray);
  }
}

/** use(x's values): x's lent buffer, or its deferred values computed into a scratch buffer lent for the call. */
function withValuesOf<T>(values: ScaledValues, use: (x: TypedArray) => T): T {
  const x = values.x;
  if (ArrayBuffer.isView(x)) return use(x);
  const scratch = borrowScratch(values.dtype, x.size);
  try {
    x.computeInto!(scratch);
    return use(scratch);
  } finally {
    returnScratch(scratch);
  }
}

/** mul(x, s) deferred, or null where it must run now (the conditions above; a device backend). */
function deferScaled(x: Tensor, s: number, scalarFirst: boolean): Tensor | null {
  if (inScope() || hasActiveRecorders() || x.requiresGrad || anomalyDetection || x.released || x.device !== 'cpu') return null;
  const backend = getBackend();
  if (backend.memory !== undefined) return null;
  return deferredTensor(new ScaledValues(backend, lendSource(x), x.shape, s, scalarFirst, x.dtype), x.shape, x.dtype);
}

/**
 * [y, scaled's deferred values] when y ∘ scaled may run as one subScaled: the same shape
 * (no broadcast) and dtype, y on the CPU, and the backend that would have computed the
 * product still active.
 */
function foldable(y: Tensor, scaled: Tensor): [Tensor, ScaledValues] | null {
  const values = deferredValuesOf(scaled);
  if (!(values instanceof ScaledValues) || y.dtype !== values.dtype || !sameShape(y.shape, values.shape)) return null;
  if (y.released || y.device !== 'cpu' || getBackend() !== values.backend) return null;
  return [y, values];
}

/** y − s·x into a new output, x and the backend those of `values`. */
function subtractScaled(backend: Backend, y: Tensor, values: ScaledValues, s: number, dtype: DType): TypedArray {
  // y's values first: if y is deferred too, computing them must not come between the output's
  // allocation and its tensor (the pool matches the two)
  const ys = y.storage;
  return withValuesOf(values, (x) => {
    const out = outputStorage(backend, dtype, x.length, false) as TypedArray;
    backend.subScaled(ys, x, s, out);
    return out;
  });
}
