import type { GpuArray } from '../context.js';

/**
 * A kernel input: a device array, or a CPU float32 array (a tensor created before the
 * backend was chosen, or by `new Tensor(array)`), which `run()` uploads for that one call.
 */
export type GpuInput = GpuArray | Float32Array;
