import type { Shape } from '../shape.js';

/**
 * Helpers for backends whose kernels read operands in a few fixed patterns (the wasm and the
 * native backend): which pattern an operand's broadcast is, and how a reduction over adjacent
 * axes collapses to three loops. One definition, so the backends cannot disagree about which
 * calls they take and which they hand to js.
 */

/**
 * How a binary kernel's operand is read over the output seen as [rows, cols]: whole (its own
 * shape), one value, one row repeated (broadcast axes before kept axes: a bias [1, n]) or one
 * value per row (kept axes first: a bias [m, 1], examples as columns).
 */
export const OperandMode = { full: 0, row: 1, column: 2, scalar: 3 } as const;
export type OperandMode = (typeof OperandMode)[keyof typeof OperandMode];

/** How a broadcast operand of a binary kernel lies against the output, so a backend can pick a loop without index arithmetic. */
export interface OperandLayout {
  mode: OperandMode;
  /** Rows of the [rows, cols] view the mode needs; -1 for full and scalar (any view). */
  rows: number;
}

const FULL: OperandLayout = { mode: OperandMode.full, rows: -1 };
const SCALAR: OperandLayout = { mode: OperandMode.scalar, rows: -1 };

/**
 * The pattern in which an operand of `shape` (`size` elements) broadcasts to `outShape`
 * (`outSize` elements), or undefined when it is none of the four (a backend then hands the
 * call to js). Called on every broadcasting call (bias adds), so it is a plain loop: a
 * closure per call cost about as much as the kernel at T3's sizes.
 */
export function operandLayout(shape: Shape, outShape: Shape, size: number, outSize: number): OperandLayout | undefined {
  if (size === outSize) return FULL;
  if (size === 1) return SCALAR;
  const lead = outShape.length - shape.length;
  let firstKept = -1, lastKept = -1, firstBroadcast = -1, lastBroadcast = -1;
  for (let i = 0; i < outShape.length; i++) {
    if (outShape[i] === 1) continue;
    const d = i < lead ? 1 : shape[i - lead];
    if (d === 1) {
      if (firstBroadcast < 0) firstBroadcast = i;
      lastBroadcast = i;
    } else {
      if (firstKept < 0) firstKept = i;
      lastKept = i;
    }
  }
  let axis: number, mode: OperandMode;
  if (lastBroadcast < firstKept) {
    axis = firstKept;
    mode = OperandMode.row;
  } else if (lastKept < firstBroadcast) {
    axis = firstBroadcast;
    mode = OperandMode.column;
  } else return undefined;
  let rows = 1;
  for (let i = 0; i < axis; i++) rows *= outShape[i];
  return { mode, rows };
}

/** Both operands of a binary kernel read over one [rows, cols] view of the output. */
export interface BinaryLayout {
  left: OperandLayout;
  right: OperandLayout;
  /** ≥ 1: the view's rows (1 when neither operand needs a particular count). */
  rows: number;
  cols: number;
}

/**
 * The layouts of a binary kernel's two operands, if both are one of the four patterns and
 * agree on the view's row count (a row bias and a column bias of different heights cannot
 * share one [rows, cols] view); undefined otherwise, and the backend walks the general way.
 */
export function binaryLayout(aShape: Shape, aSize: number, bShape: Shape, bSize: number, outShape: Shape, outSize: number): BinaryLayout | undefined {
  const left = operandLayout(aShape, outShape, aSize, outSize);
  if (left === undefined) return undefined;
  const right = operandLayout(bShape, outShape, bSize, outSize);
  if (right === undefined || (left.rows >= 0 && right.rows >= 0 && left.rows !== right.rows)) return undefined;
  const rows = Math.max(left.rows, right.rows, 1);
  return { left, right, rows, cols: outSize / rows };
}

/**
 * A reduction over adjacent (sorted) axes as [outer, mid, inner]: sum over mid for each
 * (outer, inner). Undefined when the axes are not adjacent (or there are none).
 */
export function adjacentReduction(shape: Shape, axes: readonly number[]): { outer: number; mid: number; inner: number } | undefined {
  if (axes.length === 0) return undefined;
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return undefined;
  let outer = 1, mid = 1, inner = 1;
  const first = axes[0], last = axes[axes.length - 1];
  for (let i = 0; i < shape.length; i++) {
    if (i < first) outer *= shape[i];
    else if (i <= last) mid *= shape[i];
    else inner *= shape[i];
  }
  return { outer, mid, inner };
}
