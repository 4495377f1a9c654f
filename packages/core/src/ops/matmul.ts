import { anomalyDetection } from '../anomaly.js';
import { type Backend, getBackend } from '../backend/index.js';
import type { DType, TypedArray } from '../dtype.js';
import { type Storage, outputStorage } from '../storage.js';
import { ShapeError, fmt } from '../errors.js';
import { outsideTidy, scopeDepth } from '../memory.js';
import { apply, assertTensor, defineOp } from '../op.js';
import { hasActiveRecorders, isGradEnabled } from '../recording.js';
import { type Shape, broadcastShapes, sameShape, sizeOf, stridesOf } from '../shape.js';
import { type DeferredValues, type Tensor, deferredTensor, lendValues } from '../tensor.js';
import { reshape, unbroadcast } from './layout.js';

interface MatmulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

const label = (shape: readonly number[], transposed: boolean) => `${fmt(shape)}${transposed ? 'ᵀ' : ''}`;

/** [rows, cols] of op(X) for a stored matrix (the last two axes of `shape`). */
function matrixOf(shape: Shape, transposed: boolean): [number, number] {
  const r = shape[shape.length - 2], c = shape[shape.length - 1];
  return transposed ? [c, r] : [r, c];
}

/**
 * Where each matrix of the batch starts, in elements, for an operand whose batch axes
 * `batch` broadcast to `outBatch`: a broadcast axis has stride 0, so a shared operand (a
 * weight against a batch of inputs) is read in place, never copied once per batch.
 */
function batchOffsets(batch: Shape, matrixSize: number, outBatch: Shape): Int32Array {
  const count = sizeOf(outBatch);
  const offsets = new Int32Array(count);
  const lead = outBatch.length - batch.length;
  const strides = stridesOf(batch).map((s, i) => (batch[i] === 1 ? 0 : s * matrixSize));
  const index = new Array<number>(outBatch.length).fill(0);
  for (let b = 0, offset = 0; b < count; b++) {
    offsets[b] = offset;
    // advance the odometer over the output's batch axes
    for (let axis = outBatch.length - 1; axis >= 0; axis--) {
      const stride = axis >= lead ? strides[axis - lead] : 0;
      index[axis]++;
      offset += stride;
      if (index[axis] < outBatch[axis]) break;
      offset -= stride * outBatch[axis];
      index[axis] = 0;
    }
  }
  return offsets;
}

/**
 * C = op(A)·op(B) over the last two axes, op = transpose where the flag is set; leading
 * (batch) axes broadcast as in NumPy and PyTorch. The flags exist so backprop's A·Bᵀ and
 * Aᵀ·B never materialise a transpose: a backend reads A or B with swapped strides instead.
 * Examples are columns: Z = W·A.
 */
export const matmulOp = defineOp<MatmulAttrs>({
  name: 'matmul',
  shape([a, b], { transposeA, transposeB }) {
    if (a.length < 2 || b.length < 2) throw new ShapeError('matmul', `expects two matrices or batches of matrices, got ${fmt(a)} · ${fmt(b)}`);
    const [m, kA] = matrixOf(a, transposeA);
    const [kB, n] = matrixOf(b, transposeB);
    if (kA !== kB) throw new ShapeError('matmul', `inner dimensions differ: ${label(a, transposeA)} · ${label(b, transposeB)}`);
    if (a.length === 2 && b.length === 2) return [m, n];
    let batch: number[];
    try {
      batch = broadcastShapes('matmul', a.slice(0, -2), b.slice(0, -2));
    } catch {
      throw new ShapeError('matmul', `batch axes ${fmt(a.slice(0, -2))} and ${fmt(b.slice(0, -2))} cannot be broadcast together: ${fmt(a)} · ${fmt(b)}`);
    }
    return [...batch, m, n];
  },
  forward(backend, [a, b], shapes, outShape, dtype, attrs) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    multiplyInto(backend, a, b, shapes, outShape, attrs, out);
    return out;
  },
  // For C = A·B: dA = dC·Bᵀ and dB = Aᵀ·dC; the flags carry through the four variants
  // (tfjs-core's BatchMatMul_grad). A broadcast batch axis gets the sum of its batches'
  // gradients (unbroadcast). Written in matmul itself, so they differentiate again; a
  // parameter's may be deferred (gradientProduct, below).
  vjp: (dC, { inputs: [a, b], attrs: { transposeA: tA, transposeB: tB } }) => {
    const toA = (x: Tensor, y: Tensor, tx: boolean, ty: boolean) => () => unbroadcast(gradientProduct(a, x, y, tx, ty), a.shape);
    const toB = (x: Tensor, y: Tensor, tx: boolean, ty: boolean) => () => unbroadcast(gradientProduct(b, x, y, tx, ty), b.shape);
    if (!tA && !tB) return [toA(dC, b, false, true), toB(a, dC, true, false)];
    if (!tA && tB) return [toA(dC, b, false, false), toB(dC, a, true, false)];
    if (tA && !tB) return [toA(b, dC, false, true), toB(a, dC, false, false)];
    return [toA(b, dC, true, true), toB(dC, a, true, true)];
  },
});

/** op(a)·op(b) into `out` (every element written): matmul's forward, on any storage. */
function multiplyInto(backend: Backend, a: Storage, b: Storage, [aShape, bShape]: readonly Shape[], outShape: Shape, { transposeA, transposeB }: MatmulAttrs, out: Storage): void {
  const [m, k] = matrixOf(aShape, transposeA);
  const n = outShape[outShape.length - 1];
  if (outShape.length === 2) {
    backend.matmul(a, b, out, m, k, n, transposeA, transposeB);
    return;
  }
  const outBatch = outShape.slice(0, -2);
  const bOffsets = batchOffsets(bShape.slice(0, -2), k * n, outBatch);
  // A stack of A's against one shared B is a single taller product: [batch·m, k]·B
  if (!transposeA && sizeOf(aShape) === sizeOf(outBatch) * m * k && bOffsets.every((o) => o === 0)) {
    backend.matmul(a, b, out, sizeOf(outBatch) * m, k, n, false, transposeB);
    return;
  }
  const aOffsets = batchOffsets(aShape.slice(0, -2), m * k, outBatch);
  backend.matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets);
}

/*
 * A parameter's gradient, deferred. The loop a user writes from the README — a new Tape per
 * step, `tape.gradient`, `W = sub(W, mul(dW, lr))`, no tidy — reads each weight gradient once,
 * through that update, which (ops/arithmetic.ts) folds `mul(dW, lr)` into one subScaled. So
 * outside every tidy of the user's and every recording, the product op(x)·op(y) that is a
 * leaf's gradient is not computed by the VJP: dW is a deferred tensor holding the two
 * operands (lent: an assign gives them a copy, a tidy does not recycle them), the update
 * computes the product into a pooled scratch buffer that it gives back right after its one
 * subScaled call, and dW computes its own values only if something reads dW itself. Why: a
 * gradient computed by the VJP is a fresh ArrayBuffer every step (it escapes the sweep, so the
 * pool never gets it back) — T1's 784×128 W¹ makes 392 KB a step that V8 must create, count
 * as external memory and sweep, and that pressure sets off its collections; the scratch is the
 * same buffer every step. The values are matmul's own kernel on the same operands, so bit for
 * bit what they were; the price is a second product for a dW read after its update (read
 * before it, as gradient clipping does, dW is computed once and the update folds its values).
 * Not deferred, exactly as before: inside a user's tidy (the pool recycles the gradient
 * there), under a recording tape (grad-of-grad, hvp: the product must be recorded), where an
 * operand requires gradients (it would get a node), for an input that is not a leaf (its
 * cotangent feeds the next VJP at once), with anomaly detection on, on a device backend, and
 * for a product that would be summed over broadcast batch axes.
 */

/** op(x)·op(y), the gradient of `input` in matmul's VJP: deferred where the note above allows, else matmulT's. */
function gradientProduct(input: Tensor, x: Tensor, y: Tensor, transposeX: boolean, transposeY: boolean): Tensor {
  return deferredProduct(input, x, y, { transposeA: transposeX, transposeB: transposeY }) ?? matmulT(x, y, transposeX, transposeY);
}

function deferredProduct(input: Tensor, x: Tensor, y: Tensor, attrs: MatmulAttrs): Tensor | null {
  // a backward sweep's own scope is the one open: no tidy of the user's around tape.gradient
  if (input.node !== null || scopeDepth() > 1 || hasActiveRecorders() || anomalyDetection) return null;
  if (isGradEnabled() && (x.requiresGrad || y.requiresGrad)) return null;
  if (x.released || y.released || x.device !== 'cpu' || y.device !== 'cpu' || x.dtype !== y.dtype) return null;
  const backend = getBackend();
  if (backend.memory !== undefined) return null;
  const shapes = [x.shape, y.shape];
  const outShape = matmulOp.shape(shapes, attrs);
  if (!sameShape(outShape, input.shape)) return null;
  return deferredTensor(new ProductValues(backend, lendValues(x), lendValues(y), shapes, outShape, x.dtype, attrs), outShape, x.dtype);
}

/** op(x)·op(y) of two lent CPU buffers, computed when first read (or into a consumer's scratch). */
class ProductValues implements DeferredValues {
  readonly size: number;

  constructor(
    readonly backend: Backend, readonly x: TypedArray, readonly y: TypedArray, readonly shapes: readonly Shape[],
    readonly outShape: Shape, readonly dtype: DType, readonly attrs: MatmulAttrs,
  ) {
    this.size = sizeOf(outShape);
  }

  compute(): TypedArray {
    // matmul's own forward; outside tidy (as a gradient handed out is): the buffer is the tensor's own, never the pool's
    const { backend, x, y, shapes, outShape, dtype, attrs } = this;
    return outsideTidy(() => matmulOp.forward(backend, [x, y], shapes, outShape, dtype, attrs)) as TypedArray;
  }

  computeInto(out: TypedArray): void {
    multiplyInto(this.backend, this.x, this.y, this.shapes, this.outShape, this.attrs, out);
  }
}

/**
 * op(a)·op(b) over the last two axes with explicit transpose flags, with no transposed copy
 * made; leading axes broadcast (both operands of rank ≥ 2).
 */
export function matmulT(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  return apply(matmulOp, [a, b], { transposeA, transposeB });
}

/**
 * Matrix product with NumPy's (and PyTorch's) rules: matrices multiply; leading axes of
 * rank ≥ 3 operands are batch axes and broadcast ([8,1,m,k]·[4,k,n] → [8,4,m,n]); a rank-1
 * left operand is a row vector and a rank-1 right operand a column vector, and the added
 * axis is removed from the result (so vector·vector is a scalar).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  assertTensor('matmul', a, 0);
  assertTensor('matmul', b, 1);
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError('matmul', `expects matrices or vectors, got ${fmt(a.shape)} · ${fmt(b.shape)}`);
  }
  if (a.rank >= 2 && b.rank >= 2) return matmulT(a, b);
  const left = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const right = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  if (left.shape[left.rank - 1] !== right.shape[right.rank - 2]) throw new ShapeError('matmul', `inner dimensions differ: ${fmt(a.shape)} · ${fmt(b.shape)}`);
  const product = matmulT(left, right);
  // drop the row axis a vector on the left added, or the column axis one on the right added
  const shape = product.shape.filter((_, i) => !(a.rank === 1 && i === product.rank - 2) && !(b.rank === 1 && i === product.rank - 1));
  return reshape(product, shape);
}
