/**
 * Test set-up shared by the WebGPU tests: SwiftShader (the CPU Vulkan driver in Debian's
 * chromium package) when no other Vulkan driver is configured, one device per test file.
 */
import fc from 'fast-check';
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

const SMALLEST_NORMAL_F32 = 1.1754943508222875e-38;

/**
 * Bit-for-bit equality but for NaN payloads (−0 ≠ +0): the first index that differs, or -1.
 * An expected subnormal may read as a zero of either sign: a product of normal numbers can
 * underflow, and GPUs may flush that.
 */
export function firstDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    if (a === 0 && e !== 0 && Math.abs(e) < SMALLEST_NORMAL_F32) continue;
    return i;
  }
  return -1;
}

/**
 * A shape of rank 0 … maxRank whose dimensions are 0 … maxDim (a zero now and then) and
 * whose size stays at most maxSize.
 */
export function shapeArb(maxRank = 6, maxDim = 4, maxSize = 600): fc.Arbitrary<number[]> {
  const dim = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 1, max: maxDim }) }, { weight: 1, arbitrary: fc.constant(0) });
  return fc.array(dim, { minLength: 0, maxLength: maxRank }).filter((s) => s.reduce((p, d) => p * d, 1) <= maxSize);
}

/**
 * An operand broadcasting to `outShape`, right-aligned as the kernels receive it: a 1 at
 * any position, and either the output's rank (leading 1s) or a lower one (dropped leading axes).
 */
export function broadcastOperandArb(outShape: readonly number[]): fc.Arbitrary<number[]> {
  return fc.tuple(fc.array(fc.boolean(), { minLength: outShape.length, maxLength: outShape.length }), fc.integer({ min: 0, max: outShape.length }), fc.boolean())
    .map(([ones, drop, keepRank]) => {
      const shape = outShape.map((d, i) => (ones[i] ? 1 : d));
      return keepRank ? shape : shape.slice(drop);
    });
}

/** Size of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/**
 * float32 values for random inputs: normal numbers or zeros (GPUs may flush subnormals, which
 * WGSL allows and SwiftShader does; the README states the difference).
 */
export const normalFloat = fc.float({ min: -20, max: 20, noNaN: true, noDefaultInfinity: true }).map((x) => (Math.abs(x) < SMALLEST_NORMAL_F32 ? 0 : x));

/** `n` random values. */
export function valuesArb(n: number, values: fc.Arbitrary<number> = normalFloat): fc.Arbitrary<Float32Array> {
  return fc.array(values, { minLength: n, maxLength: n }).map((list) => Float32Array.from(list));
}
