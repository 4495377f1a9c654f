import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * tapegrad's charts as Vega-Lite specs, and one renderer from a spec to SVG text.
 *
 * Universal: nothing here touches Node or the DOM, so the CLI's report (SVG inline in
 * report.html, PNG files through resvg) and the browser playground (SVG in the page) draw
 * the same charts from the same code.
 */

/** A Vega-Lite spec, as the functions here return it (vega-lite's own type). */
export type { TopLevelSpec } from 'vega-lite';

/** matplotlib's tab10 blue, orange, green, red: distinguishable for the common colour blindnesses. */
export const SERIES_COLORS: readonly string[] = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];

/**
 * The font the charts ask for. The CLI renders PNGs with the DejaVu Sans files it ships, so
 * the pictures look the same on every machine; a browser falls back to its own sans-serif.
 */
export const CHART_FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';

/** Diameter in pixels of a line chart's point markers (Vega-Lite's `size` is their area). */
export const POINT_DIAMETER = 9;

/** Shared look: a real font, light grid, no frame around the plot. */
const CONFIG = {
  font: CHART_FONT,
  background: 'white',
  padding: 12,
  view: { stroke: null },
  title: { fontSize: 17, fontWeight: 'bold', anchor: 'middle', offset: 12 },
  axis: { labelFontSize: 13, titleFontSize: 14, titleFontWeight: 'normal', gridColor: '#e3e3e3', domainColor: '#555', tickColor: '#555', labelColor: '#333', titleColor: '#222' },
  legend: { labelFontSize: 13, titleFontSize: 13, symbolStrokeWidth: 2.5 },
} as const;

/** One curve of a line chart. */
export interface CurveSeries {
  /** The legend's name for it. */
  name: string;
  /** [x, y] points in x order; non-finite values are left out. */
  points: ReadonlyArray<readonly [number, number]>;
}

/** What {@link lineChartSpec} draws. */
export interface LineChartOptions {
  /** The chart's title, above the plot. */
  title: string;
  /** The x axis' title. */
  xLabel: string;
  /** The y axis' title. */
  yLabel: string;
  /** The curves, coloured SERIES_COLORS[0], [1], … in this order. */
  series: readonly CurveSeries[];
  /** Integer x ticks only (epochs). */
  integerX?: boolean;
  /** Always include these y values in the range (0 for a loss, say). */
  yInclude?: readonly number[];
  /** Logarithmic y axis (a loss over many steps); points with y ≤ 0 are left out. */
  logY?: boolean;
  /** Markers on the data points (default: when every series has at most 60 points). */
  points?: boolean;
  /** Plot area width in pixels (the picture adds axes, title and legend around it). Default 620. */
  width?: number;
  /** Plot area height in pixels. Default 340. */
  height?: number;
}

/**
 * Curves over a shared x axis: one colour per series in order (SERIES_COLORS), titled axes,
 * a grid, and a legend below the plot naming each series.
 */
export function lineChartSpec(options: LineChartOptions): TopLevelSpec {
  const { title, xLabel, yLabel, series, integerX = false, yInclude = [], logY = false, width = 620, height = 340 } = options;
  const values = series.flatMap((s, order) =>
    s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0))
      .map(([x, y]) => ({ series: s.name, order, x, y })),
  );
  const ys = values.map((v) => v.y);
  const domain = !logY && yInclude.length > 0 && ys.length > 0 ? [Math.min(...ys, ...yInclude), Math.max(...ys, ...yInclude)] : undefined;
  const showPoints = options.points ?? series.every((s) => s.points.length <= 60);
  const xs = values.map((v) => v.x);
  const xSpan = xs.length > 0 ? Math.max(...xs) - Math.min(...xs) : 0;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width,
    height,
    config: CONFIG,
    data: { values },
    mark: {
      type: 'line',
      strokeWidth: 2.5,
      ...(showPoints ? { point: { filled: true, size: Math.round((Math.PI * POINT_DIAMETER ** 2) / 4), opacity: 1 } } : {}),
    },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: xLabel,
        scale: { nice: false, zero: false, padding: 12 },
        axis: integerX ? { tickMinStep: 1, format: 'd', ...(xSpan <= 20 ? { tickCount: Math.max(1, xSpan) } : {}) } : {},
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: yLabel,
        scale: logY ? { type: 'log' } : { zero: false, nice: true, ...(domain ? { domain } : {}) },
        ...(logY && ys.length > 0 ? { axis: { values: logTicks(Math.min(...ys), Math.max(...ys)), format: '~g' } } : {}),
      },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        sort: series.map((s) => s.name),
        scale: { domain: series.map((s) => s.name), range: SERIES_COLORS.slice(0, Math.max(1, series.length)) },
        legend: { orient: 'bottom', direction: 'horizontal' },
      },
      order: { field: 'x', type: 'quantitative' },
    },
  } as TopLevelSpec;
}

/**
 * Tick values for a log axis over [lo, hi]: the powers of ten (1, 2 and 5 × 10ᵏ when the
 * range spans less than two decades, every digit within one), so the axis is not crowded
 * with Vega's default 2…9 × 10ᵏ labels.
 */
export function logTicks(lo: number, hi: number): number[] {
  const first = Math.floor(Math.log10(lo));
  const last = Math.ceil(Math.log10(hi));
  const within = (mantissas: number[]) => {
    const ticks: number[] = [];
    for (let k = first; k <= last; k++) for (const m of mantissas) ticks.push(Number((m * 10 ** k).toPrecision(12)));
    return ticks.filter((t) => t >= lo / 1.0001 && t <= hi * 1.0001);
  };
  const decades = Math.log10(hi / lo);
  const ticks = within(decades < 2 ? [1, 2, 5] : [1]);
  // less than a decade may hold only one of those: then every digit
  return ticks.length >= 2 ? ticks : within([1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

/**
 * counts[true][predicted] as a heat map: a cell's shade is its share of the true class's row
 * on a square-root scale (so a handful of confusions shows next to a diagonal of hundreds),
 * the count is written in it, and a column at the right gives each class's recall.
 */
export function confusionChartSpec(counts: readonly (readonly number[])[], title: string, labels?: readonly string[]): TopLevelSpec {
  const names = labels ?? counts.map((_, i) => String(i));
  const cells = counts.flatMap((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, p) => ({ true: names[t], predicted: names[p], count, share: total > 0 ? count / total : 0 }));
  });
  const recall = counts.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    return { true: names[t], recall: total > 0 ? `${((100 * row[t]) / total).toFixed(1)}%` : '–' };
  });
  const widest = Math.max(1, ...counts.flat().map((c) => String(c).length));
  const step = Math.max(40, 10 * widest + 14);
  const y = { field: 'true', type: 'ordinal', sort: names, title: 'true class', axis: { labelAngle: 0 } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    config: { ...CONFIG, axis: { ...CONFIG.axis, grid: false, ticks: false, domain: false } },
    spacing: 6,
    hconcat: [
      {
        width: { step },
        height: { step },
        data: { values: cells },
        encoding: {
          x: { field: 'predicted', type: 'ordinal', sort: names, title: 'predicted class', axis: { labelAngle: 0, orient: 'bottom' } },
          y,
        },
        layer: [
          {
            mark: { type: 'rect', stroke: '#d7d7d7', strokeWidth: 1 },
            encoding: {
              color: { field: 'share', type: 'quantitative', scale: { type: 'sqrt', domain: [0, 1], range: ['#f7fbff', '#08306b'] }, legend: null },
            },
          },
          {
            transform: [{ filter: 'datum.count > 0' }],
            mark: { type: 'text', fontSize: 13 },
            encoding: {
              text: { field: 'count', type: 'quantitative' },
              // white on the dark cells (√share > 0.55 is past mid-blue), dark on the pale ones
              color: { condition: { test: 'sqrt(datum.share) > 0.55', value: 'white' }, value: '#111' },
            },
          },
        ],
      },
      {
        width: 64,
        height: { step },
        data: { values: recall },
        mark: { type: 'text', align: 'left', dx: -26, fontSize: 13, color: '#666' },
        encoding: { y: { ...y, axis: null }, text: { field: 'recall', type: 'nominal' } },
        title: { text: 'recall', fontSize: 13, fontWeight: 'normal', color: '#666', anchor: 'start', orient: 'top', offset: 6 },
      },
    ],
  } as TopLevelSpec;
}

/**
 * A Vega-Lite spec drawn as SVG text (no DOM needed: Vega's headless view). Text widths are
 * measured with a canvas in a browser and estimated in Node.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
