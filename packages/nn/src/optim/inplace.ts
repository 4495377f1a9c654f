import {
  type Backend, type DType, type Storage, type Tensor, DeviceTensorError, ValueError, getBackend, isDeviceArray,
} from '@tapegrad/core';

/**
 * The element-wise kernels of the ops an optimiser's update formula is written in, run
 * straight on typed arrays: each call is the one backend kernel the op would run, with the
 * same operands in the same order and a scalar lifted as the ops lift it (one element of the
 * operand's dtype, shape []), so the numbers are bit for bit those of the formula built from
 * ops, on every backend — but the result goes into a buffer the caller owns (a state
 * buffer, θ itself, a scratch) instead of a fresh tensor per intermediate.
 *
 * Every array passed is full-size (the parameter's size) or a scalar; `out` may be one of
 * the inputs (the Backend contract allows that).
 */
export class InPlace {
  readonly #backend: Backend;
  readonly #shape: readonly number[];
  readonly #dtype: DType;

  constructor(dtype: DType, shape: readonly number[]) {
    this.#backend = getBackend();
    this.#shape = shape;
    this.#dtype = dtype;
  }

  /**
   * out = a ⊙ s for the ops' `kernel(a, s)` with a number s, lifted afresh for each call as the
   * ops lift it: an array rewritten before each call would give a recorded step's calls (fit's
   * replay) only its last value.
   */
  scalarRight(kernel: 'add' | 'sub' | 'mul' | 'div', a: Storage, s: number, out: Storage): void {
    this.scalarArrayRight(kernel, a, this.#dtype === 'float64' ? Float64Array.of(s) : Float32Array.of(s), out);
  }

  /**
   * `scalarRight` with the scalar already in a one-element array of the parameter's dtype:
   * the same kernel call and numbers, reading the array when the call runs (Adam's bias
   * correction, which a replayed step writes anew before its kernels).
   */
  scalarArrayRight(kernel: 'add' | 'sub' | 'mul' | 'div', a: Storage, scalar: Float32Array | Float64Array, out: Storage): void {
    this.#backend.binary(kernel, a, this.#shape, scalar, [], out, this.#shape);
  }

  /** out = a ⊙ b for two full-size operands. */
  binary(kernel: 'add' | 'sub' | 'mul' | 'div', a: Storage, b: Storage, out: Storage): void {
    this.#backend.binary(kernel, a, this.#shape, b, this.#shape, out, this.#shape);
  }

  unary(kernel: 'sqrt', x: Storage, out: Storage): void {
    this.#backend.unary(kernel, x, out, 0);
  }

  /**
   * out = y − s·x in one backend call: the numbers of sub(y, mul(x, s)) (the Backend
   * contract rounds as those two kernels do, and never fuses), one pass instead of two and
   * no buffer for s·x.
   */
  subScaled(y: Storage, x: Storage, s: number, out: Storage): void {
    this.#backend.subScaled(y, x, s, out);
  }
}

/**
 * Overwrites the leaf `t`'s values in place by `fn` on its storage, as `assignInPlace` does
 * on the CPU; on a device, where `assignInPlace` cannot hand over a typed array, fn gets the
 * device array (for backend kernels) and the version is bumped as `assign` bumps it, so a
 * recording that read the old values still fails.
 */
export function updateInPlace(optimizer: string, t: Tensor, fn: (storage: Storage) => void): void {
  const storage = t.storage;
  if (!isDeviceArray(storage)) {
    t.assignInPlace(fn);
    return;
  }
  if (t.node) throw new ValueError(optimizer, `only leaf tensors can be updated; this [${t.shape.join(',')}] tensor was produced by '${t.node.def.name}'`);
  const backend = getBackend();
  if (backend.name !== storage.device) {
    throw new DeviceTensorError(optimizer, `parameter [${t.shape.join(',')}] lives on the '${storage.device}' device but the active backend is '${backend.name}'; switch back with setBackend('${storage.device}')`);
  }
  try {
    fn(storage);
  } finally {
    t.version++;
  }
}

/** Copies all of `source` into `target` (same length), on the CPU or on the active backend's device. */
export function copyInto(source: Storage, target: Storage): void {
  if (!isDeviceArray(target)) {
    if (isDeviceArray(source)) throw new DeviceTensorError('copyInto', `a '${source.device}' device array cannot be copied into CPU memory synchronously`);
    target.set(source);
    return;
  }
  const memory = getBackend().memory;
  if (memory === undefined) throw new DeviceTensorError('copyInto', `the active backend '${getBackend().name}' has no device memory to copy into`);
  if (isDeviceArray(source)) memory.copy(source, target);
  else memory.write(target, source);
}

/**
 * The typed error of an optimiser that reads values on the CPU (a line search's loss, an
 * element-wise branch per coordinate) when a parameter lives on a device.
 */
export function refuseDevice(optimizer: string, params: readonly Tensor[], alternative: string): void {
  const onDevice = params.find((p) => p.device !== 'cpu');
  if (onDevice) {
    throw new DeviceTensorError(optimizer, `parameter [${onDevice.shape.join(',')}] lives on the '${onDevice.device}' device, but ${optimizer} reads values on the CPU at every step; ${alternative}`);
  }
}

/**
 * Scratch buffers for the intermediates of an update, one set per optimiser and dtype, as
 * large as the largest parameter seen and reused by every parameter and every step: after
 * the first step an update allocates nothing, and the memory cost is a few copies of one
 * parameter rather than of all of them.
 */
export class Scratch {
  #buffers: Record<'float32' | 'float64', Array<Float32Array | Float64Array>> = { float32: [], float64: [] };
  /**
   * On a device backend: device arrays by backend, dtype, slot and size. A device array
   * cannot be viewed at a smaller size, so each parameter size has its own set (still a few
   * copies of each distinct shape, allocated on the first step only).
   */
  #device = new Map<string, Storage>();

  /**
   * Buffer `slot` (0, 1, …) of `size` elements of `dtype` where the active backend computes
   * (its device memory, else a typed array); its contents are garbage.
   */
  get(dtype: DType, size: number, slot: number): Storage {
    const backend: Backend = getBackend();
    const memory = backend.memory;
    if (memory !== undefined) {
      const key = `${backend.name}:${dtype}:${slot}:${size}`;
      let array = this.#device.get(key);
      if (!array) {
        array = memory.allocate(dtype, size, false);
        this.#device.set(key, array);
      }
      return array;
    }
    const kind = dtype === 'float64' ? 'float64' : 'float32';
    const list = this.#buffers[kind];
    let buffer = list[slot];
    if (!buffer || buffer.length < size) {
      buffer = kind === 'float64' ? new Float64Array(size) : new Float32Array(size);
      list[slot] = buffer;
    }
    if (buffer.length === size) return buffer;
    // the same view every step for a size: a step that is the same work hands the kernels the
    // same arrays (fit's step replay compares two steps' arguments)
    const key = `${kind}:${slot}:${size}`;
    let view = this.#views.get(key);
    if (view === undefined || view.buffer !== buffer.buffer) {
      view = buffer.subarray(0, size);
      this.#views.set(key, view);
    }
    return view;
  }

  /** Views of the CPU buffers at smaller sizes, by dtype, slot and size. */
  #views = new Map<string, Float32Array | Float64Array>();

  clear(): void {
    this.#buffers = { float32: [], float64: [] };
    this.#views.clear();
    for (const array of this.#device.values()) if (isDeviceArray(array)) array.dispose();
    this.#device.clear();
  }
}
