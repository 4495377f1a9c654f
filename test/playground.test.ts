import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The playground, built by Vite and opened in headless Chromium (Debian's, as in
 * graph.test.ts): it loads without errors, XOR trains to a small loss with the curve and the
 * decision boundary drawn, the Δ table shows the tape and BP1–BP4 agreeing, gradcheck passes
 * and the tape's graph is drawn. A screenshot is left in test/.playground-screenshots/.
 */

const CHROMIUM = '/usr/bin/chromium';
const root = fileURLToPath(new URL('../packages/playground/', import.meta.url));
const dist = join(root, 'dist');
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.wasm': 'application/wasm' };

let server: Server;
let url: string;

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'error'], { cwd: root, stdio: 'pipe' });
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

afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

describe('the playground in headless Chromium', () => {
  it('trains XOR to loss < 0.05 with a live curve and boundary; Δ tape = BP1–BP4; gradcheck ok; tape graph drawn', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`).toBe(true);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      page.setDefaultTimeout(20_000);
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.goto(url, { waitUntil: 'load' });
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.textContent('#status')).toMatch(/^backend: wasm \((relaxed-simd|simd)\)/);
      expect(await page.inputValue('#dataset')).toBe('xor');

      const loss = async () => Number(await page.textContent('#loss'));
      // one inspected step on the fresh network first: its cost is the starting point
      await page.click('#step');
      await page.waitForSelector('#deltas:not([hidden])');
      const first = await loss();
      expect(first).toBeGreaterThan(0.3);
      await page.click('#train');
      await page.waitForFunction(`Number(document.getElementById('loss').textContent) < 0.05`, undefined, { timeout: 30_000 });
      await page.click('#train');
      const losses = (await page.evaluate(`[...document.querySelectorAll('#loss-chart path')].length`)) as number;
      expect(losses).toBeGreaterThan(0);
      const steps = Number(await page.textContent('#steps'));
      expect(steps).toBeGreaterThan(10);
      expect(await loss()).toBeLessThan(Math.min(0.05, first / 10));
      expect(await page.textContent('#accuracy')).toBe('1.000');
      // the loss curve is drawn: an SVG whose title and axis are there
      expect(await page.textContent('#loss-chart')).toContain('Training loss');

      // the decision boundary is not blank: both classes' colours cover part of the canvas
      const shares = (await page.evaluate(`(() => {
        const c = document.getElementById('boundary');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let orange = 0, blue = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i] > d[i + 2] + 40) orange++;
          else if (d[i + 2] > d[i] + 40) blue++;
        }
        return [orange / (d.length / 4), blue / (d.length / 4)];
      })()`)) as [number, number];
      expect(shares[0]).toBeGreaterThan(0.1);
      expect(shares[1]).toBeGreaterThan(0.1);

      // one step, layer by layer: the tape's Δ and BP1/BP2's agree
      await page.click('#step');
      await page.waitForSelector('#deltas:not([hidden])');
      const differences = (await page.evaluate(`[...document.querySelectorAll('.delta-difference')].map((td) => Number(td.textContent))`)) as number[];
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
    } finally {
      await browser.close();
    }
  }, 90_000);
});
