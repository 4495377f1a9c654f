import { type Shape, stridesOf } from '@tapegrad/core';

/**
 * The strided walk shared by the broadcasting element-wise kernels and the layout copies:
 * thread t is a position in row-major order over a shape, and each operand reads or writes
 * at its base offset plus Σ coordinate·stride. The shape and strides are simplified on the
 * CPU first (size-1 axes dropped, axes that every operand steps through contiguously merged),
 * so same-shape operands walk as one flat axis and a bias as two, whatever the rank.
 */

/**
 * Strides reading an operand of `shape` broadcast to `outShape`: 0 along its size-1 axes.
 * A shape of lower rank is right-aligned (leading axes of size 1).
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const padded = new Array<number>(outShape.length - shape.length).fill(1).concat(shape);
  const strides = stridesOf(padded);
  for (let i = 0; i < outShape.length; i++) if (padded[i] === 1 && outShape[i] !== 1) strides[i] = 0;
  return strides;
}

/** Operands a walk kernel can track (its offsets are a vec3). */
const MAX_OPERANDS = 3;

/**
 * The `ints` of a walk over `shape` with one stride list and base offset per operand:
 * [threads, rank, base × 3, shape × rank, strides of operand 0 × rank, of operand 1, …].
 */
export function walkParams(shape: Shape, strides: readonly (readonly number[])[], bases: readonly number[] = []): number[] {
  const threads = shape.reduce((p, d) => p * d, 1);
  const kept: number[] = [];
  const keptStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = kept.length - 1;
    // axis d continues the previous kept axis for every operand: one longer axis
    if (last >= 0 && strides.every((s, k) => keptStrides[k][last] === s[d] * shape[d])) {
      kept[last] *= shape[d];
      strides.forEach((s, k) => (keptStrides[k][last] = s[d]));
    } else {
      kept.push(shape[d]);
      strides.forEach((s, k) => keptStrides[k].push(s[d]));
    }
  }
  const baseSlots = Array.from({ length: MAX_OPERANDS }, (_, k) => bases[k] ?? 0);
  return [threads, kept.length, ...baseSlots, ...kept, ...keptStrides.flat()];
}

/**
 * WGSL: `offsets(t)`, the offsets of operands 0 … operands − 1 (in x, y, z) at thread t of
 * the walk whose {@link walkParams} are bound as `params`.
 */
export function walkFunction(operands: number): string {
  const axes = ['x', 'y', 'z'].slice(0, operands);
  const step = (coordinate: string, k: string) => axes.map((axis, i) => `o.${axis} += ${coordinate} * params[5u + ${i + 1}u * rank + ${k}];`).join(' ');
  // the outermost coordinate is what remains: one division and remainder fewer per thread,
  // none at all for the rank-1 walk of same-shape operands
  return /* wgsl */ `
fn offsets(t: u32) -> vec3<u32> {
  let rank = params[1];
  var rem = t;
  var o = vec3<u32>(params[2], params[3], params[4]);
  for (var d = rank; d > 1u; d--) {
    let k = d - 1u;
    let size = params[5u + k];
    let c = rem % size;
    rem = rem / size;
    ${step('c', 'k')}
  }
  if (rank > 0u) { ${step('rem', '0u')} }
  return o;
}
`;
}
