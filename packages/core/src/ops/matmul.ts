import { allocateForOverwrite } from '../dtype.js';
import { ShapeError, fmt } from '../errors.js';
import { apply, assertTensor, defineOp } from '../op.js';
import type { Tensor } from '../tensor.js';
import { reshape } from './layout.js';

interface MatmulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

const label = (shape: readonly number[], transposed: boolean) => `${fmt(shape)}${transposed ? 'ᵀ' : ''}`;

/**
 * C = op(A)·op(B) for matrices, op = transpose where the flag is set. The flags exist so
 * backprop's A·Bᵀ and Aᵀ·B never materialise a transpose: a backend reads A or B with
 * swapped strides instead. Examples are columns: Z = W·A.
 */
export const matmulOp = defineOp<MatmulAttrs>({
  name: 'matmul',
  shape([a, b], { transposeA, transposeB }) {
    if (a.length !== 2 || b.length !== 2) throw new ShapeError('matmul', `expects two matrices, got ${fmt(a)} · ${fmt(b)}`);
    const [m, kA] = transposeA ? [a[1], a[0]] : [a[0], a[1]];
    const [kB, n] = transposeB ? [b[1], b[0]] : [b[0], b[1]];
    if (kA !== kB) throw new ShapeError('matmul', `inner dimensions differ: ${label(a, transposeA)} · ${label(b, transposeB)}`);
    return [m, n];
  },
  forward(backend, [a, b], [aShape], [m, n], dtype, { transposeA, transposeB }) {
    const k = transposeA ? aShape[0] : aShape[1];
    const out = allocateForOverwrite(dtype, m * n);
    backend.matmul(a, b, out, m, k, n, transposeA, transposeB);
    return out;
  },
  // For C = A·B: dA = dC·Bᵀ and dB = Aᵀ·dC; the flags carry through the four variants
  // (tfjs-core's BatchMatMul_grad). Written in matmul itself, so they differentiate again.
  vjp: (dC, { inputs: [a, b], attrs: { transposeA: tA, transposeB: tB } }) => {
    if (!tA && !tB) return [() => matmulT(dC, b, false, true), () => matmulT(a, dC, true, false)];
    if (!tA && tB) return [() => matmulT(dC, b, false, false), () => matmulT(dC, a, true, false)];
    if (tA && !tB) return [() => matmulT(b, dC, false, true), () => matmulT(a, dC, false, false)];
    return [() => matmulT(b, dC, true, true), () => matmulT(dC, a, true, true)];
  },
});

/** op(a)·op(b) for matrices with explicit transpose flags, with no transposed copy made. */
export function matmulT(a: Tensor, b: Tensor, transposeA = false, transposeB = false): Tensor {
  return apply(matmulOp, [a, b], { transposeA, transposeB });
}

/**
 * Matrix product with NumPy's rules for vectors: a rank-1 left operand is a row vector and
 * a rank-1 right operand a column vector, and the added axis is removed from the result
 * (so vector·vector is a scalar).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  assertTensor('matmul', a, 0);
  assertTensor('matmul', b, 1);
  if (a.rank === 0 || b.rank === 0 || a.rank > 2 || b.rank > 2) {
    throw new ShapeError('matmul', `expects matrices or vectors, got ${fmt(a.shape)} · ${fmt(b.shape)}`);
  }
  if (a.rank === 2 && b.rank === 2) return matmulT(a, b);
  const left = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const right = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  if (left.shape[1] !== right.shape[0]) throw new ShapeError('matmul', `inner dimensions differ: ${fmt(a.shape)} · ${fmt(b.shape)}`);
  const product = matmulT(left, right);
  const shape = [...(a.rank === 2 ? [a.shape[0]] : []), ...(b.rank === 2 ? [b.shape[1]] : [])];
  return reshape(product, shape);
}
