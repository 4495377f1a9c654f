/**
 * The graph as a picture: DOT and Mermaid text for seed 000's 3-2-1 network (a snapshot of
 * the DOT, whose statistics are the numbers packages/nn/test/backprop.test.ts works out by
 * hand), and the SVG/HTML drawn by renderGraph opened in headless Chromium and screenshotted.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tape, type Tensor, add, conv2d, log, matmul, maxPool2d, mul, relu, renderGraph, graphModel, reshape, sub, tensor, toDot, toMermaid, transpose } from '@tapegrad/core';
import { Conv2d, Dense, Flatten, MaxPool2d, ReLU, type Module, cost, mlp, sequential } from '@tapegrad/nn';

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

  it('one LeNet step (≈ 200 vertices), unfolded and folded by layer: every label inside its box, no box over another', async () => {
    const { model, X, Y, C, fold } = lenetStep();
    const whole = lenetWholeStep();
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      for (const [file, options] of [
        ['lenet-step.png', { names: [model, { X, Y }], gradients: true, highlight: model.parameters()['conv1.W'], title: 'one LeNet step' }],
        ['lenet-step-folded.png', { names: [model, { X, Y }], gradients: true, fold, title: 'one LeNet step, layers folded' }],
        ['lenet-whole-step.png', { names: [whole.model, { X: whole.X, Y: whole.Y }], title: 'one whole LeNet step: forward, backward, SGD update, loss after' }],
      ] as const) {
        const root = file === 'lenet-whole-step.png' ? whole.after : C;
        const svg = await renderGraph(root, { ...options, format: 'svg' });
        const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        page.setDefaultTimeout(15_000);
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        await page.setContent(svg.replace(/^<\?xml[^>]*>\n/, ''), { waitUntil: 'load' });
        const report = await page.evaluate(`(() => {
          const boxes = [...document.querySelectorAll('g.vertex, g.copy')].map((g) => g.firstElementChild.getBBox());
          const overflow = [...document.querySelectorAll('g.vertex')].filter((g) => {
            const box = g.firstElementChild.getBBox();
            return [...g.querySelectorAll('text')].some((t) => t.getBBox().width > box.width + 1);
          }).length;
          let overlaps = 0;
          for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i], b = boxes[j];
            if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) overlaps++;
          }
          const svg = document.querySelector('svg');
          return { vertices: boxes.length, overflow, overlaps, width: svg.width.baseVal.value, height: svg.height.baseVal.value };
        })()`) as { vertices: number; overflow: number; overlaps: number; width: number; height: number };
        expect(report.overflow).toBe(0);
        expect(report.overlaps).toBe(0);
        const dir = fileURLToPath(new URL('./.graph-screenshots/', import.meta.url));
        mkdirSync(dir, { recursive: true });
        writeFileSync(`${dir}${file.replace(/\.png$/, '.svg')}`, svg);
        await page.screenshot({ path: `${dir}${file}`, fullPage: report.width * report.height < 2e7, timeout: 30_000 });
        expect(errors).toEqual([]);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 120_000);
});

/**
 * One LeNet training step (conv 1→6 5×5 pad 2, pool, conv 6→16 5×5, pool, flatten, dense
 * 400-120-84-10, softmax + CE), recorded layer by layer so each layer can be folded.
 */
function lenetStep() {
  const model = sequential({
    conv1: new Conv2d(1, 6, 5, { padding: 2, seed: 1 }), relu1: new ReLU(), pool1: new MaxPool2d(2),
    conv2: new Conv2d(6, 16, 5, { seed: 2 }), relu2: new ReLU(), pool2: new MaxPool2d(2),
    flatten: new Flatten(),
    fc1: new Dense(400, 120, { activation: 'relu', seed: 3 }),
    fc2: new Dense(120, 84, { activation: 'relu', seed: 4 }),
    fc3: new Dense(84, 10, { activation: 'softmax', seed: 5 }),
  });
  const batch = 4;
  const X = tensor(Float32Array.from({ length: batch * 28 * 28 }, (_, i) => ((i * 7919) % 255) / 255), { shape: [batch, 1, 28, 28] });
  const labels = new Float32Array(10 * batch);
  for (let m = 0; m < batch; m++) labels[((3 * m) % 10) * batch + m] = 1;
  const Y = tensor(labels, { shape: [10, batch] });
  const tape = new Tape();
  const fold: Array<{ name: string; output: Tensor; inputs: Tensor[] }> = [];
  const C = tape.record(() => {
    let a = X;
    for (let l = 0; l < model.layers.length - 1; l++) {
      const input = a;
      a = (model.layers[l] as Module).forward(a);
      fold.push({ name: model.names[l], output: a, inputs: [input] });
    }
    // the loss reads the last layer's logits Z (softmax + CE in one), so that is its fold's output
    const last = (model.layers[model.layers.length - 1] as Dense).trace(a);
    fold.push({ name: model.names[model.layers.length - 1], output: last.z, inputs: [a] });
    return cost('cce', { ...last, activation: 'softmax' }, Y);
  });
  return { model, X, Y, C, fold };
}

/**
 * The whole step as one graph: forward, backward (recorded by an outer tape), the SGD update
 * W − 0.1·∂C/∂W, and the loss at the updated parameters — ≈ 200 vertices.
 */
function lenetWholeStep() {
  const { model, X, Y } = lenetStep();
  const forward = (parameters: Record<string, Tensor>) => {
    // the same network at other parameter values: conv, relu, pool twice, then three dense layers
    const conv = (x: Tensor, name: string, padding: number) => add(conv2d(x, parameters[`${name}.W`], { padding }), reshape(parameters[`${name}.b`], [-1, 1, 1]));
    const pool = (x: Tensor) => maxPool2d(x, { kernelSize: 2 });
    let a = pool(relu(conv(pool(relu(conv(X, 'conv1', 2))), 'conv2', 0)));
    a = transpose(reshape(a, [a.shape[0], -1]));
    for (const name of ['fc1', 'fc2']) a = relu(add(matmul(parameters[`${name}.W`], a), parameters[`${name}.b`]));
    const z = add(matmul(parameters['fc3.W'], a), parameters['fc3.b']);
    return cost('cce', { z, a: z, activation: 'softmax' }, Y);
  };
  const parameters = model.parameters();
  const names = Object.keys(parameters);
  const outer = new Tape();
  const after = outer.record(() => {
    const inner = new Tape();
    const C = inner.record(() => forward(parameters));
    const grads = inner.gradient(C, names.map((n) => parameters[n]));
    const updated = Object.fromEntries(names.map((n, k) => [n, sub(parameters[n], mul(grads[k], 0.1))]));
    return forward(updated);
  });
  return { model, X, Y, after };
}

export type { Tensor };
