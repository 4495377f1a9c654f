import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { POINT_DIAMETER, SERIES_COLORS } from '@tapegrad/charts';
import { type RenderedReport, type RunRecord, renderReport } from '../src/report/index.js';

/**
 * The report's wiring: each picture plots the figures its name promises. Checking only an
 * image's size let an accuracy chart that plotted the loss through, so here every series is
 * read back out of the decoded PNG (its colour's pixels, column by column) and must rise and
 * fall with the right column of the run's history: the four curves have different shapes.
 */

const TRAIN_LOSS = [2.1, 1.4, 1.6, 0.9, 0.7, 0.3];
const TEST_LOSS = [1.9, 1.8, 1.0, 1.1, 0.4, 0.5];
const TRAIN_ACCURACY = [0.31, 0.82, 0.55, 0.9, 0.62, 0.97];
const TEST_ACCURACY = [0.6, 0.35, 0.7, 0.45, 0.93, 0.8];

function run(): RunRecord {
  const epochs = TRAIN_LOSS.map((loss, i) => ({
    epoch: i + 1, loss, trainAccuracy: TRAIN_ACCURACY[i], testLoss: TEST_LOSS[i], testAccuracy: TEST_ACCURACY[i],
    seconds: 1, examplesPerSecond: 100,
  }));
  return {
    command: 'tapegrad train (wiring test)',
    settings: {
      layers: '4,2,2', activation: 'relu', output: 'softmax', loss: 'cce', optimizer: 'sgd', lr: 0.1, batchSize: 2, epochs: 6,
      seed: 1, shuffleSeed: 2, init: 'he', dtype: 'float32', data: 'synthetic', limitTrain: 0, limitTest: 0, backend: 'js',
    },
    dataDescription: 'synthetic',
    epochs,
    final: {
      testAccuracy: 0.8, testCorrect: 8, testExamples: 10, testLoss: 0.5, trainAccuracy: 0.97, trainLoss: 0.3, trainExamples: 10, trainingSeconds: 6,
    },
    confusion: [[4, 1], [1, 4]],
    firstLayer: { initial: new Float64Array(8), trained: Float64Array.from({ length: 8 }, (_, i) => i - 4), units: 2, inputs: 4 },
    startedAt: performance.now(),
  };
}

/** The PNGs are drawn at twice the SVG's size. */
const ZOOM = 2;

/**
 * The curve drawn in `color`, sampled at each epoch: the mean row of that colour's pixels in
 * the columns where its first and last markers sit and at the evenly spaced columns between.
 * Pixels count when within a small distance of the colour (resvg anti-aliases edges). The
 * legend's sample, below the plot, is a separate small blob of the colour: only connected
 * regions (8-neighbours) wider than a legend symbol count as the curve.
 */
function curveRows(png: Uint8Array, hex: string, points: number): number[] {
  const color = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  const image = PNG.sync.read(Buffer.from(png));
  const { width, height, data } = image;
  const near = new Uint8Array(width * height);
  for (let i = 0; i < width * height; i++) {
    if (Math.abs(data[4 * i] - color[0]) + Math.abs(data[4 * i + 1] - color[1]) + Math.abs(data[4 * i + 2] - color[2]) <= 40) near[i] = 1;
  }
  const seen = new Uint8Array(width * height);
  const rowsByColumn = new Map<number, number[]>();
  for (let start = 0; start < width * height; start++) {
    if (!near[start] || seen[start]) continue;
    const blob: number[] = [];
    const stack = [start];
    seen[start] = 1;
    while (stack.length > 0) {
      const i = stack.pop()!;
      blob.push(i);
      const [x, y] = [i % width, Math.floor(i / width)];
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const [nx, ny] = [x + dx, y + dy];
          const j = ny * width + nx;
          if (nx >= 0 && ny >= 0 && nx < width && ny < height && near[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    const xs = blob.map((i) => i % width);
    if (Math.max(...xs) - Math.min(...xs) < 20 * ZOOM) continue;
    for (const i of blob) {
      const rows = rowsByColumn.get(i % width) ?? [];
      rows.push(Math.floor(i / width));
      rowsByColumn.set(i % width, rows);
    }
  }
  const columns = [...rowsByColumn.keys()].sort((a, b) => a - b);
  expect(columns.length, `pixels of colour ${hex}`).toBeGreaterThan(50);
  // the first and last marker centres are a marker radius inside the extremes
  const radius = (POINT_DIAMETER * ZOOM) / 2;
  const first = columns[0] + radius;
  const last = columns[columns.length - 1] - radius;
  return Array.from({ length: points }, (_, i) => {
    const x = Math.round(first + ((last - first) * i) / (points - 1));
    const rows = [x - 1, x, x + 1].flatMap((c) => rowsByColumn.get(c) ?? []);
    return rows.reduce((s, r) => s + r, 0) / rows.length;
  });
}

/** Pearson correlation. */
function correlation(a: readonly number[], b: readonly number[]): number {
  const mean = (v: readonly number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const [ma, mb] = [mean(a), mean(b)];
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('report wiring: each chart plots what its name says', () => {
  let files: RenderedReport['files'];
  beforeAll(async () => {
    files = (await renderReport(run())).files;
  });
  const [train, test] = [SERIES_COLORS[0], SERIES_COLORS[1]];

  it.each([
    ['accuracy.png', 'train accuracy', train, TRAIN_ACCURACY],
    ['accuracy.png', 'test accuracy', test, TEST_ACCURACY],
    ['loss.png', 'train loss', train, TRAIN_LOSS],
    ['loss.png', 'test loss', test, TEST_LOSS],
  ] as const)('%s: the curve in its colour follows the %s column', (file, _label, color, values) => {
    const rows = curveRows(files[file] as Uint8Array, color, values.length);
    // image rows grow downwards: a higher value is a smaller row, on a linear axis
    expect(correlation(rows, values)).toBeLessThan(-0.999);
    // and not any other column of the history (each pair of the four shapes differs)
    for (const other of [TRAIN_LOSS, TEST_LOSS, TRAIN_ACCURACY, TEST_ACCURACY].filter((v) => v !== values)) {
      expect(correlation(rows, other)).toBeGreaterThan(-0.95);
    }
  });

  it('metrics.json carries the same history', () => {
    const metrics = JSON.parse(files['metrics.json'] as string) as { epochs: Array<{ loss: number; trainAccuracy: number; testAccuracy: number; testLoss: number }> };
    expect(metrics.epochs.map((e) => e.trainAccuracy)).toEqual(TRAIN_ACCURACY);
    expect(metrics.epochs.map((e) => e.testAccuracy)).toEqual(TEST_ACCURACY);
    expect(metrics.epochs.map((e) => e.loss)).toEqual(TRAIN_LOSS);
    expect(metrics.epochs.map((e) => e.testLoss)).toEqual(TEST_LOSS);
  });
});
