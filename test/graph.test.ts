/**
 * The graph as a picture: DOT and Mermaid text for seed 000's 3-2-1 network (a snapshot of
 * the DOT, whose statistics are the numbers packages/nn/test/backprop.test.ts works out by
 * hand), and the SVG/HTML drawn by renderGraph opened in headless Chromium and screenshotted.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tape, type Tensor, log, renderGraph, graphModel, tensor, toDot, toMermaid } from '@tapegrad/core';
import { cost, mlp } from '@tapegrad/nn';

const f64 = (data: Parameters<typeof tensor>[0]) => tensor(data, { dtype: 'float64' });

/** Seed 000's network (as in nn's backprop test) and one recorded cost. */
function seed000() {
  const model = mlp([3, 2, 1], { hidden: 'sigmoid', output: 'sigmoid', dtype: 'float64', init: { constant: 0 } });
  const [hidden, output] = model.denseLayers();
  hidden.W.assign([0.5, -0.25, 0.75, -0.5, 1.0, 0.25]);
  hidden.b.assign([0.1, -0.2]);
  output.W.assign([1.5, -2.0]);
  output.b.assign([0.3]);
  const X = f64([[0.25, -0.75], [1, 0], [0, 1]]);
  const Y = f64([[1, 0]]);
  const tape = new Tape();
  const trace = tape.record(() => model.trace(X));
  const C = tape.record(() => cost('bce', { ...trace.layers[1], activation: 'sigmoid' }, Y));
  return { model, X, Y, C, trace, hidden, output };
}

describe('toDot / toMermaid', () => {
  it("seed 000's 3-2-1 network: names, value and gradient statistics, the path to W¹ highlighted", async () => {
    const { model, X, Y, C, hidden } = seed000();
    const dot = toDot(C, { names: [model, { X, Y }], gradients: true, highlight: hidden.W, title: 'seed 000: 3-2-1, bce' });
    await expect(dot).toMatchFileSnapshot('./__snapshots__/seed-000-3-2-1.dot');
    // the cost and ∂C/∂W¹ worked out by hand in nn's backprop test
    expect(dot).toContain('div\\n[] float64\\nvalue 0.7732 / 0.7732 / 0.7732\\ngrad 1 / 1 / 1');
    expect(dot).toMatch(/0\.W\\n\[2,3\] float64\\nvalue -0\.5 \/ 0\.2917 \/ 1\\ngrad -0\.1204 \/ 0\.002994 \/ 0\.1276/);
    expect(dot.match(/->/g)).toHaveLength(17);
    expect(dot.match(/-> n\d+ \[color="#d01010"/g)).toHaveLength(11);
  });

  it('a module folded into one box; NaN and ∞ counted and flagged', () => {
    const { model, X, Y, C, trace } = seed000();
    const m = graphModel(C, { names: [model, { X, Y }], fold: [{ name: 'dense 1', output: trace.layers[0].a, inputs: [X] }] });
    const fold = m.vertices.find((v) => v.kind === 'fold')!;
    expect(fold.label).toBe('dense 1');
    expect(fold.ops).toEqual(['matmul', 'add', 'sigmoid']);
    expect(fold.shape).toEqual([2, 2]);
    expect(m.vertices.map((v) => v.label)).not.toContain('0.W');
    expect(m.vertices).toHaveLength(17 - 5 + 1);
    const x = f64([1, 0, -1]);
    const y = new Tape().record(() => log(x).mul(2));
    const bad = graphModel(y).vertices.find((v) => v.label === 'log')!;
    expect(bad.values).toMatchObject({ nan: 1, negInf: 1, posInf: 0, min: 0, max: 0 });
    expect(toMermaid(y)).toMatch(/n1\("log<br\/>\[3\] float64<br\/>value 0 \/ 0 \/ 0  NaN 1 −∞ 1"\)\n  class n1 bad/);
  });
});

const CHROMIUM = '/usr/bin/chromium';

describe('renderGraph', () => {
  it('the HTML opens in headless Chromium without errors, every vertex drawn; screenshot saved', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`).toBe(true);
    const { model, X, Y, C, hidden } = seed000();
    const html = await renderGraph(C, { names: [model, { X, Y }], gradients: true, highlight: hidden.W, title: 'seed 000: 3-2-1, bce' });
    const svg = await renderGraph(C, { format: 'svg' });
    expect(svg).toMatch(/^<\?xml[^]*<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^]*<\/svg>\n$/);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
      page.setDefaultTimeout(15_000);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.setContent(html, { waitUntil: 'load' });
      expect(await page.locator('svg g.vertex').count()).toBe(17);
      expect(await page.locator('svg polyline.edge').count()).toBe(17);
      // every label fits inside its box
      // (a string: this file is typed for Node, without the DOM library)
      const overflow = await page.evaluate(`[...document.querySelectorAll('g.vertex')].filter((g) => {
        const box = g.firstElementChild.getBBox();
        return [...g.querySelectorAll('text')].some((t) => t.getBBox().width > box.width + 1);
      }).length`);
      expect(overflow).toBe(0);
      const dir = fileURLToPath(new URL('./.graph-screenshots/', import.meta.url));
      mkdirSync(dir, { recursive: true });
      const png = await page.screenshot({ path: `${dir}seed-000-3-2-1.png`, fullPage: true, timeout: 15_000 });
      expect(png.length).toBeGreaterThan(10_000);
      expect(errors).toEqual([]);
      // and the bare SVG document renders too
      await page.setContent(svg.replace(/^<\?xml[^>]*>\n/, ''), { waitUntil: 'load' });
      expect(await page.locator('svg g.vertex').count()).toBe(17);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});

export type { Tensor };
