/**
 * @tapegrad/backend-webgpu: tapegrad's kernels as WGSL compute shaders, for a GPU through
 * WebGPU — in browsers (navigator.gpu) and in Node (Dawn, through the `webgpu` package).
 *
 *   import { initWebGpuBackend } from '@tapegrad/backend-webgpu';
 *   const backend = await initWebGpuBackend();   // registers 'webgpu' and makes it the default
 *   const y = matmul(a, b);                       // enqueued on the GPU
 *   console.log(await y.toArrayAsync());          // reads are asynchronous
 *
 * @module @tapegrad/backend-webgpu
 */
import { registerBackend } from '@tapegrad/core';
import { GpuContext, type GpuContextOptions } from './context.js';
import { type GpuDeviceOptions, requestGpuDevice } from './device.js';
import { type WebGpuBackend, createWebGpuBackend } from './backend.js';

export { GpuArray, GpuContext, type GpuContextOptions, type GpuMemoryStats, WebGpuUnavailableError } from './context.js';
export { type AcquiredDevice, type GpuAdapterDescription, type GpuDeviceOptions, requestGpuDevice } from './device.js';
export { type WebGpuBackend, createWebGpuBackend } from './backend.js';

/** Where 'webgpu' ranks when core picks its default backend: above native (30), wasm (20) and js (10). */
export const WEBGPU_BACKEND_PRIORITY = 40;

/** Options of {@link initWebGpuBackend}. */
export interface WebGpuBackendOptions extends GpuDeviceOptions, GpuContextOptions {}

let pending: Promise<WebGpuBackend> | undefined;

/**
 * Finds a GPU (navigator.gpu in a browser, Dawn through the `webgpu` package in Node),
 * registers it with core as 'webgpu' and returns the backend; later calls return the same
 * one. Registering makes it core's default unless the program chose a backend with
 * setBackend. Without an adapter it rejects with a WebGpuUnavailableError whose message
 * says why in one line.
 */
export function initWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  pending ??= requestGpuDevice(options).then(({ device, adapter }) => {
    const backend = createWebGpuBackend(new GpuContext(device, options), adapter);
    registerBackend(backend, { priority: WEBGPU_BACKEND_PRIORITY });
    return backend;
  });
  // a failed attempt may be retried (a driver installed, an env var set)
  pending.catch(() => {
    pending = undefined;
  });
  return pending;
}
