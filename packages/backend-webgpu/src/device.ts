/// <reference types="@webgpu/types" />
import { WebGpuUnavailableError } from './context.js';

/** What the adapter says it is, and whether it is SwiftShader (a CPU: correctness only). */
export interface GpuAdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** Google's CPU implementation of Vulkan: right answers, no GPU speed. */
  readonly swiftShader: boolean;
}

/** Options of {@link requestGpuDevice}. */
export interface GpuDeviceOptions {
  /** Passed to requestAdapter. */
  readonly powerPreference?: 'low-power' | 'high-performance';
  /** A GPU object to use instead of navigator.gpu or Node's `webgpu` package (tests, workers). */
  readonly gpu?: GPU;
}

/** A device and what runs it. */
export interface AcquiredDevice {
  readonly device: GPUDevice;
  readonly adapter: GpuAdapterDescription;
}

/**
 * Every GPU object and adapter that gave out a device, held for the life of the process:
 * in Node, Dawn's instance must outlive its devices — once the garbage collector took an
 * unreferenced instance, the next map or submit crashed the process (seen here as
 * "futex facility returned an unexpected error code").
 */
const keptAlive: unknown[] = [];

const NODE_HINT =
  'Dawn (the `webgpu` package) found no Vulkan adapter: install libvulkan1 and a GPU driver, ' +
  'or to check correctness on the CPU, Debian\'s chromium and VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * The GPU of this environment: `navigator.gpu` in a browser, Node's `webgpu` package (Dawn)
 * otherwise. Throws {@link WebGpuUnavailableError} with a one-line reason when there is none.
 */
export async function requestGpuDevice(options: GpuDeviceOptions = {}): Promise<AcquiredDevice> {
  const { gpu, where } = options.gpu ? { gpu: options.gpu, where: 'the given GPU object' } : await findGpu();
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
  } catch (error) {
    throw new WebGpuUnavailableError('initWebGpuBackend', `requestAdapter failed in ${where}: ${(error as Error).message}`);
  }
  if (adapter === null) {
    const hint = where === "Node's webgpu package" ? NODE_HINT : 'this browser exposes navigator.gpu but gave no adapter (WebGPU disabled, or no supported GPU)';
    throw new WebGpuUnavailableError('initWebGpuBackend', `no WebGPU adapter: ${hint}`);
  }
  const info = adapter.info;
  const description: GpuAdapterDescription = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    swiftShader: /swiftshader/i.test(`${info?.vendor} ${info?.architecture} ${info?.device} ${info?.description}`),
  };
  // the largest buffers the adapter allows: a 4096² matrix is 64 MiB, over the 128 MiB default for a batch of them
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
    },
  });
  keptAlive.push(gpu, adapter);
  return { device, adapter: description };
}

async function findGpu(): Promise<{ gpu: GPU; where: string }> {
  const navigatorGpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (navigatorGpu) return { gpu: navigatorGpu, where: 'navigator.gpu' };
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) throw new WebGpuUnavailableError('initWebGpuBackend', 'this browser has no navigator.gpu (WebGPU is not enabled here)');
  let create: (flags: string[]) => GPU;
  try {
    ({ create } = (await import('webgpu')) as { create: (flags: string[]) => GPU });
  } catch (error) {
    throw new WebGpuUnavailableError('initWebGpuBackend', `Node's \`webgpu\` package did not load (${(error as Error).message.split('\n')[0]})`);
  }
  return { gpu: create([]), where: "Node's webgpu package" };
}
