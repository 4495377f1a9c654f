import { type MnistDigitData, boxResize } from '@tapegrad/datasets';

/**
 * The MNIST side of the page without the DOM: unpacking the bundled subset, and turning a
 * drawing into a 28 × 28 input the way MNIST's digits were made (the ink's bounding box
 * scaled into 20 × 20 keeping its proportions, then placed by its centre of mass at the
 * centre of 28 × 28) — the ideas of the CLI's PNG conversion (packages/cli/src/image.ts).
 */

export const SIDE = 28;
const INNER = 20;

/** The vite plugin's mnist-subset.bin (4-bit pixels, two per byte, digit 0 first) as the ten digits' `{ data }`. */
export function unpackMnistSubset(packed: Uint8Array): MnistDigitData[] {
  const pixels = packed.length * 2;
  const perDigit = pixels / (10 * SIDE * SIDE);
  if (!Number.isInteger(perDigit) || perDigit < 1) throw new Error(`mnist-subset.bin: ${packed.length} bytes is not ten digits of 28 × 28 images`);
  const values = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++) values[i] = ((i % 2 === 0 ? packed[i >> 1] >> 4 : packed[i >> 1] & 15) / 15);
  const size = perDigit * SIDE * SIDE;
  return Array.from({ length: 10 }, (_, d) => ({ data: values.subarray(d * size, (d + 1) * size) }));
}

/**
 * A drawing (ink in [0, 1], width × height, row-major) as a 28 × 28 MNIST-like input in
 * [0, 1], or null when nothing is drawn.
 */
export function toMnistInput(ink: ArrayLike<number>, width: number, height: number): Float32Array | null {
  let [left, right, top, bottom] = [width, -1, height, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] > 0.05) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  if (right < 0) return null;
  // the bounding box, padded to a square so the digit keeps its proportions (a 1 stays thin)
  const w = right - left + 1;
  const h = bottom - top + 1;
  const square = Math.max(w, h);
  const crop = new Float64Array(square * square);
  const dx = Math.floor((square - w) / 2);
  const dy = Math.floor((square - h) / 2);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) crop[(y + dy) * square + x + dx] = ink[(y + top) * width + x + left];
  const inner = boxResize(crop, square, square, INNER);
  // MNIST centres the 20 × 20 box by its centre of mass, not its middle
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < INNER; y++) {
    for (let x = 0; x < INNER; x++) {
      const v = inner[y * INNER + x];
      mass += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  const clamp = (v: number) => Math.min(SIDE - INNER, Math.max(0, v));
  const offsetX = clamp(Math.round(SIDE / 2 - cx / mass));
  const offsetY = clamp(Math.round(SIDE / 2 - cy / mass));
  const out = new Float32Array(SIDE * SIDE);
  for (let y = 0; y < INNER; y++) for (let x = 0; x < INNER; x++) out[(y + offsetY) * SIDE + x + offsetX] = Math.min(1, inner[y * INNER + x]);
  return out;
}
