import { BLACK, Bitmap, type Rgb, WHITE } from './bitmap.js';
import { GLYPH_HEIGHT, textWidth } from './font.js';

/**
 * The report's three kinds of picture, drawn pixel by pixel into a Bitmap: learning curves
 * with labelled axes, a confusion-matrix heat map, and a layer's weights as image tiles.
 */

const AXIS: Rgb = [60, 60, 60];
const GRID: Rgb = [215, 215, 215];
const MUTED: Rgb = [110, 110, 110];
/** matplotlib's tab10 blue and orange: distinguishable for the common colour blindnesses. */
export const SERIES_COLORS: readonly Rgb[] = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40]];

// ---- ticks ---------------------------------------------------------------------------

export interface Ticks {
  values: number[];
  step: number;
  min: number;
  max: number;
}

/**
 * About `count` round tick values (1, 2 or 5 × 10ᵏ apart) covering [min, max]; the returned
 * range is widened to whole steps, so the axis starts and ends on a tick.
 */
export function niceTicks(min: number, max: number, count = 5, integer = false): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  if (integer) step = Math.max(1, Math.round(step));
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const values: number[] = [];
  for (let v = lo; v <= hi + step * 1e-9; v += step) values.push(Number(v.toFixed(12)));
  return { values, step, min: lo, max: hi };
}

/** A tick label with just enough decimals for the step: 0.25, 0.5, 1, 20. */
export function formatTick(value: number, step: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  const text = value.toFixed(decimals);
  return text === '-0' ? '0' : text;
}

// ---- learning curves -----------------------------------------------------------------

export interface Series {
  name: string;
  /** [x, y] points in x order; non-finite y values are left out. */
  points: ReadonlyArray<readonly [number, number]>;
  color?: Rgb;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Integer x ticks only (epochs). */
  integerX?: boolean;
  /** Always include these y values in the range (0 and 1 for accuracy, say). */
  yInclude?: readonly number[];
  width?: number;
  height?: number;
}

/** Curves over a shared x axis, with ticks, grid, axis titles and a legend. */
export function lineChart(options: LineChartOptions): Bitmap {
  const { title, xLabel, yLabel, series, integerX = false, yInclude = [], width = 760, height = 460 } = options;
  const image = new Bitmap(width, height);
  const points = series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const xs = points.map(([x]) => x);
  const ys = [...points.map(([, y]) => y), ...yInclude];
  let xMin = xs.length > 0 ? Math.min(...xs) : 0;
  let xMax = xs.length > 0 ? Math.max(...xs) : 1;
  if (xMin === xMax) {
    xMin -= 1;
    xMax += 1;
  }
  const xTicks = niceTicks(xMin, xMax, Math.min(10, Math.max(2, xMax - xMin)), integerX);
  const yTicks = niceTicks(ys.length > 0 ? Math.min(...ys) : 0, ys.length > 0 ? Math.max(...ys) : 1, 6);
  const yTickLabels = yTicks.values.map((v) => formatTick(v, yTicks.step));

  const scale = 2;
  const lineHeight = GLYPH_HEIGHT * scale;
  const left = 28 + lineHeight + Math.max(...yTickLabels.map((t) => textWidth(t, scale)));
  const right = 28;
  const top = 30 + 2 * lineHeight;
  const bottom = 34 + 2 * lineHeight;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const px = (x: number) => left + ((x - xTicks.min) / (xTicks.max - xTicks.min)) * plotWidth;
  const py = (y: number) => top + plotHeight - ((y - yTicks.min) / (yTicks.max - yTicks.min)) * plotHeight;

  image.text(width / 2, 12, title, { align: 'center', scale });

  // grid and ticks
  yTicks.values.forEach((v, i) => {
    const y = Math.round(py(v));
    image.dashedHLine(left, left + plotWidth, y, GRID);
    image.fillRect(left - 6, y, 6, 1, AXIS);
    image.text(left - 10, y, yTickLabels[i], { align: 'right', valign: 'middle', scale, color: AXIS });
  });
  for (const v of xTicks.values) {
    const x = Math.round(px(v));
    image.dashedVLine(x, top, top + plotHeight, GRID);
    image.fillRect(x, top + plotHeight, 1, 6, AXIS);
    image.text(x, top + plotHeight + 10, formatTick(v, xTicks.step), { align: 'center', scale, color: AXIS });
  }
  // axes
  image.fillRect(left, top, 1, plotHeight + 1, AXIS);
  image.fillRect(left, top + plotHeight, plotWidth + 1, 1, AXIS);
  image.text(left + plotWidth / 2, height - 10, xLabel, { align: 'center', valign: 'bottom', scale });
  image.verticalText(12 + lineHeight / 2, top + plotHeight / 2, yLabel, { scale });

  // data: 2-px lines, then markers on top
  series.forEach((s, i) => {
    const color = s.color ?? SERIES_COLORS[i % SERIES_COLORS.length];
    const finite = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    for (let k = 1; k < finite.length; k++) image.line(px(finite[k - 1][0]), py(finite[k - 1][1]), px(finite[k][0]), py(finite[k][1]), color, 2);
    for (const [x, y] of finite) image.disc(px(x), py(y), 4, color);
  });

  // legend, top right above the plot
  let legendX = left + plotWidth;
  const legendY = top - lineHeight - 8;
  for (let i = series.length - 1; i >= 0; i--) {
    const color = series[i].color ?? SERIES_COLORS[i % SERIES_COLORS.length];
    legendX -= textWidth(series[i].name, scale);
    image.text(legendX, legendY, series[i].name, { scale });
    legendX -= 30;
    image.line(legendX, legendY + lineHeight / 2, legendX + 20, legendY + lineHeight / 2, color, 2);
    image.disc(legendX + 10, legendY + lineHeight / 2, 3, color);
    legendX -= 20;
  }
  return image;
}

// ---- confusion matrix ----------------------------------------------------------------

const HEAT_LOW: Rgb = [247, 251, 255];
const HEAT_HIGH: Rgb = [8, 48, 107];

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  const u = Math.min(1, Math.max(0, t));
  return [Math.round(a[0] + (b[0] - a[0]) * u), Math.round(a[1] + (b[1] - a[1]) * u), Math.round(a[2] + (b[2] - a[2]) * u)];
}

/**
 * counts[true][predicted] as a heat map. A cell's shade is its share of the true class's
 * row, on a square-root scale so that a handful of confusions still shows next to a
 * diagonal of hundreds; the count is written in it. Each row ends with the class's recall.
 */
export function confusionChart(counts: readonly (readonly number[])[], title: string, labels?: readonly string[]): Bitmap {
  const n = counts.length;
  const names = labels ?? counts.map((_, i) => String(i));
  const scale = 2;
  const lineHeight = GLYPH_HEIGHT * scale;
  const widest = Math.max(...counts.flat().map((c) => textWidth(String(c), scale)), ...names.map((s) => textWidth(s, scale)));
  const cell = Math.max(44, widest + 10);
  const rowLabelWidth = Math.max(...names.map((s) => textWidth(s, scale)));
  const left = 24 + lineHeight + 12 + rowLabelWidth + 10;
  const top = 24 + lineHeight + 20;
  const recallWidth = textWidth('100.0%', scale) + 16;
  const width = Math.max(left + n * cell + recallWidth + 16, textWidth(title, scale) + 40);
  const height = top + n * cell + 10 + lineHeight + 14 + lineHeight + 20;
  const image = new Bitmap(width, height);
  image.text(width / 2, 14, title, { align: 'center', scale });

  for (let t = 0; t < n; t++) {
    const rowTotal = counts[t].reduce((a, b) => a + b, 0);
    for (let p = 0; p < n; p++) {
      const share = rowTotal > 0 ? counts[t][p] / rowTotal : 0;
      const shade = mix(HEAT_LOW, HEAT_HIGH, Math.sqrt(share));
      const x = left + p * cell;
      const y = top + t * cell;
      image.fillRect(x, y, cell, cell, shade);
      // dark text on pale cells, white on dark ones (relative luminance)
      const luminance = 0.2126 * shade[0] + 0.7152 * shade[1] + 0.0722 * shade[2];
      if (counts[t][p] > 0) image.text(x + cell / 2, y + cell / 2, String(counts[t][p]), { align: 'center', valign: 'middle', scale, color: luminance < 140 ? WHITE : BLACK });
    }
    image.text(left - 10, top + t * cell + cell / 2, names[t], { align: 'right', valign: 'middle', scale });
    const recall = rowTotal > 0 ? `${((100 * counts[t][t]) / rowTotal).toFixed(1)}%` : '–';
    image.text(left + n * cell + 10, top + t * cell + cell / 2, recall, { valign: 'middle', scale, color: MUTED });
  }
  // 1-px cell borders and the frame
  for (let k = 0; k <= n; k++) {
    image.fillRect(left + k * cell, top, 1, n * cell + 1, GRID);
    image.fillRect(left, top + k * cell, n * cell + 1, 1, GRID);
  }
  image.strokeRect(left, top, n * cell + 1, n * cell + 1, AXIS);
  image.text(left + n * cell + 10, top - 8, 'RECALL', { valign: 'bottom', scale, color: MUTED });
  for (let p = 0; p < n; p++) image.text(left + p * cell + cell / 2, top + n * cell + 10, names[p], { align: 'center', scale });
  image.text(left + (n * cell) / 2, top + n * cell + 10 + lineHeight + 14, 'PREDICTED CLASS', { align: 'center', scale });
  image.verticalText(24 + lineHeight / 2, top + (n * cell) / 2, 'TRUE CLASS', { scale });
  return image;
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
export function weightTiles(panels: readonly TilePanel[], units: number, inputs: number, title: string): Bitmap {
  const { rows: tileRows, cols: tileCols } = tileShape(inputs);
  const gridCols = Math.min(units, Math.ceil(Math.sqrt(2 * units)));
  const gridRows = Math.ceil(units / gridCols);
  const zoom = Math.max(1, Math.min(3, Math.floor(1400 / (gridCols * (tileCols + 1)))));
  const tileWidth = tileCols * zoom + 1;
  const tileHeight = tileRows * zoom + 1;
  const scale = 2;
  const lineHeight = GLYPH_HEIGHT * scale;
  const margin = 12;
  const gridWidth = gridCols * tileWidth + 1;
  const gridHeight = gridRows * tileHeight + 1;
  const titleHeight = 14 + lineHeight + 10;
  const panelHeight = 10 + lineHeight + 8 + gridHeight;
  const widest = Math.max(textWidth(title, scale), ...panels.map((p) => textWidth(p.label, scale)));
  const width = Math.max(margin * 2 + gridWidth, widest + 2 * margin);
  const height = titleHeight + panels.length * panelHeight + margin;
  const image = new Bitmap(width, height);
  image.text(width / 2, 14, title, { align: 'center', scale });
  const gridLeft = Math.round((width - gridWidth) / 2);
  panels.forEach((panel, k) => {
    const panelTop = titleHeight + k * panelHeight;
    image.text(gridLeft, panelTop + 10, panel.label, { scale, color: MUTED });
    const top = panelTop + 10 + lineHeight + 8;
    for (let u = 0; u < units; u++) {
      const x0 = gridLeft + (u % gridCols) * tileWidth;
      const y0 = top + Math.floor(u / gridCols) * tileHeight;
      let largest = 0;
      for (let i = 0; i < inputs; i++) largest = Math.max(largest, Math.abs(panel.weights[u * inputs + i]));
      image.strokeRect(x0, y0, tileWidth + 1, tileHeight + 1, BORDER);
      for (let i = 0; i < inputs; i++) {
        const t = largest > 0 ? panel.weights[u * inputs + i] / largest : 0;
        const color = t < 0 ? mix(WHITE, NEGATIVE, -t) : mix(WHITE, POSITIVE, t);
        image.fillRect(x0 + 1 + (i % tileCols) * zoom, y0 + 1 + Math.floor(i / tileCols) * zoom, zoom, zoom, color);
      }
    }
  });
  return image;
}
