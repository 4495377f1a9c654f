/**
 * Test set-up shared by the WebGPU tests: SwiftShader (the CPU Vulkan driver in Debian's
 * chromium package) when no other Vulkan driver is configured, one device per test file.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GpuArray, GpuContext } from '../src/context.js';
import { requestGpuDevice } from '../src/device.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
// Dawn's Vulkan loader complains on every start without one
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'tapegrad-xdg-'));

let shared: Promise<GpuContext> | undefined;

/**
 * The test file's context (created on first use; Dawn needs no explicit teardown at exit).
 * Its 1-D grids spill into y past 8 workgroups (2048 threads) instead of 65535, so every
 * kernel's 2-D indexing is exercised by small arrays.
 */
export function gpu(): Promise<GpuContext> {
  shared ??= requestGpuDevice().then(({ device }) => new GpuContext(device, { maxWorkgroupsX: 8 }));
  return shared;
}

/** Uploads, so a test states its inputs as plain arrays. */
export function onDevice(context: GpuContext, values: ArrayLike<number>): GpuArray {
  return context.upload(Float32Array.from(values));
}

/** float32 closeness as the wasm/native property tests use it: relative for large values, absolute near 0. */
export function close(actual: number, expected: number, tolerance = 1e-5): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  if (!Number.isFinite(expected)) return actual === expected;
  return Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected));
}

/** The first index where two arrays differ beyond `tolerance`, or -1. */
export function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < expected.length; i++) if (!close(actual[i], expected[i], tolerance)) return i;
  return -1;
}
