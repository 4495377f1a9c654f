/**
 * @tapegrad/backend-webgpu: tapegrad's kernels as WGSL compute shaders, for a GPU through
 * WebGPU — in browsers (navigator.gpu) and in Node (Dawn, through the `webgpu` package).
 *
 * Work in progress (issue 14): the device memory, dispatch and the kernel families land
 * first, each tested against the js backend; registering 'webgpu' with core follows once
 * core's tensors can live on a device.
 *
 * @module @tapegrad/backend-webgpu
 */
export { GpuArray, GpuContext, type GpuContextOptions, type GpuMemoryStats, WebGpuUnavailableError } from './context.js';
export { type AcquiredDevice, type GpuAdapterDescription, type GpuDeviceOptions, requestGpuDevice } from './device.js';
