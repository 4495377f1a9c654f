import { boxResize } from '@tapegrad/datasets';
import { PNG } from 'pngjs';

/**
 * A PNG as a model input: grayscale, square, side × side, white digit on black in [0, 1],
 * the way MNIST's digits look.
 */

export const PNG_SIGNATURE = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

export interface PreparedImage {
  /** side × side values in [0, 1], row-major. */
  pixels: Float32Array;
  width: number;
  height: number;
  /** The background was light, so the image was inverted. */
  inverted: boolean;
  resized: boolean;
}

/** Luminance in [0, 1], composited over white where the image is transparent. */
function grayscale(png: PNG): Float64Array {
  const { width, height, data } = png;
  const gray = new Float64Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const alpha = data[4 * i + 3] / 255;
    const luminance = (0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2]) / 255;
    gray[i] = alpha * luminance + (1 - alpha);
  }
  return gray;
}

/** The mean of the outermost pixels: the background, for a digit drawn in the middle. */
function borderMean(values: Float64Array, width: number, height: number): number {
  let sum = 0;
  let count = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (y === 0 || x === 0 || y === height - 1 || x === width - 1) {
        sum += values[y * width + x];
        count++;
      }
    }
  }
  return sum / count;
}

/**
 * Decodes a PNG (any colour type or bit depth pngjs reads), converts it to grayscale,
 * inverts it if the background (the border's mean) is light, pads it to a square with the
 * background, and box-filters it to side × side.
 */
export function pngToInput(bytes: Uint8Array, side: number): PreparedImage {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const { width, height } = png;
  let gray = grayscale(png);
  const inverted = borderMean(gray, width, height) > 0.5;
  if (inverted) gray = gray.map((v) => 1 - v);
  let square = gray;
  let squareSide = width;
  if (width !== height) {
    // pad the short side with the background so the digit keeps its proportions
    squareSide = Math.max(width, height);
    const background = borderMean(gray, width, height);
    square = new Float64Array(squareSide * squareSide).fill(background);
    const left = Math.floor((squareSide - width) / 2);
    const top = Math.floor((squareSide - height) / 2);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) square[(y + top) * squareSide + x + left] = gray[y * width + x];
  }
  const resized = squareSide !== side;
  const values = resized ? boxResize(square, squareSide, squareSide, side) : square;
  const pixels = Float32Array.from(values, (v) => Math.min(1, Math.max(0, v)));
  return { pixels, width, height, inverted, resized };
}
