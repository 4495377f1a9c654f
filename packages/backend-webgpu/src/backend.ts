import { type Backend, type DeviceArray, type DeviceMemory, type Storage, type TypedArray, TapegradError, isDeviceArray } from '@tapegrad/core';
import { GpuArray, type GpuContext, float64Error } from './context.js';
import type { GpuAdapterDescription } from './device.js';
import { binary, subScaled, unary, where } from './kernels/elementwise.js';
import { broadcastTo, pad, slice, transpose } from './kernels/layout.js';
import { gather, scatterAdd } from './kernels/indexing.js';
import { matmul, matmulBatched } from './kernels/matmul.js';
import { argReduce, cumsum, reduce } from './kernels/reduce.js';
import { fold, maxPool, maxPoolGather, maxPoolScatter, unfold } from './kernels/conv.js';
import type { GpuInput } from './kernels/types.js';

/** The 'webgpu' backend: core's kernels as WGSL, its tensors' values in GPU buffers. */
export interface WebGpuBackend extends Backend {
  readonly memory: DeviceMemory;
  /** The device, its buffer pool and dispatch. */
  readonly context: GpuContext;
  /** The adapter the device came from (SwiftShader: a CPU, so correctness only). */
  readonly adapter: GpuAdapterDescription;
}

/** A kernel's input: a device array of this backend, or CPU float32 values to upload for the call. */
function input(where: string, x: Storage): GpuInput {
  if (x instanceof GpuArray || x instanceof Float32Array) return x;
  if (x instanceof Float64Array) throw float64Error(where);
  throw foreign(where, x);
}

/** A kernel's output: always one of this backend's device arrays (core allocates it through `memory`). */
function output(where: string, out: Storage): GpuArray {
  if (out instanceof GpuArray) return out;
  if (out instanceof Float64Array) throw float64Error(where);
  if (isDeviceArray(out)) throw foreign(where, out);
  throw new TapegradError('webgpu', `${where}: cannot write into CPU memory from the GPU synchronously; this kernel's output must be a webgpu device array (a tensor created while 'webgpu' is the backend)`);
}

function foreign(where: string, x: TypedArray | DeviceArray): TapegradError {
  const owner = isDeviceArray(x) ? `the '${x.device}' device` : 'an unsupported array type';
  return new TapegradError('webgpu', `${where}: an input lives on ${owner}; move it through the CPU (await t.dataAsync()) first`);
}

/** Wires the kernel families to core's Backend seam. */
export function createWebGpuBackend(context: GpuContext, adapter: GpuAdapterDescription, name = 'webgpu'): WebGpuBackend {
  const memory: DeviceMemory = {
    allocate(dtype, size, zeroed) {
      if (dtype !== 'float32') throw float64Error('allocate');
      return context.allocate(size, zeroed);
    },
    upload(data) {
      if (!(data instanceof Float32Array)) throw float64Error('upload');
      return context.upload(data);
    },
    write(target, data) {
      if (!(data instanceof Float32Array)) throw float64Error('write');
      context.write(output('write', target), data);
    },
    copy(source, target) {
      const from = input('copy', source);
      context.copy(from instanceof GpuArray ? from : context.upload(from), output('copy', target));
    },
    settled: () => context.settled(),
  };
  return {
    name,
    memory,
    context,
    adapter,
    unary: (kernel, x, out, scalar) => unary(context, kernel, input('unary', x), output('unary', out), scalar),
    binary: (kernel, a, aShape, b, bShape, out, outShape) =>
      binary(context, kernel, input('binary', a), aShape, input('binary', b), bShape, output('binary', out), outShape),
    where: (cond, condShape, a, aShape, b, bShape, out, outShape) =>
      where(context, input('where', cond), condShape, input('where', a), aShape, input('where', b), bShape, output('where', out), outShape),
    subScaled: (y, x, s, out) => subScaled(context, input('subScaled', y), input('subScaled', x), s, output('subScaled', out)),
    matmul: (a, b, out, m, k, n, transposeA, transposeB) =>
      matmul(context, input('matmul', a), input('matmul', b), output('matmul', out), m, k, n, transposeA, transposeB),
    matmulBatched: (a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets) =>
      matmulBatched(context, input('matmulBatched', a), input('matmulBatched', b), output('matmulBatched', out), m, k, n, transposeA, transposeB, aOffsets, bOffsets),
    reduce: (kernel, x, shape, axes, out) => reduce(context, kernel, input('reduce', x), shape, axes, output('reduce', out)),
    argReduce: (kernel, x, outer, axisSize, inner, out) => argReduce(context, kernel, input('argReduce', x), outer, axisSize, inner, output('argReduce', out)),
    cumsum: (x, outer, axisSize, inner, reverse, exclusive, out) =>
      cumsum(context, input('cumsum', x), outer, axisSize, inner, reverse, exclusive, output('cumsum', out)),
    transpose: (x, shape, perm, out) => transpose(context, input('transpose', x), shape, perm, output('transpose', out)),
    broadcastTo: (x, shape, out, outShape) => broadcastTo(context, input('broadcastTo', x), shape, output('broadcastTo', out), outShape),
    slice: (x, shape, begin, out, outShape) => slice(context, input('slice', x), shape, begin, output('slice', out), outShape),
    pad: (x, shape, begin, out, outShape) => pad(context, input('pad', x), shape, begin, output('pad', out), outShape),
    gather: (x, outer, axisSize, inner, indices, out) => gather(context, input('gather', x), outer, axisSize, inner, indices, output('gather', out)),
    scatterAdd: (dy, outer, axisSize, inner, indices, out) =>
      scatterAdd(context, input('scatterAdd', dy), outer, axisSize, inner, indices, output('scatterAdd', out)),
    unfold: (x, geometry, padValue, out, batched) => unfold(context, input('unfold', x), geometry, padValue, output('unfold', out), batched),
    fold: (cols, geometry, out, batched) => fold(context, input('fold', cols), geometry, output('fold', out), batched),
    maxPool: (x, geometry, out) => maxPool(context, input('maxPool', x), geometry, output('maxPool', out)),
    maxPoolScatter: (dy, x, geometry, out) => maxPoolScatter(context, input('maxPoolScatter', dy), input('maxPoolScatter', x), geometry, output('maxPoolScatter', out)),
    maxPoolGather: (v, x, geometry, out) => maxPoolGather(context, input('maxPoolGather', v), input('maxPoolGather', x), geometry, output('maxPoolGather', out)),
  };
}
