/// <reference types="@webgpu/types" />
import { DTypeError, TapegradError } from '@tapegrad/core';

/**
 * The GPU side of the backend: device memory (a pool of buffers), the compile-once cache
 * of compute pipelines, and one `run()` that every kernel goes through.
 *
 * Why one command buffer per dispatch: the queue executes submissions in order, so a
 * buffer handed back to the pool after a dispatch that read it can be reused by the next
 * op at once (whatever writes it is submitted later), and small parameter buffers can be
 * rewritten between dispatches with `queue.writeBuffer`, which is ordered with submits.
 */

// the WebGPU flag values (globals in browsers, not in Node's Dawn unless installed)
const BUFFER_MAP_READ = 0x0001;
const BUFFER_COPY_SRC = 0x0004;
const BUFFER_COPY_DST = 0x0008;
const BUFFER_STORAGE = 0x0080;
const MAP_MODE_READ = 0x0001;
const SHADER_STAGE_COMPUTE = 0x4;

/** Threads per workgroup of the 1-D kernels; `flatIndex` in {@link PRELUDE} assumes it. */
export const WORKGROUP_SIZE = 256;
/** WebGPU's guaranteed limit on workgroups along one dimension of a dispatch. */
const MAX_WORKGROUPS_PER_DIMENSION = 65535;

/** Options of a {@link GpuContext}. */
export interface GpuContextOptions {
  /**
   * Workgroups along x before a 1-D dispatch spills into y (default and maximum 65535,
   * WebGPU's limit); tests lower it to cover the 2-D grid with small arrays.
   */
  readonly maxWorkgroupsX?: number;
}

/**
 * WGSL shared by the 1-D kernels: a thread's flat index over a grid that spills into the
 * y dimension beyond 65535 workgroups. A kernel declares `@compute @workgroup_size(256)`
 * with `@builtin(global_invocation_id) gid` and `@builtin(num_workgroups) nwg`.
 */
export const PRELUDE = /* wgsl */ `
const WG: u32 = ${WORKGROUP_SIZE}u;
fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }
`;

/** WebGPU cannot run here: no adapter, no device, or a device that was lost. */
export class WebGpuUnavailableError extends TapegradError {}

/** A kernel's WGSL, compiled once per context and found again by its name. */
export interface KernelSource {
  /** Unique per distinct WGSL text: the pipeline cache's key. */
  readonly name: string;
  /** The WGSL, or a function building it (called once, on first use). */
  readonly code: string | (() => string);
}

/** One dispatch: which buffers the kernel binds, in binding order, and how many threads. */
export interface Dispatch {
  /** Bound read-only at bindings 0 … inputs.length − 1. CPU arrays are uploaded for this call. */
  readonly inputs: readonly (GpuArray | Float32Array | Int32Array | Uint32Array)[];
  /** Bound read-write after the inputs. */
  readonly outputs: readonly GpuArray[];
  /** u32 parameters (sizes, strides), bound read-only after the outputs when given. */
  readonly ints?: ArrayLike<number>;
  /** f32 parameters (a scalar), bound read-only after `ints` when given. */
  readonly floats?: ArrayLike<number>;
  /** 1-D kernels: the number of threads (the grid is derived, 2-D past 65535 workgroups). */
  readonly threads?: number;
  /** Kernels with their own tiling: workgroups along x, y, z. */
  readonly workgroups?: readonly [number, number?, number?];
}

interface BufferRecord {
  buffer: GPUBuffer;
  bytes: number;
}

/** Beyond this many idle bytes, released buffers are destroyed instead of pooled. */
const POOL_LIMIT_BYTES = 256 * 1024 * 1024;

/** What the backend allocated, reused and read back: for tests and the memory report. */
export interface GpuMemoryStats {
  /** Buffers created on the device. */
  created: number;
  /** Allocations served from the pool. */
  reused: number;
  /** Arrays returned by dispose() or reclaimed after garbage collection. */
  released: number;
  /** Of those, reclaimed by the garbage collector (never disposed). */
  collected: number;
  /** CPU arrays uploaded (inputs to kernels included). */
  uploads: number;
  /** Reads back to the CPU. */
  reads: number;
  /** Waits for the queue to finish (memory.settled()): fences, no transfer. */
  fences: number;
  /** Idle pooled bytes now. */
  pooledBytes: number;
}

/**
 * float32 values in a GPU buffer: a DeviceArray in core's terms. Only this backend's
 * kernels read or write it; `read()` copies it back to the CPU after every kernel enqueued
 * so far has run.
 */
export class GpuArray {
  readonly device = 'webgpu';
  readonly dtype = 'float32' as const;
  readonly length: number;
  readonly #context: GpuContext;
  #record: BufferRecord | null;

  /** @internal use {@link GpuContext.allocate} or {@link GpuContext.upload}. */
  constructor(context: GpuContext, record: BufferRecord, length: number) {
    this.#context = context;
    this.#record = record;
    this.length = length;
  }

  /** The GPU buffer (at least 4·length bytes); an error once disposed. */
  get buffer(): GPUBuffer {
    if (this.#record === null) throw new TapegradError('webgpu', `a disposed device array of ${this.length} elements was used`);
    return this.#record.buffer;
  }

  /** A fresh CPU copy of the values, once the work enqueued so far has finished. */
  read(): Promise<Float32Array> {
    return this.#context.read(this);
  }

  /** Returns the buffer to the pool; the array must not be used again. A second call does nothing. */
  dispose(): void {
    const record = this.#record;
    if (record === null) return;
    this.#record = null;
    this.#context.release(this, record);
  }
}

/**
 * A GPUDevice with tapegrad's memory and dispatch. One per backend; the device is owned
 * (destroyed by {@link GpuContext.destroy}).
 */
export class GpuContext {
  readonly device: GPUDevice;
  readonly #pipelines = new Map<string, GPUComputePipeline>();
  readonly #layouts = new Map<string, GPUBindGroupLayout>();
  readonly #idle = new Map<number, GPUBuffer[]>();
  readonly #collector: FinalizationRegistry<BufferRecord>;
  #stats: GpuMemoryStats = { created: 0, reused: 0, released: 0, collected: 0, uploads: 0, reads: 0, fences: 0, pooledBytes: 0 };
  /** The first validation or out-of-memory error the device reported; reads rethrow it. */
  #fault: string | null = null;
  #lost: string | null = null;

  readonly #maxWorkgroupsX: number;

  constructor(device: GPUDevice, options: GpuContextOptions = {}) {
    this.device = device;
    this.#maxWorkgroupsX = Math.min(options.maxWorkgroupsX ?? MAX_WORKGROUPS_PER_DIMENSION, MAX_WORKGROUPS_PER_DIMENSION);
    // an array the program dropped without dispose() gives its buffer back when collected
    this.#collector = new FinalizationRegistry((record) => {
      this.#stats.collected++;
      this.#recycle(record);
    });
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.#fault ??= error.message;
    });
    void device.lost.then((info) => {
      this.#lost = info.message || info.reason || 'device lost';
    });
  }

  get stats(): GpuMemoryStats {
    return { ...this.#stats };
  }

  /** A device array of `length` float32 values; zero-filled unless `zeroed` is false. */
  allocate(length: number, zeroed = true): GpuArray {
    this.#assertUsable();
    const bytes = byteSize(length);
    const idle = this.#idle.get(bytes);
    let buffer: GPUBuffer;
    if (idle !== undefined && idle.length > 0) {
      buffer = idle.pop()!;
      this.#stats.pooledBytes -= bytes;
      this.#stats.reused++;
      if (zeroed) {
        const encoder = this.device.createCommandEncoder();
        encoder.clearBuffer(buffer);
        this.device.queue.submit([encoder.finish()]);
      }
    } else {
      // createBuffer returns zeroed memory
      buffer = this.device.createBuffer({ size: bytes, usage: BUFFER_STORAGE | BUFFER_COPY_SRC | BUFFER_COPY_DST });
      this.#stats.created++;
    }
    return this.#adopt({ buffer, bytes }, length);
  }

  /** A new device array holding a copy of `data` (float32; float64 is refused). */
  upload(data: Float32Array | Float64Array): GpuArray {
    if (data instanceof Float64Array) throw float64Error('upload');
    const array = this.allocate(data.length, false);
    this.write(array, data);
    return array;
  }

  /** Overwrites every value of `target` with `data` (same length). */
  write(target: GpuArray, data: Float32Array | Int32Array | Uint32Array): void {
    if (data.length !== target.length) throw new TapegradError('webgpu', `write: ${data.length} values for a device array of ${target.length}`);
    this.#stats.uploads++;
    if (data.length > 0) this.device.queue.writeBuffer(target.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Copies `source` into `target` on the device (same length). */
  copy(source: GpuArray, target: GpuArray): void {
    if (source.length !== target.length) throw new TapegradError('webgpu', `copy: ${source.length} values into a device array of ${target.length}`);
    if (source.length === 0) return;
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(source.buffer, 0, target.buffer, 0, source.length * 4);
    this.device.queue.submit([encoder.finish()]);
  }

  /** Resolves once the queue has finished everything submitted so far (every dispatch is submitted when it is run). */
  async settled(): Promise<void> {
    this.#assertUsable();
    this.#stats.fences++;
    await this.device.queue.onSubmittedWorkDone();
    this.#assertUsable();
  }

  /** @internal GpuArray.read. */
  async read(array: GpuArray): Promise<Float32Array> {
    this.#assertUsable();
    this.#stats.reads++;
    const bytes = array.length * 4;
    if (bytes === 0) return new Float32Array(0);
    const staging = this.device.createBuffer({ size: byteSize(array.length), usage: BUFFER_MAP_READ | BUFFER_COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(array.buffer, 0, staging, 0, byteSize(array.length));
    this.device.queue.submit([encoder.finish()]);
    try {
      await staging.mapAsync(MAP_MODE_READ);
      const values = new Float32Array(staging.getMappedRange(0, byteSize(array.length)).slice(0, bytes));
      staging.unmap();
      this.#assertUsable();
      return values;
    } finally {
      staging.destroy();
    }
  }

  /** @internal GpuArray.dispose. */
  release(array: GpuArray, record: BufferRecord): void {
    this.#collector.unregister(array);
    this.#recycle(record);
  }

  /**
   * Runs one kernel: binds inputs, outputs, then the parameter arrays, in that order, and
   * dispatches `threads` (1-D) or `workgroups`. An output that is also an input is written
   * through a temporary (WebGPU forbids binding one buffer read-only and writable at once).
   */
  run(kernel: KernelSource, dispatch: Dispatch): void {
    this.#assertUsable();
    const { inputs, outputs } = dispatch;
    const temporaries: GpuArray[] = [];
    const bound: GPUBuffer[] = [];
    for (const input of inputs) {
      if (input instanceof GpuArray) {
        bound.push(input.buffer);
      } else {
        const staged = this.#stage(input);
        temporaries.push(staged);
        bound.push(staged.buffer);
      }
    }
    const aliased: [GpuArray, GpuArray][] = [];
    for (const output of outputs) {
      if (bound.includes(output.buffer)) {
        const scratch = this.allocate(output.length, false);
        aliased.push([scratch, output]);
        temporaries.push(scratch);
        bound.push(scratch.buffer);
      } else {
        bound.push(output.buffer);
      }
    }
    const paramCount = (dispatch.ints ? 1 : 0) + (dispatch.floats ? 1 : 0);
    if (dispatch.ints) {
      const staged = this.#stage(Uint32Array.from(dispatch.ints));
      temporaries.push(staged);
      bound.push(staged.buffer);
    }
    if (dispatch.floats) {
      const staged = this.#stage(Float32Array.from(dispatch.floats));
      temporaries.push(staged);
      bound.push(staged.buffer);
    }
    const layout = this.#layout(inputs.length, outputs.length, paramCount);
    const pipeline = this.#pipeline(kernel, layout);
    const bindGroup = this.device.createBindGroup({
      layout,
      entries: bound.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const [x, y, z] = dispatch.workgroups ? [dispatch.workgroups[0], dispatch.workgroups[1] ?? 1, dispatch.workgroups[2] ?? 1] : grid(dispatch.threads ?? 0, this.#maxWorkgroupsX);
    const encoder = this.device.createCommandEncoder();
    if (x > 0 && y > 0 && z > 0) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
      pass.end();
    }
    for (const [scratch, output] of aliased) if (output.length > 0) encoder.copyBufferToBuffer(scratch.buffer, 0, output.buffer, 0, output.length * 4);
    this.device.queue.submit([encoder.finish()]);
    // safe at once: whatever reuses these buffers is submitted after this dispatch
    for (const t of temporaries) t.dispose();
  }

  /** Destroys the device; every array of this context is unusable afterwards. */
  destroy(): void {
    this.#lost ??= 'the backend was destroyed';
    for (const list of this.#idle.values()) for (const buffer of list) buffer.destroy();
    this.#idle.clear();
    this.device.destroy();
  }

  /** A CPU array (float32 or 32-bit integers) copied into a pooled device buffer for one call. */
  #stage(data: Float32Array | Float64Array | Int32Array | Uint32Array): GpuArray {
    if (data instanceof Float64Array) throw float64Error('kernel input');
    const array = this.allocate(Math.max(data.length, 1), false);
    if (data.length > 0) {
      this.#stats.uploads++;
      this.device.queue.writeBuffer(array.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    }
    return array;
  }

  #adopt(record: BufferRecord, length: number): GpuArray {
    const array = new GpuArray(this, record, length);
    this.#collector.register(array, record, array);
    return array;
  }

  #recycle(record: BufferRecord): void {
    this.#stats.released++;
    if (this.#lost !== null || this.#stats.pooledBytes + record.bytes > POOL_LIMIT_BYTES) {
      record.buffer.destroy();
      return;
    }
    let list = this.#idle.get(record.bytes);
    if (list === undefined) this.#idle.set(record.bytes, (list = []));
    list.push(record.buffer);
    this.#stats.pooledBytes += record.bytes;
  }

  #layout(inputs: number, outputs: number, params: number): GPUBindGroupLayout {
    const key = `${inputs}/${outputs}/${params}`;
    let layout = this.#layouts.get(key);
    if (layout === undefined) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      const total = inputs + outputs + params;
      for (let binding = 0; binding < total; binding++) {
        const writable = binding >= inputs && binding < inputs + outputs;
        entries.push({ binding, visibility: SHADER_STAGE_COMPUTE, buffer: { type: writable ? 'storage' : 'read-only-storage' } });
      }
      layout = this.device.createBindGroupLayout({ entries });
      this.#layouts.set(key, layout);
    }
    return layout;
  }

  #pipeline(kernel: KernelSource, layout: GPUBindGroupLayout): GPUComputePipeline {
    let pipeline = this.#pipelines.get(kernel.name);
    if (pipeline === undefined) {
      const code = typeof kernel.code === 'string' ? kernel.code : kernel.code();
      const module = this.device.createShaderModule({ code, label: kernel.name });
      pipeline = this.device.createComputePipeline({
        label: kernel.name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      this.#pipelines.set(kernel.name, pipeline);
    }
    return pipeline;
  }

  #assertUsable(): void {
    if (this.#lost !== null) throw new WebGpuUnavailableError('webgpu', `the device is gone: ${this.#lost}`);
    if (this.#fault !== null) {
      const fault = this.#fault;
      this.#fault = null;
      throw new TapegradError('webgpu', `a kernel failed on the device: ${fault}`);
    }
  }
}

/** Buffer sizes are multiples of 4 bytes and never 0 (WebGPU rejects empty bindings). */
function byteSize(length: number): number {
  return Math.max(4, length * 4);
}

function grid(threads: number, maxX: number): [number, number, number] {
  const groups = Math.ceil(threads / WORKGROUP_SIZE);
  if (groups <= maxX) return [groups, 1, 1];
  return [maxX, Math.ceil(groups / maxX), 1];
}

/** The one error every float64 request on this backend gets. */
export function float64Error(where: string): DTypeError {
  return new DTypeError('webgpu', `${where}: WGSL has no float64; keep float64 on the js, wasm or native backend (cast(x, 'float32') for WebGPU)`);
}
