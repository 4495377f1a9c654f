import type { DType, TypedArray } from './dtype.js';
import { TapegradError, ValueError, fmt } from './errors.js';
import { type Storage, isDeviceArray } from './storage.js';
import type { Tensor } from './tensor.js';

/**
 * Buffer reuse for training loops: a pool of typed arrays keyed by dtype and exact length,
 * fed by `tidy` scopes, and drawn from by `allocate()` (so every op's output uses it with
 * no change to the op).
 *
 * Design, and why (after TF.js's engine and PyTorch's caching allocator):
 * - TF.js's `tidy(fn)` disposes every tensor created inside fn except what fn returns and
 *   what `keep()` marks; returned tensors move to the enclosing scope. tapegrad does the
 *   same, but a released tensor is never freed under a live reference: its buffer goes to
 *   the pool and the tensor itself turns into a tombstone whose every read throws.
 * - PyTorch's allocator caches freed blocks per size and hands them back to the next
 *   request of that size; a training step repeats the same shapes every iteration, so exact
 *   lengths (no rounding, no splitting: a Tensor's size is its buffer's length) give a hit
 *   on every intermediate from the second step on.
 * - Only buffers that the pool itself handed out, to exactly one tensor, inside a scope, go
 *   back: a tensor built by `new Tensor(myArray, …)`, a view of a larger buffer, or a tensor
 *   created outside every tidy is never recycled (outside tidy nothing changes at all).
 * - Reused buffers are zeroed, as fresh typed arrays are: kernels may rely on zero-filled
 *   outputs (padTo, oneHot, accumulating reductions), and a memset is far cheaper than a
 *   fresh allocation plus its garbage collection.
 * - A released tensor whose values live on a device (a GPU backend's DeviceArray) hands
 *   them back with `dispose()`, to that backend's own pool: the device reuses its memory
 *   the same way, without waiting for the garbage collector to notice a small JS object.
 */

/** A read of a tensor that tidy() released: its buffer may already hold another tensor's values. */
export class ReleasedTensorError extends TapegradError {}

/** Idle buffers per exact length, one map per dtype. */
const pools: Record<DType, Map<number, TypedArray[]>> = { float32: new Map(), float64: new Map() };
/** Beyond this many idle bytes, released buffers are left to the garbage collector instead. */
const POOL_LIMIT_BYTES = 512 * 1024 * 1024;

let pooledBytes = 0;
let pooledBuffers = 0;
let reusedCount = 0;
let allocatedCount = 0;
let releasedCount = 0;
let disposedCount = 0;

/**
 * While a step is recorded (step-replay.ts): called with every buffer the step allocates,
 * each a fresh one that then belongs to the recording — never taken from the pool, never
 * given back to it, so that nothing else writes it between replays.
 */
let capture: ((buffer: TypedArray, zeroed: boolean) => void) | null = null;
/** Buffers recordings own (see capture). */
const traced = new WeakSet<TypedArray>();
let anyTraced = false;

/** @internal Starts (a function) or ends (null) the capture of a recorded step's buffers. */
export function setStepCapture(fn: ((buffer: TypedArray, zeroed: boolean) => void) | null): void {
  capture = fn;
}

function captured(dtype: DType, size: number, zeroed: boolean): TypedArray {
  const buffer = freshBuffer(dtype, size);
  traced.add(buffer);
  anyTraced = true;
  capture!(buffer, zeroed);
  return buffer;
}

/** The buffer allocate() handed out last inside a scope, until a Tensor adopts it. */
let lastPooled: TypedArray | null = null;

/** Tensors created in each open scope, innermost last; `current` is the innermost list. */
const scopes: Tensor[][] = [];
let current: Tensor[] | null = null;

/** Whether a tidy scope (or a backward sweep's own scope) is open. */
export function inScope(): boolean {
  return current !== null;
}

/**
 * @internal How many scopes are open: tidy's, and a backward sweep's own (tape.ts). A sweep
 * that sees 1 runs in no tidy of the user's (ops/matmul.ts defers weight gradients there).
 */
export function scopeDepth(): number {
  return scopes.length;
}

/**
 * @internal An idle buffer of the pool (fresh if it has none of that size), inside a scope or
 * not, for values needed during one kernel call only: ops/arithmetic.ts computes a deferred
 * weight gradient into one and folds it into the update. Its contents are arbitrary; hand it
 * back with {@link returnScratch} as soon as the call is done, or to a tensor with
 * {@link adoptScratch} (columns.ts: a batch gathered on another thread meanwhile). Outside
 * tidy this is the one use of the pool: a loop with no tidy then reuses that buffer every step
 * instead of creating (and leaving V8 to sweep) a new one.
 */
export function borrowScratch(dtype: DType, size: number): TypedArray {
  if (capture !== null) return captured(dtype, size, false);
  return takeIdle(dtype, size) ?? freshBuffer(dtype, size);
}

/** @internal Gives a {@link borrowScratch} buffer back to the pool. */
export function returnScratch(buffer: TypedArray): void {
  recycle(buffer);
}

/**
 * A zero-filled buffer: a fresh one outside every scope (exactly as before pooling existed);
 * inside a scope, an idle buffer of that exact length when the pool has one. `zeroed`
 * false skips zeroing a reused buffer, for kernels that write every element anyway.
 */
export function allocateBuffer(dtype: DType, size: number, zeroed = true): TypedArray {
  if (capture !== null) {
    const buffer = captured(dtype, size, zeroed);
    if (current !== null) {
      allocatedCount++;
      lastPooled = buffer;
    }
    return buffer;
  }
  if (current === null) return freshBuffer(dtype, size);
  let buffer = takeIdle(dtype, size);
  if (buffer !== undefined) {
    reusedCount++;
    if (zeroed) buffer.fill(0);
  } else {
    buffer = freshBuffer(dtype, size);
    allocatedCount++;
  }
  lastPooled = buffer;
  return buffer;
}

/** An idle buffer of exactly `size` elements out of the pool, or undefined when it has none. */
function takeIdle(dtype: DType, size: number): TypedArray | undefined {
  const buffer = pools[dtype].get(size)?.pop();
  if (buffer !== undefined) {
    pooledBytes -= buffer.byteLength;
    pooledBuffers--;
  }
  return buffer;
}

/**
 * Small fresh buffers are cut from shared slabs, as Node cuts small `Buffer`s from its pool:
 * every typed array with a backing store of its own costs V8 ≈ 1.3–2.8 µs (the allocation,
 * and the collections its external memory triggers), a view into a slab ≈ 0.1 µs, and a
 * training loop without tidy creates dozens of small arrays a step (T3's user loop ≈ 35). A
 * slab is collected once no view into it is reachable. Arrays of ≤ 64 bytes are left alone
 * (V8 keeps those on its heap, cheaply), and so are those over SLAB_MAX_BYTES, so a kept
 * small array pins at most one slab. Cuts start on 16-byte boundaries (SIMD loads).
 * Consequence, as for Node's Buffer: a small tensor's `data.buffer` may hold other tensors'
 * values too; its own are `data.byteOffset` … `+ data.byteLength` (copy before transferring).
 */
const SLAB_BYTES = 16384;
const SLAB_MAX_BYTES = 2048;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

function freshBuffer(dtype: DType, size: number): TypedArray {
  const bytes = size * (dtype === 'float64' ? 8 : 4);
  if (bytes <= 64 || bytes > SLAB_MAX_BYTES) return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
  if (slabUsed + bytes > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const offset = slabUsed;
  slabUsed += (bytes + 15) & ~15;
  return dtype === 'float64' ? new Float64Array(slab, offset, size) : new Float32Array(slab, offset, size);
}

/**
 * @internal Makes the next tensor created on `buffer` (a {@link borrowScratch} one, filled
 * meanwhile: columnSampler's prefetched batch) its owner as allocate() makes it for its
 * buffers: inside a scope the buffer goes back to the pool when the tensor is released;
 * outside, it is an ordinary garbage-collected buffer.
 */
export function adoptScratch(buffer: TypedArray): void {
  if (current !== null) lastPooled = buffer;
}

/**
 * Called by the Tensor constructor inside a scope: tracks the tensor and says whether it owns
 * its buffer as the pool's (it is the buffer allocate() handed out last, and no tensor took
 * it yet), so that releasing the tensor may recycle the buffer.
 */
export function track(t: Tensor, data: Storage): boolean {
  current!.push(t);
  if (data !== lastPooled) return false;
  lastPooled = null;
  return true;
}

function recycle(buffer: TypedArray): void {
  if (anyTraced && traced.has(buffer)) return;
  if (buffer.length === 0 || pooledBytes + buffer.byteLength > POOL_LIMIT_BYTES) return;
  const dtype: DType = buffer instanceof Float64Array ? 'float64' : 'float32';
  const map = pools[dtype];
  const list = map.get(buffer.length);
  if (list === undefined) map.set(buffer.length, [buffer]);
  else list.push(buffer);
  pooledBytes += buffer.byteLength;
  pooledBuffers++;
}

/** Hooks into Tensor's private state, installed by tensor.ts (which imports this module). */
export interface TensorHooks {
  isTensor(value: unknown): value is Tensor;
  /** Marks t released; returns its storage if t owned it (a pooled buffer or a DeviceArray), else null. */
  release(t: Tensor): Storage | null;
  isKept(t: Tensor): boolean;
  isReleased(t: Tensor): boolean;
  markKept(t: Tensor): void;
}

let hooks: TensorHooks | null = null;

/** @internal */
export function installTensorHooks(h: TensorHooks): void {
  hooks = h;
}

/**
 * Every tensor reachable from a value: tensors, arrays and plain objects of them, nested;
 * and, from each tensor, the recorded graph behind it (a returned loss can still be
 * differentiated) and its `.grad`.
 */
function reachable(value: unknown): Set<Tensor> {
  const found = new Set<Tensor>();
  const h = hooks!;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (h.isTensor(v)) {
      if (found.has(v)) continue;
      found.add(v);
      if (v.node) for (const input of v.node.inputs) stack.push(input);
      if (v.grad) stack.push(v.grad);
      continue;
    }
    if (seen.has(v)) continue;
    seen.add(v);
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else {
      const proto = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) for (const key of Object.keys(v)) stack.push((v as Record<string, unknown>)[key]);
    }
  }
  return found;
}

function openScope(): void {
  const list: Tensor[] = [];
  scopes.push(list);
  current = list;
}

/** Closes the innermost scope: survivors move to the enclosing scope, the rest are released. */
function closeScope(result: unknown, threw: boolean): void {
  const list = scopes.pop()!;
  current = scopes.length > 0 ? scopes[scopes.length - 1] : null;
  lastPooled = null;
  const h = hooks!;
  const survivors = threw || result === undefined || result === null || typeof result !== 'object' ? null : reachable(result);
  for (let i = 0; i < list.length; i++) {
    const t = list[i];
    if (h.isKept(t) || h.isReleased(t)) continue;
    if (survivors !== null && survivors.has(t)) {
      if (current !== null) current.push(t);
      continue;
    }
    const storage = h.release(t);
    releasedCount++;
    if (storage === null) continue;
    if (isDeviceArray(storage)) {
      storage.dispose();
      disposedCount++;
    } else recycle(storage);
  }
}

/**
 * Runs fn and, when it returns, releases every tensor created inside it except those
 * reachable from its result (a tensor, or arrays and plain objects of tensors, with the
 * recorded graph and `.grad` of each) and those marked with `keep()`. A released tensor's
 * buffer is reused by later tensors of the same dtype and size created inside a tidy, and
 * the tensor throws on every read of its values: a stale tensor can never show another's
 * data. Tensors created outside every tidy are untouched, as are the values of leaves
 * assigned in place (parameters). Scopes nest; what an inner tidy returns belongs to the
 * outer one. If fn throws, every tensor it created is released.
 *
 * ```ts
 * const loss = tidy(() => {
 *   const tape = new Tape();
 *   const c = tape.record(() => mean(square(sub(matmul(w, x), y))));
 *   const [dw] = tape.gradient(c, [w]);
 *   w.assign(sub(w, mul(dw, 0.1)));
 *   return c.item(); // a number: every tensor of the step goes back to the pool
 * });
 * ```
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ValueError('tidy', `expects a function, got ${typeof fn}`);
  openScope();
  let result: T;
  try {
    result = fn();
  } catch (error) {
    closeScope(undefined, true);
    throw error;
  }
  if (result instanceof Promise) {
    closeScope(undefined, true);
    throw new ValueError('tidy', 'fn returned a Promise: tidy is synchronous (tensors created after an await would escape it); await outside and tidy each synchronous part');
  }
  closeScope(result, false);
  return result;
}

/**
 * Runs fn as if no tidy were open: every tensor it creates is an ordinary garbage-collected
 * tensor that no enclosing tidy releases (a tidy opened inside fn still works as usual).
 * Tensors from the enclosing scopes stay readable inside fn. For code that keeps what it
 * creates but was written without `keep()`, such as a user's optimiser called by `fit`.
 */
export function outsideTidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new ValueError('outsideTidy', `expects a function, got ${typeof fn}`);
  const saved = scopes.splice(0, scopes.length);
  current = null;
  lastPooled = null;
  try {
    return fn();
  } finally {
    // scopes fn opened and left open (it threw halfway through one) are dropped with it
    scopes.splice(0, scopes.length, ...saved);
    current = scopes.length > 0 ? scopes[scopes.length - 1] : null;
    lastPooled = null;
  }
}

/**
 * Marks a tensor created inside a tidy to survive it (and every enclosing tidy): it is then
 * an ordinary garbage-collected tensor, never released. Returns t. Outside tidy it does
 * nothing. Optimisers keep the state they create on their first step this way.
 */
export function keep<T extends Tensor>(t: T): T {
  const h = hooks!;
  if (!h.isTensor(t)) throw new ValueError('keep', `expects a Tensor, got ${t === null ? 'null' : typeof t}`);
  if (h.isReleased(t)) throw new ValueError('keep', `tensor ${fmt(t.shape)} was already released when tidy() returned`);
  h.markKept(t);
  return t;
}

/** What memoryStats reports: the pool's idle buffers, buffers reused and allocated, tensors released, device arrays disposed, open tidy scopes. */
export interface MemoryStats {
  /** Bytes of idle buffers the pool holds for reuse. */
  pooledBytes: number;
  /** Idle buffers the pool holds. */
  pooledBuffers: number;
  /** Buffers allocate() served from the pool (since start or resetMemoryStats). */
  reused: number;
  /** Fresh buffers allocate() created inside a scope, because the pool had none of that size. */
  allocated: number;
  /** Tensors released by tidy (and by backward sweeps' own scopes). */
  released: number;
  /** Device arrays (values on a GPU backend) that releasing handed back to their backend with dispose(). */
  disposed: number;
  /** How many tidy scopes are open now. */
  openScopes: number;
}

/** Counters of the buffer pool, for tests and for seeing that a loop reuses its buffers. */
export function memoryStats(): MemoryStats {
  return {
    pooledBytes, pooledBuffers, reused: reusedCount, allocated: allocatedCount, released: releasedCount, disposed: disposedCount,
    openScopes: scopes.length,
  };
}

/** Zeroes the counters `reused`, `allocated`, `released` and `disposed` (the pool itself stays). */
export function resetMemoryStats(): void {
  reusedCount = 0;
  allocatedCount = 0;
  releasedCount = 0;
  disposedCount = 0;
}

/** Lets go of every idle buffer (the garbage collector frees them), as PyTorch's empty_cache. */
export function emptyPool(): void {
  pools.float32.clear();
  pools.float64.clear();
  pooledBytes = 0;
  pooledBuffers = 0;
}
