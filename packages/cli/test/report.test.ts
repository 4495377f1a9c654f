import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { Bitmap, WHITE } from '../src/report/bitmap.js';
import { confusionChart, formatTick, lineChart, niceTicks, tileShape, weightTiles } from '../src/report/charts.js';
import { FONT_CHARACTERS, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textWidth } from '../src/report/font.js';
import { reportHtml } from '../src/report/html.js';

function inked(image: Bitmap, x0: number, y0: number, x1: number, y1: number): number {
  let count = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (image.data[4 * (y * image.width + x)] < 128) count++;
  return count;
}

describe('the 5×7 font', () => {
  it('has a well-formed glyph for every character, digits and capitals included', () => {
    for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:-+=/()%|') expect(FONT_CHARACTERS).toContain(c);
    for (const c of FONT_CHARACTERS) {
      const rows = glyph(c);
      expect(rows, c).toHaveLength(GLYPH_HEIGHT);
      for (const row of rows) expect(row, c).toMatch(new RegExp(`^[ #]{${GLYPH_WIDTH}}$`));
    }
  });

  it('draws lower case as capitals and an unknown character as ?', () => {
    expect(glyph('e')).toBe(glyph('E'));
    expect(glyph('€')).toBe(glyph('?'));
  });

  it('gives every digit a distinct glyph', () => {
    const shapes = new Set('0123456789'.split('').map((d) => glyph(d).join('')));
    expect(shapes.size).toBe(10);
  });

  it('renders text where it is told, scaled', () => {
    const image = new Bitmap(100, 40, WHITE);
    image.text(10, 10, 'E', { scale: 2 });
    // E's top bar: 5 font pixels, 10 image pixels wide, 2 high
    expect(inked(image, 10, 10, 20, 12)).toBe(20);
    expect(inked(image, 0, 0, 100, 10)).toBe(0);
    expect(textWidth('AB', 2)).toBe(22);
  });

  it('turns vertical text a quarter to the left, reading upwards', () => {
    const image = new Bitmap(40, 60, WHITE);
    image.verticalText(20, 30, 'L', { scale: 1 });
    // L's long stroke (its left column) becomes the bottom row of the turned glyph, 7 px long
    let bottom = -1;
    for (let y = 0; y < 60; y++) if (inked(image, 0, y, 40, y + 1) > 0) bottom = y;
    expect(inked(image, 0, bottom, 40, bottom + 1)).toBe(7);
  });
});

describe('ticks', () => {
  it('are round numbers covering the range', () => {
    expect(niceTicks(0.22, 0.75, 6).values).toEqual([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
    expect(niceTicks(1, 5, 4, true).values).toEqual([1, 2, 3, 4, 5]);
    expect(niceTicks(0.8078, 0.9363, 6).values).toEqual([0.8, 0.85, 0.9, 0.95]);
    expect(niceTicks(3, 3).values.length).toBeGreaterThan(1);
  });

  it('are labelled with as many decimals as the step needs', () => {
    expect(formatTick(0.25, 0.05)).toBe('0.25');
    expect(formatTick(2, 1)).toBe('2');
    expect(formatTick(0.5, 0.5)).toBe('0.5');
  });
});

describe('charts', () => {
  it('a line chart draws axes, the data and survives a single point', () => {
    const chart = lineChart({ title: 'LOSS', xLabel: 'EPOCH', yLabel: 'LOSS', series: [{ name: 'TRAIN', points: [[1, 0.5]] }] });
    expect([chart.width, chart.height]).toEqual([760, 460]);
    const decoded = PNG.sync.read(chart.toPng());
    expect([decoded.width, decoded.height]).toEqual([760, 460]);
    expect(inked(chart, 0, 0, chart.width, chart.height)).toBeGreaterThan(500);
  });

  it('a confusion chart has one cell per pair of classes, wide enough for the counts', () => {
    const counts = Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 1135 : j)));
    const chart = confusionChart(counts, 'CONFUSION');
    expect(chart.width).toBeGreaterThan(10 * (textWidth('1135', 2) + 10));
  });

  it('weight tiles are square for square inputs and scaled per tile', () => {
    expect(tileShape(784)).toEqual({ rows: 28, cols: 28 });
    expect(tileShape(10)).toEqual({ rows: 3, cols: 4 });
    // two units of 4 inputs (2×2 tiles): a tiny unit and a huge one both reach full colour
    const image = weightTiles([{ label: 'W', weights: [0.001, -0.001, 0, 0, 1000, -1000, 0, 0] }], 2, 4, 'T');
    const reds: number[] = [];
    for (let i = 0; i < image.data.length; i += 4) if (image.data[i] === 178 && image.data[i + 1] === 24) reds.push(i);
    expect(reds.length).toBeGreaterThanOrEqual(2 * 9);
  });
});

describe('report.html', () => {
  it('escapes what it shows and links the pictures', () => {
    const html = reportHtml({
      title: 'a <b> run', command: 'tapegrad train --out "x"', settings: { lr: 0.1 }, final: { 'test accuracy': '0.9 (9/10)' }, epochs: [],
      images: [{ file: 'loss.png', caption: 'loss & such' }],
    });
    expect(html).toContain('<title>a &lt;b&gt; run</title>');
    expect(html).toContain('<img src="loss.png" alt="loss &amp; such">');
    expect(html).toContain('--out &quot;x&quot;');
  });
});
