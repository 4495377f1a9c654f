import { Bitmap, LABEL_ASCENT, LABEL_LINE, Picture, type Rgb, WHITE, labelRoom } from './bitmap.js';

/**
 * The report's pixel pictures: a layer's weights as image tiles, drawn pixel by pixel into a
 * Bitmap, with their headings as SVG text in DejaVu Sans on top (a Picture). (The charts, curves and confusion matrix, are @tapegrad/charts' Vega-Lite specs.)
 */

const MUTED: Rgb = [110, 110, 110];

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  const u = Math.min(1, Math.max(0, t));
  return [Math.round(a[0] + (b[0] - a[0]) * u), Math.round(a[1] + (b[1] - a[1]) * u), Math.round(a[2] + (b[2] - a[2]) * u)];
}

// ---- weights as tiles ----------------------------------------------------------------

const NEGATIVE: Rgb = [33, 102, 172];
const POSITIVE: Rgb = [178, 24, 43];
const BORDER: Rgb = [150, 150, 150];

/** The tile shape for `inputs` weights: square when inputs is a square (784 → 28×28). */
export function tileShape(inputs: number): { rows: number; cols: number } {
  const side = Math.round(Math.sqrt(inputs));
  if (side * side === inputs) return { rows: side, cols: side };
  const cols = Math.ceil(Math.sqrt(inputs));
  return { rows: Math.ceil(inputs / cols), cols };
}

export interface TilePanel {
  /** The panel's heading, drawn above its grid. */
  label: string;
  /** [units, inputs], row-major. */
  weights: ArrayLike<number>;
}

/**
 * Each row of a [units, inputs] matrix as one tile (unit u's incoming weights, in the
 * input's pixel order), laid out in a grid; one grid per panel, stacked. Each tile is
 * scaled to its own largest |w| on a diverging scale (blue negative, white 0, red
 * positive), so every unit's pattern shows whatever its overall size; each has a 1-px grey
 * border.
 */
export function weightTiles(panels: readonly TilePanel[], units: number, inputs: number, title: string): Picture {
  const { rows: tileRows, cols: tileCols } = tileShape(inputs);
  const gridCols = Math.min(units, Math.ceil(Math.sqrt(2 * units)));
  const gridRows = Math.ceil(units / gridCols);
  const zoom = Math.max(1, Math.min(3, Math.floor(1400 / (gridCols * (tileCols + 1)))));
  const tileWidth = tileCols * zoom + 1;
  const tileHeight = tileRows * zoom + 1;
  const lineHeight = LABEL_LINE;
  const margin = 12;
  const gridWidth = gridCols * tileWidth + 1;
  const gridHeight = gridRows * tileHeight + 1;
  const titleHeight = 14 + lineHeight + 10;
  const panelHeight = 10 + lineHeight + 8 + gridHeight;
  const widest = Math.max(labelRoom(title), ...panels.map((p) => labelRoom(p.label)));
  const width = Math.max(margin * 2 + gridWidth, widest + 2 * margin);
  const height = titleHeight + panels.length * panelHeight + margin;
  const pixels = new Bitmap(width, height);
  const image = new Picture(pixels);
  image.label({ x: width / 2, y: 14 + LABEL_ASCENT, text: title, align: 'center', bold: true });
  const gridLeft = Math.round((width - gridWidth) / 2);
  panels.forEach((panel, k) => {
    const panelTop = titleHeight + k * panelHeight;
    image.label({ x: gridLeft, y: panelTop + 10 + LABEL_ASCENT, text: panel.label, color: MUTED });
    const top = panelTop + 10 + lineHeight + 8;
    for (let u = 0; u < units; u++) {
      const x0 = gridLeft + (u % gridCols) * tileWidth;
      const y0 = top + Math.floor(u / gridCols) * tileHeight;
      let largest = 0;
      for (let i = 0; i < inputs; i++) largest = Math.max(largest, Math.abs(panel.weights[u * inputs + i]));
      pixels.strokeRect(x0, y0, tileWidth + 1, tileHeight + 1, BORDER);
      for (let i = 0; i < inputs; i++) {
        const t = largest > 0 ? panel.weights[u * inputs + i] / largest : 0;
        const color = t < 0 ? mix(WHITE, NEGATIVE, -t) : mix(WHITE, POSITIVE, t);
        pixels.fillRect(x0 + 1 + (i % tileCols) * zoom, y0 + 1 + Math.floor(i / tileCols) * zoom, zoom, zoom, color);
      }
    }
  });
  return image;
}
