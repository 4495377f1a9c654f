import { type DType, type TypedArray, allocate, dtypeOfArray } from './dtype.js';
import { DTypeError, ShapeError, ValueError, fmt } from './errors.js';
import { ReleasedTensorError, inScope, installTensorHooks, track } from './memory.js';
import type { Node } from './recording.js';
import { type Shape, sameShape, sizeOf } from './shape.js';
import type { TensorLike } from './ops/lift.js';
import type { BackwardOptions } from './tape.js';

/** A nested array of numbers, as written in code: `[[1, 2], [3, 4]]`. */
export type NestedArray = number | readonly NestedArray[];

/**
 * The chainable face of the ops: `a.matmul(b).add(c).sigmoid()`. chain.ts installs each
 * method, forwarding to the plain function of the same name, so there is one
 * implementation of every op. Declared here, merged with the class, rather than by
 * `declare module` in chain.ts: the bundled .d.ts cannot follow an augmentation of an
 * internal module, and exported Tensor as a bare type without these methods.
 */
export interface Tensor {
  /** this + other, broadcast: {@link "@tapegrad/core"!add}. */
  add(other: TensorLike): Tensor;
  /** this − other, broadcast: {@link "@tapegrad/core"!sub}. */
  sub(other: TensorLike): Tensor;
  /** this · other element-wise, broadcast: {@link "@tapegrad/core"!mul}. */
  mul(other: TensorLike): Tensor;
  /** this / other, broadcast: {@link "@tapegrad/core"!div}. */
  div(other: TensorLike): Tensor;
  /** −this: {@link "@tapegrad/core"!neg}. */
  neg(): Tensor;
  /** eˣ element-wise: {@link "@tapegrad/core"!exp}. */
  exp(): Tensor;
  /** Natural logarithm element-wise: {@link "@tapegrad/core"!log}. */
  log(): Tensor;
  /** Square root element-wise: {@link "@tapegrad/core"!sqrt}. */
  sqrt(): Tensor;
  /** |x| element-wise: {@link "@tapegrad/core"!abs}. */
  abs(): Tensor;
  /** x² element-wise: {@link "@tapegrad/core"!square}. */
  square(): Tensor;
  /** x to a constant power: {@link "@tapegrad/core"!pow}. */
  pow(exponent: number): Tensor;
  /** 1 / (1 + e⁻ˣ) element-wise: {@link "@tapegrad/core"!sigmoid}. */
  sigmoid(): Tensor;
  /** Hyperbolic tangent element-wise: {@link "@tapegrad/core"!tanh}. */
  tanh(): Tensor;
  /** max(x, 0) element-wise: {@link "@tapegrad/core"!relu}. */
  relu(): Tensor;
  /** Matrix product this · other (batched over leading axes): {@link "@tapegrad/core"!matmul}. */
  matmul(other: Tensor): Tensor;
  /** Sum over `axes` (all by default): {@link "@tapegrad/core"!sum}. */
  sum(axes?: number | readonly number[], keepDims?: boolean): Tensor;
  /** Mean over `axes` (all by default): {@link "@tapegrad/core"!mean}. */
  mean(axes?: number | readonly number[], keepDims?: boolean): Tensor;
  /** Maximum over `axes` (all by default): {@link "@tapegrad/core"!max}. */
  max(axes?: number | readonly number[], keepDims?: boolean): Tensor;
  /** Minimum over `axes` (all by default): {@link "@tapegrad/core"!min}. */
  min(axes?: number | readonly number[], keepDims?: boolean): Tensor;
  /** Index of the maximum along `axis`: {@link "@tapegrad/core"!argmax}. */
  argmax(axis?: number, keepDims?: boolean): Tensor;
  /** Index of the minimum along `axis`: {@link "@tapegrad/core"!argmin}. */
  argmin(axis?: number, keepDims?: boolean): Tensor;
  /** Element-wise maximum with other, broadcast: {@link "@tapegrad/core"!maximum}. */
  maximum(other: TensorLike): Tensor;
  /** Element-wise minimum with other, broadcast: {@link "@tapegrad/core"!minimum}. */
  minimum(other: TensorLike): Tensor;
  /** Values clamped to [lo, hi]: {@link "@tapegrad/core"!clip}. */
  clip(lo: number, hi: number): Tensor;
  /** Axes permuted by `perm` (reversed by default): {@link "@tapegrad/core"!transpose}. */
  transpose(perm?: readonly number[]): Tensor;
  /** The transpose of a matrix. */
  readonly T: Tensor;
  /** The same values in another shape: {@link "@tapegrad/core"!reshape}. */
  reshape(shape: readonly number[]): Tensor;
  /** The values as one axis: {@link "@tapegrad/core"!flatten}. */
  flatten(): Tensor;
  /** A new axis of size 1 at `axis`: {@link "@tapegrad/core"!expandDims}. */
  expandDims(axis: number): Tensor;
  /** Axes of size 1 removed: {@link "@tapegrad/core"!squeeze}. */
  squeeze(axes?: number | readonly number[]): Tensor;
  /** Broadcast to `shape`: {@link "@tapegrad/core"!broadcastTo}. */
  broadcastTo(shape: readonly number[]): Tensor;
  /** The block starting at `begin` of `size`: {@link "@tapegrad/core"!slice}. */
  slice(begin: readonly number[], size?: readonly number[]): Tensor;
  /** Softmax along `axis`: {@link "@tapegrad/core"!softmax}. */
  softmax(axis?: number): Tensor;
  /** log(softmax) along `axis`, computed stably: {@link "@tapegrad/core"!logSoftmax}. */
  logSoftmax(axis?: number): Tensor;
  /** log Σ eˣ over `axes`, computed stably: {@link "@tapegrad/core"!logSumExp}. */
  logSumExp(axes?: number | readonly number[], keepDims?: boolean): Tensor;
  /** The values in another dtype: {@link "@tapegrad/core"!cast}. */
  cast(dtype: DType): Tensor;
  /** Accumulates ∂this/∂leaf into `.grad` of every leaf created with requiresGrad. */
  backward(dy?: Tensor, options?: BackwardOptions): void;
}

let nextId = 0;

/**
 * An immutable n-dimensional array stored row-major in a typed array of its own (no two
 * tensors share a buffer, so `assign` on one can never change another behind the tape's
 * back). Ops are plain functions (`add(a, b)`) and chainable methods (`a.add(b)`).
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** A number unique to this tensor, for graph printing and debugging. */
  readonly id: number;
  /** The recorded op that produced this tensor, or null for a leaf. Internal to the tape. */
  node: Node | null = null;
  /** Leaves with requiresGrad collect `.grad` on `backward()`; ops on them are recorded. */
  requiresGrad = false;
  /** Accumulated by `backward()` on leaves that require gradients. */
  grad: Tensor | null = null;
  /** Incremented by `assign`, so a gradient through a stale recording is an error. */
  version = 0;
  #data: TypedArray;
  /** LIVE, KEPT (by keep(): tidy never releases it) or RELEASED (by tidy: every read throws). */
  #state = LIVE;
  /** Whether #data came from the buffer pool for this tensor alone, so releasing may recycle it. */
  #pooled = false;

  /** Takes ownership of `data` without copying or checking: ops and creation functions call it. */
  constructor(data: TypedArray, shape: Shape, dtype: DType = dtypeOfArray(data)) {
    this.#data = data;
    // a frozen shape (an input's, returned as is by an element-wise op's shape rule) cannot
    // change under us, so it is shared instead of copied
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze(shape.slice());
    this.dtype = dtype;
    this.id = nextId++;
    if (inScope()) this.#pooled = track(this, data);
  }

  static {
    installTensorHooks({
      isTensor: (value: unknown): value is Tensor => value instanceof Tensor,
      release(t: Tensor) {
        t.#state = RELEASED;
        return t.#pooled ? t.#data : null;
      },
      isKept: (t: Tensor) => t.#state === KEPT,
      isReleased: (t: Tensor) => t.#state === RELEASED,
      markKept(t: Tensor) {
        t.#state = KEPT;
      },
    });
  }

  /** The row-major storage. Treat it as read-only: change a tensor with `assign`. */
  get data(): TypedArray {
    if (this.#state === RELEASED) throw releasedError('Tensor.data', this);
    return this.#data;
  }

  /** True once the tidy() that created this tensor returned without keeping it: its values are gone. */
  get released(): boolean {
    return this.#state === RELEASED;
  }

  /** The storage of a live leaf, which `op` (assign, assignInPlace) may overwrite. */
  #assignable(op: string): TypedArray {
    const data = this.#live(op);
    if (this.node) throw new ValueError(op, `only leaf tensors can be assigned; this ${fmt(this.shape)} tensor was produced by '${this.node.def.name}'`);
    return data;
  }

  /** The storage, or the released-tensor error naming `op`. */
  #live(op: string): TypedArray {
    if (this.#state === RELEASED) throw releasedError(op, this);
    return this.#data;
  }

  get size(): number {
    return this.#data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The value of a tensor with exactly one element. */
  item(): number {
    const data = this.#live('item');
    if (data.length !== 1) throw new ShapeError('item', `expects a tensor with one element, got shape ${fmt(this.shape)}`);
    return data[0];
  }

  /** The values as nested arrays (a plain number for a scalar). */
  toArray(): NestedArray {
    const data = this.#live('toArray');
    const shape = this.shape;
    if (shape.length === 0) return data[0];
    const build = (axis: number, offset: number, stride: number): NestedArray[] => {
      const n = shape[axis];
      const inner = stride / Math.max(n, 1);
      const out: NestedArray[] = [];
      for (let i = 0; i < n; i++) {
        out.push(axis === shape.length - 1 ? data[offset + i] : build(axis + 1, offset + i * inner, inner));
      }
      return out;
    };
    return build(0, 0, this.size);
  }

  /** A plain copy of the values in a new array. */
  toFlatArray(): number[] {
    return Array.from(this.#live('toFlatArray'));
  }

  /** A copy that the tape does not see: gradients stop here. */
  detach(): Tensor {
    const source = this.#live('detach');
    // through allocate(), not slice(): inside tidy the copy reuses a pooled buffer
    const copy = allocate(this.dtype, source.length);
    copy.set(source);
    return new Tensor(copy, this.shape, this.dtype);
  }

  /**
   * Overwrites this leaf's values in place (parameter updates). A recorded op that read the
   * old values can no longer be differentiated; the tape reports that instead of using the
   * new values silently.
   */
  assign(value: Tensor | ArrayLike<number>): this {
    this.#assignable('assign');
    if (value instanceof Tensor) {
      if (value.dtype !== this.dtype) throw new DTypeError('assign', `dtype ${value.dtype} differs from the target's ${this.dtype}`);
      if (!sameShape(value.shape, this.shape)) throw new ShapeError('assign', `shape ${fmt(value.shape)} differs from the target's ${fmt(this.shape)}`);
      this.#data.set(value.data);
    } else {
      if (value === null || typeof value !== 'object' || typeof value.length !== 'number') {
        throw new ValueError('assign', `expects a Tensor or an array of numbers, got ${value === null ? 'null' : typeof value}`);
      }
      if (value.length !== this.size) throw new ShapeError('assign', `${value.length} values for a tensor of shape ${fmt(this.shape)} (${this.size} elements)`);
      // a typed array holds numbers by construction; a plain array is checked, or 'a' would land as NaN
      if (!ArrayBuffer.isView(value)) {
        for (let i = 0; i < value.length; i++) {
          if (typeof value[i] !== 'number') throw new ValueError('assign', `element ${i} is ${typeof value[i]}, not a number`);
        }
      }
      this.#data.set(value);
    }
    this.version++;
    return this;
  }

  /**
   * Overwrites this leaf's values in place by calling `fn` on its storage: `assign` without
   * a temporary tensor, for updates that read and write each element once (optimisers'
   * θ ← θ − η·g on a 100k-element layer is then one pass instead of two ops, two fresh
   * buffers and a copy). Same rules and effect as `assign`: leaves only, and the version
   * is bumped (even if fn throws part-way), so a recording that read the old values fails.
   */
  assignInPlace(fn: (data: TypedArray) => void): this {
    const data = this.#assignable('assignInPlace');
    try {
      fn(data);
    } finally {
      this.version++;
    }
    return this;
  }

  /** Marks a leaf as a parameter whose gradient `backward()` collects into `.grad`. */
  requireGrad(flag = true): this {
    if (this.node && flag) throw new ValueError('requireGrad', `only leaf tensors can require gradients; this one was produced by '${this.node.def.name}'`);
    this.requiresGrad = flag;
    return this;
  }

  /** `Tensor(dtype, [shape])` and the values, NumPy-style (`op=` names the op that made it). */
  toString(): string {
    const head = `Tensor(${this.dtype}, ${fmt(this.shape)}${this.node ? `, op=${this.node.def.name}` : ''})`;
    if (this.#state === RELEASED) return `${head}\n<released when tidy() returned>`;
    return `${head}\n${formatValues(this)}`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** Full values as code that rebuilds the tensor: fast-check prints counterexamples this way. */
  [Symbol.for('fast-check/toStringMethod')](): string {
    if (this.#state === RELEASED) return `/* released ${fmt(this.shape)} tensor */`;
    const values = JSON.stringify(this.toArray());
    return `tensor(${values}, { dtype: '${this.dtype}' }) /* ${fmt(this.shape)} */`;
  }
}

const LIVE = 0;
const KEPT = 1;
const RELEASED = 2;

function releasedError(op: string, t: Tensor): ReleasedTensorError {
  return new ReleasedTensorError(op, `tensor ${fmt(t.shape)} was released when tidy() returned; keep() it or return it from tidy()`);
}

const MAX_SHOWN = 6;

function formatNumber(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
  return Number(v.toPrecision(5)).toString();
}

/** NumPy-like printing, eliding the middle of long axes so a 784×128 weight stays readable. */
function formatValues(t: Tensor): string {
  const { shape, data } = t;
  if (shape.length === 0) return formatNumber(data[0]);
  const render = (axis: number, offset: number, stride: number, indent: string): string => {
    const n = shape[axis];
    const inner = stride / Math.max(n, 1);
    const picks: (number | null)[] = n > MAX_SHOWN ? [0, 1, 2, null, n - 3, n - 2, n - 1] : Array.from({ length: n }, (_, i) => i);
    if (axis === shape.length - 1) {
      return `[${picks.map((i) => (i === null ? '…' : formatNumber(data[offset + i]))).join(', ')}]`;
    }
    const rows = picks.map((i) => (i === null ? '…' : render(axis + 1, offset + i * inner, inner, indent + ' ')));
    return `[${rows.join(`,\n${indent} `)}]`;
  };
  return render(0, 0, t.size, '');
}

/** Whether `value` is a Tensor (of this copy of core). */
export function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor;
}

/** Internal: a fresh zero tensor of a shape, the starting point of every op's output. */
export function emptyTensor(shape: Shape, dtype: DType): Tensor {
  return new Tensor(allocate(dtype, sizeOf(shape)), shape, dtype);
}
