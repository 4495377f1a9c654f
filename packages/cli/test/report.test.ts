import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { Bitmap, WHITE } from '../src/report/bitmap.js';
import { tileShape, weightTiles } from '../src/report/charts.js';
import { FONT_CHARACTERS, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textWidth } from '../src/report/font.js';
import { reportHtml } from '../src/report/html.js';
import { svgToPng } from '../src/report/svg-png.js';

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
});

describe('charts', () => {
  it('a chart\'s PNG is drawn by resvg at twice the SVG\'s size, its text in a real font', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60"><text x="10" y="40" font-family="DejaVu Sans" font-size="30">Loss</text></svg>';
    const png = PNG.sync.read(Buffer.from(svgToPng(svg)));
    expect([png.width, png.height]).toEqual([400, 120]);
    let dark = 0;
    let gray = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      if (png.data[i] < 100) dark++;
      else if (png.data[i] < 230) gray++;
    }
    // the glyphs are there (a missing font draws nothing), anti-aliased (grey edges)
    expect(dark).toBeGreaterThan(1500);
    expect(gray).toBeGreaterThan(200);
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
  it('escapes what it shows and holds every picture itself: charts as inline SVG, others as PNG data URLs', () => {
    const html = reportHtml({
      title: 'a <b> run', command: 'tapegrad train --out "x"', settings: { lr: 0.1 }, final: { 'test accuracy': '0.9 (9/10)' }, epochs: [],
      images: [
        { file: 'loss.png', caption: 'loss & such', png: Uint8Array.of(1), svg: '<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"></svg>' },
        { file: 'tiles.png', caption: 'tiles', png: Uint8Array.of(137, 80, 78, 71) },
      ],
    });
    expect(html).toContain('<title>a &lt;b&gt; run</title>');
    expect(html).toContain('<figure id="loss.png"><svg role="img" aria-label="loss &amp; such" xmlns="http://www.w3.org/2000/svg"');
    expect(html).toContain('<img src="data:image/png;base64,iVBORw==" alt="tiles">');
    expect(html).toContain('--out &quot;x&quot;');
    expect(html).not.toMatch(/src="(?!data:)/);
  });
});
