/**
 * A device backend without a device, for testing core's storage model (WEBGPU-DESIGN.md §1)
 * on machines with no GPU: jsBackend's kernels run on typed arrays that the CPU side cannot
 * reach, because each hides behind a private field of a FakeDeviceArray. Everything core
 * reads must then come back through read(), which resolves on a later tick as a GPU's
 * mapAsync does. It is also strict where a real device would only misbehave:
 * - a disposed array used again (by a kernel, read, copy or a second dispose) throws;
 * - a kernel's `out` that is not one of its own arrays throws (an op forgot outputStorage);
 * - another device's array throws;
 * - an array allocated with `zeroed: false` starts as NaN (a reused GPU buffer holds old
 *   values), so a kernel that relies on zeros it was not promised shows up as NaN.
 * It counts allocations, uploads, writes, copies, reads and disposes.
 */
import { type Backend, type DType, type DeviceArray, type DeviceMemory, type Storage, type TypedArray, jsBackend } from '@tapegrad/core';

/** What the fake device has done since it was created (or since counts.reset()). */
export interface FakeDeviceCounts {
  allocated: number;
  uploaded: number;
  written: number;
  copied: number;
  read: number;
  disposed: number;
  /** Kernel calls that got a CPU typed array as an input (uploaded for the call). */
  cpuInputs: number;
  /** Fences asked for (memory.settled()), and the most of them ever pending at once. */
  settled: number;
  maxPendingFences: number;
}

export class FakeDeviceArray implements DeviceArray {
  readonly device: string;
  readonly dtype: DType;
  readonly length: number;
  #values: TypedArray;
  #disposed = false;
  readonly #counts: FakeDeviceCounts;

  constructor(device: string, values: TypedArray, counts: FakeDeviceCounts) {
    this.device = device;
    this.dtype = values instanceof Float64Array ? 'float64' : 'float32';
    this.length = values.length;
    this.#values = values;
    this.#counts = counts;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  read(): Promise<TypedArray> {
    // the copy is taken now (after the work enqueued so far) and handed over later
    const copy = FakeDeviceArray.values(this, 'read').slice();
    this.#counts.read++;
    return new Promise((resolve) => setTimeout(() => resolve(copy), 0));
  }

  dispose(): void {
    if (this.#disposed) throw new Error(`${this.device}: a ${this.dtype} array of ${this.length} was disposed twice`);
    this.#disposed = true;
    this.#counts.disposed++;
  }

  /** The hidden values, for the fake backend's kernels only. */
  static values(a: FakeDeviceArray, use: string): TypedArray {
    if (a.#disposed) throw new Error(`${a.device}: ${use} of a disposed ${a.dtype} array of ${a.length}`);
    return a.#values;
  }
}

/** Where `out` sits in each kernel's arguments: it must be one of the device's own arrays. */
const OUT_POSITION = {
  unary: 2, binary: 5, where: 6, matmul: 2, matmulBatched: 2, unfold: 3, fold: 2, maxPool: 2,
  maxPoolScatter: 3, maxPoolGather: 3, reduce: 4, transpose: 3, broadcastTo: 2, slice: 3, pad: 3,
  gather: 5, scatterAdd: 5, cumsum: 6, argReduce: 5, subScaled: 3,
} satisfies Record<Exclude<keyof Backend, 'name' | 'memory' | 'gatherColumnsAsync' | 'gatherColumns'>, number>;

export interface FakeDevice extends Backend {
  readonly memory: DeviceMemory;
  readonly counts: FakeDeviceCounts;
  /** Zeroes the counts. */
  resetCounts(): void;
}

/** A fake device backend named `name` (register it with setBackend(device) or registerBackend). */
export function createFakeDevice(name = 'fake-gpu'): FakeDevice {
  const counts: FakeDeviceCounts = { allocated: 0, uploaded: 0, written: 0, copied: 0, read: 0, disposed: 0, cpuInputs: 0, settled: 0, maxPendingFences: 0 };
  let pendingFences = 0;
  const own = (s: Storage, use: string): TypedArray => {
    if (!(s instanceof FakeDeviceArray)) throw new Error(`${name}: ${use} got ${ArrayBuffer.isView(s) ? 'a CPU typed array' : typeof s} where one of its own arrays belongs`);
    if (s.device !== name) throw new Error(`${name}: ${use} got an array of device '${s.device}'`);
    return FakeDeviceArray.values(s, use);
  };
  const memory: DeviceMemory = {
    allocate(dtype, size, zeroed) {
      counts.allocated++;
      const values = dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
      if (!zeroed) values.fill(NaN);
      return new FakeDeviceArray(name, values, counts);
    },
    upload(data) {
      counts.uploaded++;
      return new FakeDeviceArray(name, data.slice(), counts);
    },
    write(target, data) {
      counts.written++;
      const values = own(target, 'write');
      if (data.length !== values.length) throw new Error(`${name}: write of ${data.length} values into ${values.length}`);
      values.set(data);
    },
    // the fake device computes at once, but its fences resolve a timer later, as a real
    // device's would after the queued work: how far a loop runs ahead shows in maxPendingFences
    settled() {
      counts.settled++;
      counts.maxPendingFences = Math.max(counts.maxPendingFences, ++pendingFences);
      return new Promise<void>((resolve) => setTimeout(() => {
        pendingFences--;
        resolve();
      }, 1));
    },
    copy(source, target) {
      counts.copied++;
      const from = own(source, 'copy');
      const to = own(target, 'copy');
      if (from.length !== to.length) throw new Error(`${name}: copy of ${from.length} values into ${to.length}`);
      to.set(from);
    },
  };
  const kernels: Record<string, unknown> = {};
  for (const [kernel, out] of Object.entries(OUT_POSITION)) {
    const run = (jsBackend as unknown as Record<string, (...args: unknown[]) => void>)[kernel];
    kernels[kernel] = (...args: unknown[]): void => {
      const unwrapped = args.map((arg, i) => {
        if (i === out) return own(arg as Storage, `${kernel}'s out`);
        if (arg instanceof FakeDeviceArray) return own(arg, kernel);
        if (arg instanceof Float32Array || arg instanceof Float64Array) counts.cpuInputs++;
        else if (arg !== null && typeof arg === 'object' && 'device' in arg) throw new Error(`${name}: ${kernel} got an array of device '${String(arg.device)}'`);
        return arg;
      });
      run.apply(jsBackend, unwrapped);
    };
  }
  return {
    ...(kernels as unknown as Omit<Backend, 'name' | 'memory'>),
    name,
    memory,
    counts,
    resetCounts() {
      for (const key of Object.keys(counts) as (keyof FakeDeviceCounts)[]) counts[key] = 0;
    },
  };
}
