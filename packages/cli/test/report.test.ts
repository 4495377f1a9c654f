import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { Bitmap, Picture, WHITE } from '../src/report/bitmap.js';
import { tileShape, weightTiles } from '../src/report/charts.js';
import { reportHtml } from '../src/report/html.js';
import { svgToPng } from '../src/report/svg-png.js';

describe('layer pictures: pixels with SVG text on top', () => {
  it('keep every drawn pixel exactly at zoom 1 and set their words in DejaVu Sans', () => {
    const pixels = new Bitmap(120, 60, WHITE);
    pixels.fillRect(70, 30, 10, 10, [178, 24, 43]);
    pixels.fillRect(80, 30, 10, 10, [33, 102, 172]);
    const picture = new Picture(pixels);
    picture.label({ x: 4, y: 20, text: 'Map 1 <w>' });
    const svg = picture.svg();
    expect(svg).toContain('>Map 1 &lt;w&gt;</text>');
    expect(svg).toContain('href="data:image/png;base64,');
    const png = PNG.sync.read(Buffer.from(svgToPng(svg, 1)));
    expect([png.width, png.height]).toEqual([120, 60]);
    const at = (x: number, y: number) => Array.from(png.data.subarray(4 * (y * 120 + x), 4 * (y * 120 + x) + 3));
    // the squares' every pixel, edges included: nothing smoothed across the boundary
    for (let y = 30; y < 40; y++) {
      for (let x = 70; x < 80; x++) expect(at(x, y)).toEqual([178, 24, 43]);
      for (let x = 80; x < 90; x++) expect(at(x, y)).toEqual([33, 102, 172]);
      expect(at(69, y)).toEqual([255, 255, 255]);
      expect(at(90, y)).toEqual([255, 255, 255]);
    }
    // the text is there, anti-aliased (a missing font draws nothing), above its baseline
    let dark = 0;
    let grey = 0;
    for (let y = 0; y < 24; y++) {
      for (let x = 0; x < 70; x++) {
        const [r] = at(x, y);
        if (r < 100) dark++;
        else if (r < 230) grey++;
      }
    }
    expect(dark).toBeGreaterThan(40);
    expect(grey).toBeGreaterThan(20);
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
    const image = weightTiles([{ label: 'W', weights: [0.001, -0.001, 0, 0, 1000, -1000, 0, 0] }], 2, 4, 'T').pixels;
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
