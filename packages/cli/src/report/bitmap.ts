import { PNG } from 'pngjs';

/** An opaque colour: [red, green, blue], each 0..255. */
export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];

/**
 * An RGBA image to draw the report's pixel pictures (weight tiles) into, then encode with
 * pngjs (their text is SVG on top: see Picture). Coordinates are pixels from the top-left
 * corner; whatever falls outside the image is clipped, so the drawing code never has to check.
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

  /** The image as PNG bytes (8-bit RGBA). */
  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }
}

export type HorizontalAlign = 'left' | 'center' | 'right';

/** A line of text on a Picture: DejaVu Sans, `size` px, its baseline at y. */
export interface Label {
  x: number;
  /** The baseline. */
  y: number;
  text: string;
  align?: HorizontalAlign;
  color?: Rgb;
  size?: number;
  bold?: boolean;
}

/** The label size of the layer pictures, px. */
export const LABEL_SIZE = 13;
/** Room a label line takes: its size and the descenders. */
export const LABEL_LINE = 16;
/** From a label line's top to its baseline (DejaVu Sans's ascent, ≈ 0.76 em, rounded up). */
export const LABEL_ASCENT = 11;

/**
 * A width no line of DejaVu Sans at `size` px exceeds for ordinary text (its widest common
 * glyphs, capitals such as M and W, are ≈ 0.8 em; sentence case averages ≈ 0.55 em): the
 * layouts leave this much room so a label never runs past the image.
 */
export function labelRoom(text: string, size = LABEL_SIZE): number {
  return Math.ceil(text.length * 0.62 * size);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * A layer picture: the pixels (tiles, borders, background) as a Bitmap, the words as SVG
 * text in DejaVu Sans on top. svg() embeds the bitmap as a PNG data URL at one SVG unit per
 * pixel, so svgToPng(svg, 1) gives back every tile pixel exactly (the image sits on whole
 * pixels at scale 1: nothing to resample) with real, anti-aliased text around it.
 */
export class Picture {
  readonly labels: Label[] = [];
  constructor(readonly pixels: Bitmap) {}

  get width(): number {
    return this.pixels.width;
  }

  get height(): number {
    return this.pixels.height;
  }

  label(label: Label): void {
    this.labels.push(label);
  }

  svg(): string {
    const { width, height } = this.pixels;
    const href = `data:image/png;base64,${this.pixels.toPng().toString('base64')}`;
    const texts = this.labels.map(({ x, y, text, align = 'left', color = BLACK, size = LABEL_SIZE, bold = false }) => {
      const anchor = align === 'left' ? 'start' : align === 'center' ? 'middle' : 'end';
      return `<text x="${x}" y="${y}" text-anchor="${anchor}" font-size="${size}"${bold ? ' font-weight="bold"' : ''} fill="rgb(${color.join(',')})">${escapeXml(text)}</text>`;
    });
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans">`,
      `<image x="0" y="0" width="${width}" height="${height}" image-rendering="optimizeSpeed" style="image-rendering:pixelated" href="${href}"/>`,
      ...texts,
      '</svg>',
    ].join('\n');
  }
}
