import { deviceMemoryOf } from './backend/index.js';
import { type DType, type TypedArray, allocate, dtypeOfArray } from './dtype.js';
import { DTypeError, DeviceTensorError, ShapeError, ValueError, fmt } from './errors.js';
import { ReleasedTensorError, inScope, installTensorHooks, track } from './memory.js';
import type { Node } from './recording.js';
import { type Shape, sameShape } from './shape.js';
import { noteCopy, noteCpuRead, noteCpuWrite } from './step-hooks.js';
import { type DeviceArray, type Storage, isDeviceArray } from './storage.js';
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

/**
 * @internal Values a tensor computes on its first read instead of when it is created: an
 * op's output that a later op may never need as such (ops/arithmetic.ts: `mul(g, lr)`, which
 * `sub(w, ·)` folds into one kernel call). `compute` returns a fresh CPU buffer of `size`
 * elements, exactly what the op would have computed when called; it must not depend on state
 * that can change before then (the buffers it reads are lent: see lendValues).
 */
export interface DeferredValues {
  readonly size: number;
  compute(): TypedArray;
  /**
   * Writes exactly compute()'s values into `out` (`size` elements, any contents), for an op
   * that folds them into its own kernel call and needs them for that call only (ops/matmul.ts:
   * a weight gradient, computed into a pooled scratch buffer by the update that consumes it).
   */
  computeInto?(out: TypedArray): void;
}

/** @internal A tensor whose values are computed on first read: see DeferredValues. */
export let deferredTensor: (values: DeferredValues, shape: Shape, dtype: DType) => Tensor;
/** @internal t's deferred values, if they were not computed yet (null for a released tensor). */
export let deferredValuesOf: (t: Tensor) => DeferredValues | null;
/**
 * @internal t's CPU values, for deferred values to read later: from now on t's buffer stays
 * as it is (an assign to t writes into a copy; tidy does not recycle it).
 */
export let lendValues: (t: Tensor) => TypedArray;
/**
 * @internal As lendValues, except that a tensor whose values are still deferred and can be
 * computed into a buffer (computeInto) lends those deferred values instead, uncomputed: a
 * consumer folding them into its kernel call then needs no buffer of t's (t computes its
 * own values only if something reads t itself).
 */
export let lendSource: (t: Tensor) => TypedArray | DeferredValues;

/** Placeholder storage of a deferred tensor (never read: its values are computed first). */
const NO_VALUES_32 = new Float32Array(0);
const NO_VALUES_64 = new Float64Array(0);

let nextId = 0;

/**
 * An immutable n-dimensional array stored row-major in storage of its own (no two tensors
 * share a buffer, so `assign` on one can never change another behind the tape's back): a
 * typed array on the CPU, or a DeviceArray when a device backend (a GPU) computed or
 * created it — then read the values with the async readers (`await t.dataAsync()`). Ops
 * are plain functions (`add(a, b)`) and chainable methods (`a.add(b)`).
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
  #data: Storage;
  /** LIVE, KEPT (by keep(): tidy never releases it) or RELEASED (by tidy: every read throws). */
  #state = LIVE;
  /** Whether #data came from the buffer pool for this tensor alone, so releasing may recycle it. */
  #pooled = false;
  /** Values not computed yet (a deferred op's output): computed into #data on the first read. */
  #deferred: DeferredValues | null = null;
  /**
   * Whether #data is also read by deferred values (another tensor's, not yet computed): the
   * buffer must then stay as it is — assign gives this tensor a copy first, release does not
   * recycle it.
   */
  #lent = false;

  /**
   * Takes ownership of `data` without copying or checking: ops and creation functions call
   * it. A typed array makes a CPU tensor whatever backend is active (datasets, batch
   * slicing); a DeviceArray a tensor on its device.
   */
  constructor(data: Storage, shape: Shape, dtype: DType = isDeviceArray(data) ? data.dtype : dtypeOfArray(data)) {
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
        // never computed: nothing to give back (and the operands it held are let go)
        if (t.#deferred !== null) {
          t.#deferred = null;
          return null;
        }
        // lent to deferred values that may still be read: the pool must not hand it out again
        if (t.#lent) return null;
        // a tensor owns its device array (ops and creation functions make one per tensor)
        return t.#pooled || isDeviceArray(t.#data) ? t.#data : null;
      },
      isKept: (t: Tensor) => t.#state === KEPT,
      isReleased: (t: Tensor) => t.#state === RELEASED,
      markKept(t: Tensor) {
        t.#state = KEPT;
      },
    });
    deferredTensor = (values, shape, dtype) => {
      const t = new Tensor(dtype === 'float64' ? NO_VALUES_64 : NO_VALUES_32, shape, dtype);
      t.#deferred = values;
      return t;
    };
    deferredValuesOf = (t) => (t.#state === RELEASED ? null : t.#deferred);
    lendValues = (t) => {
      const data = t.#live('lend');
      t.#lent = true;
      return data as TypedArray;
    };
    lendSource = (t) => {
      const deferred = t.#state === RELEASED ? null : t.#deferred;
      // the deferred values read only buffers lent to them: nothing of t's to protect
      return deferred !== null && deferred.computeInto !== undefined ? deferred : lendValues(t);
    };
  }

  /**
   * The row-major values on the CPU. Treat them as read-only: change a tensor with `assign`
   * (which may give the tensor a new array: read `.data` again after it).
   * A DeviceTensorError for a tensor on a device: read it with `await t.dataAsync()`.
   */
  get data(): TypedArray {
    return this.#cpu('Tensor.data', 'dataAsync()');
  }

  /**
   * Where the values are, as they are: a typed array on the CPU or a DeviceArray on a device.
   * For backends and ops, which hand it to kernels without reading it.
   */
  get storage(): Storage {
    if (this.#state === RELEASED) throw releasedError('Tensor.storage', this);
    if (this.#deferred !== null) this.#compute();
    return this.#data;
  }

  /** 'cpu', or the name of the device backend whose memory holds the values (e.g. 'webgpu'). */
  get device(): string {
    if (this.#deferred !== null) return 'cpu';
    const data = this.#data;
    return isDeviceArray(data) ? data.device : 'cpu';
  }

  /** A copy of the values on the CPU, on every tensor: a device's are read back once its queued work is done. */
  async dataAsync(): Promise<TypedArray> {
    const data = this.#live('dataAsync');
    // read() is called now, before any await: the copy is of the values as they are at this call
    return isDeviceArray(data) ? data.read() : data.slice();
  }

  /** The value of a tensor with exactly one element, on every tensor (item() on a device). */
  async itemAsync(): Promise<number> {
    this.#live('itemAsync');
    this.#oneElement('itemAsync');
    return (await this.dataAsync())[0];
  }

  /** The values as nested arrays (a plain number for a scalar), on every tensor. */
  async toArrayAsync(): Promise<NestedArray> {
    return nest(await this.dataAsync(), this.shape);
  }

  /** A plain copy of the values in a new array, on every tensor. */
  async toFlatArrayAsync(): Promise<number[]> {
    return Array.from(await this.dataAsync());
  }

  /** True once the tidy() that created this tensor returned without keeping it: its values are gone. */
  get released(): boolean {
    return this.#state === RELEASED;
  }

  /** The storage of a live leaf, which `op` (assign, assignInPlace) may overwrite. */
  #assignable(op: string): Storage {
    const data = this.#live(op);
    if (this.node) throw new ValueError(op, `only leaf tensors can be assigned; this ${fmt(this.shape)} tensor was produced by '${this.node.def.name}'`);
    if (!this.#lent) return data;
    // deferred values still read the current buffer: they keep it, this tensor writes into a
    // copy of its own (only CPU buffers are ever lent)
    const copy = (data as TypedArray).slice();
    this.#data = copy;
    this.#lent = false;
    this.#pooled = false;
    return copy;
  }

  /** The storage (computed now if it was deferred), or the released-tensor error naming `op`. */
  #live(op: string): Storage {
    if (this.#state === RELEASED) throw releasedError(op, this);
    if (this.#deferred !== null) this.#compute();
    return this.#data;
  }

  #compute(): void {
    const values = this.#deferred!;
    this.#data = values.compute();
    this.#deferred = null;
  }

  /** The values on the CPU for the synchronous reader `op`, or an error naming the async reader to use instead. */
  #cpu(op: string, asyncReader: string): TypedArray {
    noteCpuRead(op);
    const data = this.#live(op);
    if (isDeviceArray(data)) throw new DeviceTensorError(op, `tensor ${fmt(this.shape)} lives on the '${data.device}' device; read it with \`await t.${asyncReader}\``);
    return data;
  }

  #oneElement(op: string): void {
    if (this.size !== 1) throw new ShapeError(op, `expects a tensor with one element, got shape ${fmt(this.shape)}`);
  }

  get size(): number {
    const deferred = this.#deferred;
    return deferred === null ? this.#data.length : deferred.size;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The value of a tensor with exactly one element. */
  item(): number {
    const data = this.#cpu('item', 'itemAsync()');
    this.#oneElement('item');
    return data[0];
  }

  /** The values as nested arrays (a plain number for a scalar). */
  toArray(): NestedArray {
    return nest(this.#cpu('toArray', 'toArrayAsync()'), this.shape);
  }

  /** A plain copy of the values in a new array. */
  toFlatArray(): number[] {
    return Array.from(this.#cpu('toFlatArray', 'toFlatArrayAsync()'));
  }

  /** A copy that the tape does not see: gradients stop here. On a device, a copy on that device. */
  detach(): Tensor {
    const source = this.#live('detach');
    if (isDeviceArray(source)) {
      const memory = deviceMemoryOf('detach', source.device);
      const copy = memory.allocate(this.dtype, source.length, false);
      memory.copy(source, copy);
      return new Tensor(copy, this.shape, this.dtype);
    }
    // through allocate(), not slice(): inside tidy the copy reuses a pooled buffer
    const copy = allocate(this.dtype, source.length);
    noteCopy(source, copy);
    copy.set(source);
    return new Tensor(copy, this.shape, this.dtype);
  }

  /**
   * Overwrites this leaf's values in place (parameter updates). A recorded op that read the
   * old values can no longer be differentiated; the tape reports that instead of using the
   * new values silently.
   */
  assign(value: Tensor | ArrayLike<number>): this {
    const target = this.#assignable('assign');
    if (value instanceof Tensor) {
      if (value.dtype !== this.dtype) throw new DTypeError('assign', `dtype ${value.dtype} differs from the target's ${this.dtype}`);
      if (!sameShape(value.shape, this.shape)) throw new ShapeError('assign', `shape ${fmt(value.shape)} differs from the target's ${fmt(this.shape)}`);
      const source = value.#live('assign');
      if (isDeviceArray(target)) assignOnDevice(target, source);
      else if (isDeviceArray(source)) {
        throw new DeviceTensorError('assign', `the value ${fmt(value.shape)} lives on the '${source.device}' device and the target on the CPU; read it with \`await value.dataAsync()\` and assign that`);
      } else {
        noteCopy(source, target);
        target.set(source);
      }
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
      if (isDeviceArray(target)) {
        const values = this.dtype === 'float64' ? new Float64Array(this.size) : new Float32Array(this.size);
        values.set(value);
        deviceMemoryOf('assign', target.device).write(target, values);
      } else {
        noteCpuWrite('assign');
        target.set(value);
      }
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
    if (isDeviceArray(data)) {
      throw new DeviceTensorError('assignInPlace', `tensor ${fmt(this.shape)} lives on the '${data.device}' device, where fn cannot reach its values; update it with \`t.assign(value)\` (a copy on the device), or read it with \`await t.dataAsync()\``);
    }
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
    const data = this.#live('toString');
    if (isDeviceArray(data)) return `${head}\n<values on the '${data.device}' device: await t.toArrayAsync()>`;
    return `${head}\n${formatValues(this.shape, data)}`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /** Full values as code that rebuilds the tensor: fast-check prints counterexamples this way. */
  [Symbol.for('fast-check/toStringMethod')](): string {
    if (this.#state === RELEASED) return `/* released ${fmt(this.shape)} tensor */`;
    if (this.#deferred === null && isDeviceArray(this.#data)) return `/* ${this.dtype} ${fmt(this.shape)} tensor on the '${this.#data.device}' device */`;
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
function formatValues(shape: readonly number[], data: TypedArray): string {
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
  return render(0, 0, data.length, '');
}

/** Row-major values as nested arrays of `shape` (a plain number for a scalar). */
function nest(data: TypedArray, shape: readonly number[]): NestedArray {
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
  return build(0, 0, data.length);
}

/** assign's copy into a device array: device to device, or an upload of CPU values. */
function assignOnDevice(target: DeviceArray, source: Storage): void {
  const memory = deviceMemoryOf('assign', target.device);
  if (!isDeviceArray(source)) memory.write(target, source);
  // t.assign(t) is a no-op (and a GPU refuses a copy from a buffer onto itself)
  else if (source === target) return;
  else if (source.device === target.device) memory.copy(source, target);
  else throw new DeviceTensorError('assign', `the value lives on the '${source.device}' device and the target on the '${target.device}' device; read it with \`await value.dataAsync()\` and assign that`);
}

/** Whether `value` is a Tensor (of this copy of core). */
export function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor;
}

