import { PNG } from 'pngjs';
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textWidth } from './font.js';

/** An opaque colour: [red, green, blue], each 0..255. */
export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];

export type HorizontalAlign = 'left' | 'center' | 'right';
export type VerticalAlign = 'top' | 'middle' | 'bottom';

export interface TextOptions {
  color?: Rgb;
  /** Each font pixel becomes scale × scale image pixels. Default 2. */
  scale?: number;
  align?: HorizontalAlign;
  valign?: VerticalAlign;
}

/**
 * An RGBA image to draw the report's pixel pictures (weight tiles) into, then encode with
 * pngjs. Coordinates are pixels from the top-left corner; whatever falls outside the image is
 * clipped, so the drawing code never has to check.
 */
export class Bitmap {
  readonly width: number;
  readonly height: number;
  /** RGBA, row-major: pngjs's layout, so encoding needs no copy. */
  readonly data: Uint8Array;

  constructor(width: number, height: number, background: Rgb = WHITE) {
    this.width = Math.max(1, Math.round(width));
    this.height = Math.max(1, Math.round(height));
    this.data = new Uint8Array(this.width * this.height * 4);
    this.fillRect(0, 0, this.width, this.height, background);
  }

  setPixel(x: number, y: number, [r, g, b]: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = 4 * (y * this.width + x);
    this.data[i] = r;
    this.data[i + 1] = g;
    this.data[i + 2] = b;
    this.data[i + 3] = 255;
  }

  fillRect(x: number, y: number, width: number, height: number, color: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + width));
    const y1 = Math.min(this.height, Math.round(y + height));
    for (let yy = y0; yy < y1; yy++) for (let xx = x0; xx < x1; xx++) this.setPixel(xx, yy, color);
  }

  /** A 1-px outline just inside the rectangle. */
  strokeRect(x: number, y: number, width: number, height: number, color: Rgb): void {
    this.fillRect(x, y, width, 1, color);
    this.fillRect(x, y + height - 1, width, 1, color);
    this.fillRect(x, y, 1, height, color);
    this.fillRect(x + width - 1, y, 1, height, color);
  }

  /** Text in the built-in 5×7 font, anchored at (x, y) by `align` and `valign`. */
  text(x: number, y: number, text: string, options: TextOptions = {}): void {
    const { color = BLACK, scale = 2, align = 'left', valign = 'top' } = options;
    const width = textWidth(text, scale);
    const height = GLYPH_HEIGHT * scale;
    let left = align === 'left' ? x : align === 'center' ? x - width / 2 : x - width;
    const top = Math.round(valign === 'top' ? y : valign === 'middle' ? y - height / 2 : y - height);
    left = Math.round(left);
    for (const char of text) {
      const rows = glyph(char);
      for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
        for (let gx = 0; gx < GLYPH_WIDTH; gx++) if (rows[gy][gx] === '#') this.fillRect(left + gx * scale, top + gy * scale, scale, scale, color);
      }
      left += GLYPH_ADVANCE * scale;
    }
  }

  /** The image as PNG bytes (8-bit RGBA). */
  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }
}
