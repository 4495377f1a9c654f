import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The playground, built by Vite and opened in headless Chromium (Debian's, as in
 * graph.test.ts): it loads without errors, XOR trains to a small loss with the curve and the
 * decision boundary drawn, the Δ table shows the tape and BP1–BP4 agreeing, gradcheck passes
 * and the tape's graph is drawn; the MNIST subset trains (loss falls, test accuracy rises)
 * and a digit drawn with the mouse gets ten probabilities. Screenshots are left in
 * test/.playground-screenshots/.
 *
 * WebGPU: Chromium's `--enable-unsafe-webgpu` gives headless Chromium here a WebGPU adapter
 * on SwiftShader (its CPU Vulkan driver; nothing else is needed, --disable-gpu included).
 * One browser has it: the page switches to WebGPU and trains XOR there, its costs checked
 * against the same Lab run on the js backend in this process. The other has not (WebGPU off
 * by default on Linux: navigator.gpu gives no adapter): the page says why and trains on the CPU.
 */

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../packages/playground/', import.meta.url));
const dist = join(root, 'dist');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.wasm': 'application/wasm', '.bin': 'application/octet-stream' };
const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** WebGPU on SwiftShader in headless Chromium (Debian's 156): this flag alone gives the adapter "google swiftshader". */
const WEBGPU_ARGS = [...BROWSER_ARGS, '--enable-unsafe-webgpu'];

let server: Server;
let url: string;
/** With WebGPU (the XOR and WebGPU tests) and without (the MNIST test): launched while the page builds. */
let gpuBrowser: Browser;
let cpuBrowser: Browser;
/** The XOR test's page, left open for the WebGPU test: loading the page again would cost seconds. */
let xorPage: { page: Page; errors: string[] } | undefined;

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`).toBe(true);
  const { chromium } = await import('playwright-core');
  const launch = (args: string[]) => chromium.launch({ executablePath: CHROMIUM, timeout: 30_000, args });
  [, gpuBrowser, cpuBrowser] = await Promise.all([
    promisify(execFile)(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'error'], { cwd: root }),
    launch(WEBGPU_ARGS),
    launch(BROWSER_ARGS),
  ]);
  server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dist, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(dist) || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
}, 120_000);

afterAll(async () => {
  await Promise.all([gpuBrowser?.close(), cpuBrowser?.close()]);
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/** A fresh page of the playground, ready, with every page error and console error collected in `errors`. */
async function openPlayground(browser: Browser): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors };
}

/** Clicks "step & inspect" and waits for that step's Δ table; returns the cost before the step (unrounded). */
async function inspectedStep(page: Page): Promise<number> {
  const step = Number(await page.textContent('#steps')) + 1;
  await page.click('#step');
  await page.waitForSelector(`#deltas:not([hidden])[data-step="${step}"]`);
  return Number(await page.getAttribute('#loss', 'data-value'));
}

/** The Δ table's largest |Δ_tape − Δ_BP| per layer. */
async function deltaDifferences(page: Page): Promise<number[]> {
  return (await page.evaluate(`[...document.querySelectorAll('.delta-difference')].map((td) => Number(td.textContent))`)) as number[];
}

/** Pauses training and waits until no slice of steps can still land and the figures show the last step. */
async function pause(page: Page): Promise<number> {
  await page.click('#train');
  await page.waitForSelector('body[data-training="no"]');
  const steps = Number(await page.textContent('#steps'));
  await page.waitForSelector(`#accuracy[data-step="${steps}"]`);
  return steps;
}

/**
 * Shares of the boundary canvas that are orange (class 1) and blue (class 0), counting pixels
 * whose red and blue differ by more than `margin`: 40 takes P(class 1) beyond about 0.35–0.65,
 * 4 any side of ½ but the palest.
 */
async function boundaryShares(page: Page, margin = 40): Promise<[number, number]> {
  return (await page.evaluate(`(() => {
    const c = document.getElementById('boundary');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let orange = 0, blue = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] > d[i + 2] + ${margin}) orange++;
      else if (d[i + 2] > d[i] + ${margin}) blue++;
    }
    return [orange / (d.length / 4), blue / (d.length / 4)];
  })()`)) as [number, number];
}

describe('the playground in headless Chromium', () => {
  it('trains XOR to loss < 0.05 with a live curve and boundary; Δ tape = BP1–BP4; gradcheck ok; tape graph drawn', async () => {
    const { page, errors } = await openPlayground(gpuBrowser);
    let passed = false;
    try {
      expect(await page.textContent('#status')).toMatch(/^backend: wasm \((relaxed-simd|simd)\)/);
      expect(await page.inputValue('#dataset')).toBe('xor');
      expect(await page.inputValue('#backend')).toBe('wasm');

      const loss = async () => Number(await page.textContent('#loss'));
      // one inspected step on the fresh network first: its cost is the starting point
      const first = await inspectedStep(page);
      expect(first).toBeGreaterThan(0.3);
      await page.click('#train');
      await page.waitForFunction(`Number(document.getElementById('loss').textContent) < 0.05`, undefined, { timeout: 30_000 });
      const steps = await pause(page);
      const losses = (await page.evaluate(`[...document.querySelectorAll('#loss-chart path')].length`)) as number;
      expect(losses).toBeGreaterThan(0);
      expect(steps).toBeGreaterThan(10);
      expect(await loss()).toBeLessThan(Math.min(0.05, first / 10));
      expect(await page.textContent('#accuracy')).toBe('1.000');
      // the loss curve is drawn: an SVG whose title and axis are there
      expect(await page.textContent('#loss-chart')).toContain('Training loss');

      // the decision boundary is not blank: both classes' colours cover part of the canvas
      const shares = await boundaryShares(page);
      expect(shares[0]).toBeGreaterThan(0.1);
      expect(shares[1]).toBeGreaterThan(0.1);

      // one step, layer by layer: the tape's Δ and BP1/BP2's agree
      await inspectedStep(page);
      const differences = await deltaDifferences(page);
      expect(differences).toHaveLength(2);
      for (const d of differences) expect(d).toBeLessThan(1e-6);
      expect(Number(await page.textContent('#steps'))).toBe(steps + 1);

      await page.click('#gradcheck');
      await page.waitForSelector('#gradcheck-panel:not([hidden])');
      expect(await page.textContent('#gradcheck-verdict')).toMatch(/^ok: 17 partial derivatives/);

      await page.click('#graph');
      await page.waitForSelector('#graph-panel:not([hidden]) svg g.vertex');
      expect(await page.locator('#graph-picture svg g.vertex').count()).toBeGreaterThan(8);

      const dir = fileURLToPath(new URL('./.playground-screenshots/', import.meta.url));
      mkdirSync(dir, { recursive: true });
      const png = await page.screenshot({ path: `${dir}xor.png`, fullPage: true, timeout: 15_000 });
      expect(png.length).toBeGreaterThan(20_000);
      expect(errors).toEqual([]);
      passed = true;
    } finally {
      if (passed) xorPage = { page, errors };
      else await page.close();
    }
  }, 90_000);

  it('WebGPU (SwiftShader): the switch offers it, XOR trains on the device with the js backend\'s costs, and back on wasm it trains again', async () => {
    // the reference: the page's Lab, the same settings, on the js backend in this process
    // (imported here: core, nn and datasets' sources are loaded only when this test runs)
    const { DEFAULT_SETTINGS, Lab } = await import('../packages/playground/src/lab.js');
    const reference = await new Lab({ ...DEFAULT_SETTINGS, backend: 'js' }, 'js').train(400);
    // the XOR test's page (on wasm, trained) when it passed; a fresh one when this test runs alone
    const { page, errors } = xorPage ?? (await openPlayground(gpuBrowser));
    try {
      expect(await page.inputValue('#dataset')).toBe('xor');
      await page.waitForSelector('body[data-webgpu="available"]');
      expect(await page.textContent('#backend-note')).toBe('WebGPU adapter: google swiftshader: SwiftShader (CPU): correctness only');
      await page.selectOption('#backend', 'webgpu');
      await page.waitForFunction(`document.getElementById('status').textContent.startsWith('backend: webgpu')`);
      expect(await page.textContent('#steps')).toBe('0');
      expect(await page.textContent('#status')).toContain('webgpu on google swiftshader: SwiftShader (CPU): correctness only');
      expect(await page.textContent('#architecture')).toMatch(/float32 on webgpu$/);

      // an inspected step: the cost read from the device is js's to float32 rounding, and the
      // Δ table, made from the weights read back from the device, agrees with BP1–BP4
      expect(await inspectedStep(page)).toBeCloseTo(reference[0], 6);
      for (const d of await deltaDifferences(page)) expect(d).toBeLessThan(1e-6);

      // training on the device (Adam's state there too): the cost at whichever step it stops is
      // js's at that step (0.741 at step 1, 0.511 at 20, 0.034 at 60); accuracy 1 from step 15
      await page.click('#train');
      await page.waitForFunction(`Number(document.getElementById('steps').textContent) >= 20`, undefined, { timeout: 30_000 });
      const steps = await pause(page);
      expect(steps).toBeLessThanOrEqual(reference.length);
      const cost = Number(await page.getAttribute('#loss', 'data-value'));
      expect(Number.isFinite(cost)).toBe(true);
      expect(Math.abs(cost - reference[steps - 1])).toBeLessThan(1e-4 * reference[steps - 1]);
      expect(cost).toBeLessThan(0.7 * reference[0]);
      expect(await page.textContent('#accuracy')).toBe('1.000');
      // the boundary from the device's forward pass: with all four points right, both sides of ½ show
      const shares = await boundaryShares(page, 4);
      expect(shares[0]).toBeGreaterThan(0.1);
      expect(shares[1]).toBeGreaterThan(0.1);
      // gradcheck reads the device's weights into a float64 copy on the CPU
      await page.click('#gradcheck');
      await page.waitForSelector('#gradcheck-verdict');
      expect(await page.textContent('#gradcheck-verdict')).toMatch(/^ok: 17 partial derivatives/);
      // the tape graph of one step, recorded on that float64 copy with the CPU backend active
      await page.click('#graph');
      await page.waitForSelector('#graph-panel:not([hidden]) svg g.vertex');
      expect(await page.textContent('#graph-picture')).toContain('one step: 2-4-1 on XOR');
      expect(await page.locator('#graph-picture svg g.vertex').count()).toBeGreaterThan(8);

      // back to the CPU: a fresh network on wasm trains as before
      await page.selectOption('#backend', 'wasm');
      await page.waitForFunction(`document.getElementById('status').textContent.startsWith('backend: wasm')`);
      expect(await page.textContent('#steps')).toBe('0');
      expect(await inspectedStep(page)).toBeCloseTo(reference[0], 6);
      expect(await inspectedStep(page)).toBeCloseTo(reference[1], 6);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it('MNIST subset: a 784-32-10 net trains (loss falls, test accuracy up); a drawn digit gets ten probabilities summing to 1', async () => {
    const { page, errors } = await openPlayground(cpuBrowser);
    try {
      await page.selectOption('#dataset', 'mnist');
      await page.waitForSelector('#digit-figure:not([hidden])');
      expect(await page.textContent('#architecture')).toMatch(/^network 784-32-10: relu hidden, softmax output, categorical cross-entropy; adam lr 0\.01, full batch of 1000 training digits \(250 held out/);
      expect(await page.isHidden('#boundary-figure')).toBe(true);
      expect(await page.textContent('#accuracy-label')).toBe('test accuracy');
      // ten classes at random: the fresh network's test accuracy is near 0.1
      const startAccuracy = Number(await page.textContent('#accuracy'));
      expect(startAccuracy).toBeLessThan(0.3);

      // the first step's cost is the starting point (softmax over 10 classes: ≈ ln 10 = 2.3)
      const first = await inspectedStep(page);
      expect(first).toBeGreaterThan(1.5);
      const differences = await deltaDifferences(page);
      expect(differences).toHaveLength(2);
      for (const d of differences) expect(d).toBeLessThan(1e-6);

      await page.click('#train');
      await page.waitForFunction(`Number(document.getElementById('steps').textContent) >= 60`, undefined, { timeout: 30_000 });
      // pausing redraws the figures (the accuracy among them) at the last step
      await pause(page);
      const last = Number(await page.textContent('#loss'));
      const accuracy = Number(await page.textContent('#accuracy'));
      expect(last).toBeLessThan(first / 2);
      expect(accuracy).toBeGreaterThan(0.6);
      expect(await page.textContent('#loss-chart')).toContain('categorical cross-entropy');

      // sampled gradcheck: 6 entries of each of W1, b1, W2, b2
      await page.click('#gradcheck');
      await page.waitForSelector('#gradcheck-verdict');
      expect(await page.textContent('#gradcheck-verdict')).toMatch(/^ok: 24 partial derivatives of C with respect to 6 sampled entries/);

      await page.click('#graph');
      await page.waitForSelector('#graph-panel:not([hidden]) svg g.vertex');
      expect(await page.locator('#graph-picture svg g.vertex').count()).toBeGreaterThan(8);

      // a stroke on the draw box, with the mouse: a "7"
      const box = (await page.locator('#digit').boundingBox())!;
      const at = (fx: number, fy: number) => [box.x + fx * box.width, box.y + fy * box.height] as const;
      await page.mouse.move(...at(0.3, 0.25));
      await page.mouse.down();
      for (const [fx, fy] of [[0.5, 0.25], [0.7, 0.25], [0.6, 0.45], [0.5, 0.65], [0.45, 0.8]] as const) await page.mouse.move(...at(fx, fy), { steps: 6 });
      await page.mouse.up();
      await page.waitForFunction(`document.querySelectorAll('#digit-probabilities .prob').length === 10`);
      // the unrounded values the bars are drawn from (the text shows 3 decimals): a softmax in float32
      const probabilities = (await page.evaluate(`[...document.querySelectorAll('#digit-probabilities .row')].map((r) => Number(r.dataset.probability))`)) as number[];
      expect(probabilities).toHaveLength(10);
      for (const p of probabilities) expect(p).toBeGreaterThanOrEqual(0);
      expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(await page.locator('#digit-probabilities .row.best').count()).toBe(1);
      // the 28 × 28 the model sees has ink in it
      const inked = (await page.evaluate(`(() => {
        const d = document.getElementById('digit-input').getContext('2d').getImageData(0, 0, 28, 28).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 64) n++;
        return n;
      })()`)) as number;
      expect(inked).toBeGreaterThan(20);

      const dir = fileURLToPath(new URL('./.playground-screenshots/', import.meta.url));
      mkdirSync(dir, { recursive: true });
      const png = await page.screenshot({ path: `${dir}mnist.png`, fullPage: true, timeout: 15_000 });
      expect(png.length).toBeGreaterThan(20_000);

      await page.click('#clear');
      expect(await page.locator('#digit-probabilities .prob').count()).toBe(0);

      // no WebGPU in this browser: the switch says why in one line and keeps its CPU backends
      await page.waitForSelector('body[data-webgpu="unavailable"]');
      expect(await page.textContent('#backend-note')).toBe(
        'WebGPU unavailable: initWebGpuBackend: no WebGPU adapter: this browser exposes navigator.gpu but gave no adapter (WebGPU disabled, or no supported GPU)',
      );
      expect(await page.locator('#backend option[value="webgpu"]').isDisabled()).toBe(true);
      await page.selectOption('#backend', 'js');
      await page.waitForFunction(`document.getElementById('status').textContent.startsWith('backend: js')`);
      expect(await page.textContent('#steps')).toBe('0');
      expect(await inspectedStep(page)).toBeCloseTo(first, 5);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);
});
