import type { Backend } from './backend/backend.js';
import type { DType, TypedArray } from './dtype.js';
import { allocateBuffer } from './memory.js';
import { noteCopy } from './step-hooks.js';

/**
 * Where a tensor's values live. On the CPU they are a typed array that every synchronous
 * reader sees directly; on a device (a GPU backend) they are a {@link DeviceArray} that only
 * the owning backend's kernels touch, read back asynchronously (`await t.dataAsync()`).
 * Ops only enqueue work, so a whole training step runs on the device and the CPU waits
 * once, at the edge, for the numbers it needs.
 */

/**
 * Memory owned by a device backend (a GPU). Only that backend's kernels read or write it;
 * the CPU sees a copy through read().
 */
export interface DeviceArray {
  /** The owning backend's name, e.g. 'webgpu'. */
  readonly device: string;
  readonly dtype: DType;
  /** Elements. */
  readonly length: number;
  /** A fresh CPU copy of the values, after all work enqueued so far. */
  read(): Promise<TypedArray>;
  /**
   * Gives the memory back to the owner's pool. Called once, by tidy's release (or never: the
   * owner may also reclaim it when the DeviceArray is garbage-collected).
   */
  dispose(): void;
}

/** A tensor's values: a typed array on the CPU, or a DeviceArray on a device. */
export type Storage = TypedArray | DeviceArray;

/** Whether the values live on a device (not a typed array the CPU can read). */
export function isDeviceArray(s: Storage): s is DeviceArray {
  return !ArrayBuffer.isView(s);
}

/**
 * The buffer an op's forward writes its output into, where the active backend keeps memory:
 * its device memory if it has any, else the pooled CPU allocator. `zeroed` false promises
 * that the kernel writes every element (inside tidy a reused CPU buffer then skips its memset).
 */
export function outputStorage(backend: Backend, dtype: DType, size: number, zeroed: boolean): Storage {
  const memory = backend.memory;
  return memory === undefined ? allocateBuffer(dtype, size, zeroed) : memory.allocate(dtype, size, zeroed);
}

/**
 * Values an op computed on the CPU (a cast, a constant, a mask), placed where `backend`
 * keeps memory: uploaded to its device if it has one, else returned as they are.
 */
export function placed(backend: Backend, data: TypedArray): Storage {
  const memory = backend.memory;
  return memory === undefined ? data : memory.upload(data);
}

/**
 * A CPU buffer for values about to be {@link placed} on `backend`: from the pool when they
 * stay on the CPU (as every CPU output), a plain one when they are only staged for an upload
 * (the pool would never see it again).
 */
export function stagingBuffer(backend: Backend, dtype: DType, size: number): TypedArray {
  if (backend.memory === undefined) return allocateBuffer(dtype, size);
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

/** Copies all of `source` into `target` (same length) on `backend`: on its device, or on the CPU. */
export function copyStorage(backend: Backend, source: Storage, target: Storage): void {
  const memory = backend.memory;
  if (memory === undefined) {
    noteCopy(source, target);
    (target as TypedArray).set(source as TypedArray);
  } else if (isDeviceArray(source)) memory.copy(source, target as DeviceArray);
  else memory.write(target as DeviceArray, source);
}
