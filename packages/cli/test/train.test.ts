import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { mulberry32 } from '@tapegrad/core';
import { loadMnist, writeIdx } from '@tapegrad/datasets';
import { deserializeParameters } from '@tapegrad/nn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, lines, scratchDir, startCli, writeTestDigits } from './helpers.js';

// A reduced training run of the built CLI, then evaluate and predict on what it wrote.
// --backend js throughout: the recorded and the re-measured accuracy must agree exactly.
const scratch = scratchDir('train');
afterAll(scratch.cleanup);
const out = join(scratch.dir, 'run');
const FILES = ['model.safetensors', 'metrics.json', 'loss.png', 'accuracy.png', 'first-layer.png', 'confusion.png', 'report.html', 'manifest.json'];

interface Metrics {
  settings: Record<string, unknown>;
  epochs: Array<{ epoch: number; loss: number; trainAccuracy: number; testLoss: number; testAccuracy: number; seconds: number; examplesPerSecond: number }>;
  final: { testAccuracy: number; testCorrect: number; testExamples: number; confusion: number[][]; trainExamples: number };
}

function decodePng(file: string): PNG {
  const bytes = readFileSync(file);
  expect(bytes.subarray(0, 8).toString('hex'), `${file} is not a PNG`).toBe('89504e470d0a1a0a');
  return PNG.sync.read(bytes);
}

describe('tapegrad train (1 epoch on 800 of the embedded digits)', () => {
  let stdout = '';
  let metrics: Metrics;

  beforeAll(async () => {
    const result = await cli(['train', '--epochs', '1', '--limit-train', '800', '--limit-test', '300', '--backend', 'js', '--out', out]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    stdout = result.stdout;
    metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Metrics;
    // a real training run in a child process: on 2 busy cores it can take longer than vitest's 10 s hook default
  }, 60_000);

  it('prints the backend, the data, the model, one line per epoch and the result', () => {
    const printed = lines(stdout);
    expect(printed[0]).toBe('backend: js');
    expect(printed[1]).toBe('data: embedded MNIST (800 train, 300 test)');
    expect(printed[2]).toBe('model: 784-128-10, relu hidden, softmax output + cce, heNormal init (seed 1001); sgd lr 0.1, batch 64, 1 epoch (order seed 42)');
    expect(printed[3]).toMatch(/^epoch 1\/1 {2}loss \d\.\d{4} {2}train accuracy 0\.\d{4} {2}test accuracy 0\.\d{4} {2}[\d.]+ s {2}\d+ examples\/s$/);
    expect(printed[4]).toMatch(/^test accuracy 0\.\d{4} \(\d+\/300\) after 1 epoch, .* wrote model\.safetensors, metrics\.json, loss\.png, accuracy\.png, first-layer\.png, confusion\.png, report\.html, manifest\.json to /);
    expect(printed).toHaveLength(5);
  });

  it('writes every file, and no temporary file is left behind', () => {
    expect(readdirSync(out).sort()).toEqual([...FILES].sort());
  });

  it('records the settings, the epoch and the final figures in metrics.json', () => {
    expect(metrics.settings).toMatchObject({
      layers: '784,128,10', activation: 'relu', output: 'softmax', loss: 'cce', optimizer: 'sgd', lr: 0.1, batchSize: 64, epochs: 1,
      seed: 1001, shuffleSeed: 42, init: 'heNormal', dtype: 'float32', data: 'mnist', limitTrain: 800, limitTest: 300, backend: 'js',
    });
    expect(metrics.epochs).toHaveLength(1);
    const [epoch] = metrics.epochs;
    expect(epoch.epoch).toBe(1);
    for (const key of ['loss', 'testLoss', 'seconds', 'examplesPerSecond'] as const) expect(epoch[key]).toBeGreaterThan(0);
    expect(epoch.testAccuracy).toBeGreaterThan(0.5);
    const { final } = metrics;
    expect(final.testAccuracy).toBe(epoch.testAccuracy);
    expect(final.testExamples).toBe(300);
    expect(final.testCorrect).toBe(Math.round(final.testAccuracy * 300));
    const confusion = final.confusion;
    expect(confusion).toHaveLength(10);
    expect(confusion.flat().reduce((a, b) => a + b, 0)).toBe(300);
    expect(confusion.reduce((a, row, i) => a + row[i], 0)).toBe(final.testCorrect);
  });

  it('stores the architecture in the model file\'s metadata', () => {
    const { parameters, metadata } = deserializeParameters(new Uint8Array(readFileSync(join(out, 'model.safetensors'))));
    expect(Object.keys(parameters).sort()).toEqual(['0.W', '0.b', '1.W', '1.b']);
    expect(parameters['0.W'].shape).toEqual([128, 784]);
    expect(parameters['0.W'].dtype).toBe('float32');
    expect(metadata).toMatchObject({ format: 'tapegrad-mlp/1', layers: '784,128,10', activation: 'relu', output: 'softmax', loss: 'cce', dataset: 'mnist', limitTest: '300' });
  });

  it('draws the PNGs: curves and confusion matrix of a sensible size, one 28×28 tile per hidden unit', () => {
    // the charts are drawn at twice their SVG size (≈ 620 × 450)
    for (const file of ['loss.png', 'accuracy.png']) {
      const png = decodePng(join(out, file));
      expect(png.width).toBeGreaterThan(1000);
      expect(png.height).toBeGreaterThan(700);
    }
    const confusion = decodePng(join(out, 'confusion.png'));
    expect(confusion.width).toBeGreaterThan(2 * 10 * 40);
    expect(confusion.height).toBeGreaterThan(2 * 10 * 40);
    // 16 columns × 8 rows of 28·3 + 1 px tiles, two panels (the weights and their change)
    const tiles = decodePng(join(out, 'first-layer.png'));
    expect(tiles.width).toBeGreaterThanOrEqual(16 * 85 + 1);
    expect(tiles.height).toBeGreaterThanOrEqual(2 * (8 * 85 + 1));
    // not blank: the tiles hold many distinct colours
    const colours = new Set<number>();
    for (let i = 0; i < tiles.data.length; i += 4) colours.add((tiles.data[i] << 16) | (tiles.data[i + 1] << 8) | tiles.data[i + 2]);
    expect(colours.size).toBeGreaterThan(100);
  });

  it('writes report.html holding every picture itself (charts as SVG, tiles as a PNG data URL), the settings and the final accuracy', () => {
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const chart of ['loss.png', 'accuracy.png', 'confusion.png']) expect(html).toContain(`<figure id="${chart}"><svg `);
    const tiles = readFileSync(join(out, 'first-layer.png')).toString('base64');
    expect(html).toContain(`<figure id="first-layer.png"><img src="data:image/png;base64,${tiles}"`);
    // nothing outside the file: no links to pictures, scripts or style sheets
    expect(html).not.toMatch(/(src|href)="(?!data:)/);
    expect(html).toContain(`${metrics.final.testAccuracy.toFixed(4)} (${metrics.final.testCorrect}/300)`);
    expect(html).toMatch(/<th>optimizer<\/th><td>sgd<\/td>/);
  });

  it('evaluate reproduces the recorded test accuracy exactly', async () => {
    const json = await cli(['evaluate', '--model', out, '--backend', 'js', '--json']);
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout) as { testAccuracy: number; testExamples: number; recordedTestAccuracy: number };
    expect(result.testExamples).toBe(300);
    expect(result.testAccuracy).toBe(metrics.final.testAccuracy);
    expect(result.recordedTestAccuracy).toBe(metrics.final.testAccuracy);

    const text = await cli(['evaluate', '--model', join(out, 'model.safetensors'), '--backend', 'js']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`test accuracy ${metrics.final.testAccuracy.toFixed(4)} (${metrics.final.testCorrect}/300)`);
    expect(text.stdout).toContain('matches the');
  });

  it('predict reads a PNG (any size, light background) as the same digit an IDX file holds', async () => {
    const { test } = loadMnist();
    const picks = [5, 400, 900, 1500];
    const dir = join(scratch.dir, 'predict');
    const images = writeTestDigits(dir, picks);
    // digit 1 of the file, dark on white, blown up 4× (112×112): the CLI inverts and box-filters it back
    const png = new PNG({ width: 112, height: 112 });
    for (let y = 0; y < 112; y++) {
      for (let x = 0; x < 112; x++) {
        const g = 255 - images[784 + Math.floor(y / 4) * 28 + Math.floor(x / 4)];
        png.data.set([g, g, g, 255], 4 * (y * 112 + x));
      }
    }
    writeFileSync(join(dir, 'digit.png'), PNG.sync.write(png));

    const result = await cli(['predict', '--model', out, '--backend', 'js', '--json', join(dir, 'digit.png'), join(dir, 't10k-images-idx3-ubyte')]);
    expect(result.code).toBe(0);
    type Prediction = { predicted: number; probabilities: number[]; label?: number };
    const { results } = JSON.parse(result.stdout) as { results: Array<{ kind: string; total: number; predictions: Prediction[]; accuracy?: number }> };
    expect(results.map((r) => r.kind)).toEqual(['png', 'idx']);
    const [fromPng, fromIdx] = [results[0].predictions[0], results[1].predictions[1]];
    expect(fromPng.probabilities).toHaveLength(10);
    expect(fromPng.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(fromPng.predicted).toBe(fromIdx.predicted);
    fromPng.probabilities.forEach((p, i) => expect(p).toBeCloseTo(fromIdx.probabilities[i], 5));
    expect(results[1].total).toBe(4);
    expect(results[1].predictions.map((p) => p.label)).toEqual(picks.map((m) => test.labels[m]));

    const text = await cli(['predict', '--model', out, '--backend', 'js', '--limit', '2', join(dir, 't10k-images-idx3-ubyte'), join(dir, 'digit.png')]);
    expect(text.code).toBe(0);
    const printed = lines(text.stdout);
    expect(printed[0]).toMatch(/t10k-images-idx3-ubyte: 4 images of 28×28, labels from t10k-labels-idx1-ubyte$/);
    expect(printed[1]).toMatch(/^ {2}#0: \d {2}\(p 0\.\d{4}\) {2}\(label \d, (right|WRONG)\) {3}probabilities: 0 0\.\d{4} {2}1 /);
    expect(printed[3]).toBe('  … 2 more (--limit 0 prints all)');
    expect(printed[4]).toMatch(/^ {2}accuracy [01]\.\d{4} \(\d\/4\)$/);
    expect(printed[5]).toMatch(new RegExp(`digit\\.png: ${fromPng.predicted} {2}\\(p `));
    expect(printed[6]).toBe('  (112×112, resized to 28×28, inverted (light background))');
  });

  it('Ctrl-C stops after the current batch, exits 130 and leaves the earlier complete model untouched', async () => {
    const target = join(scratch.dir, 'interrupted');
    mkdirSync(target);
    copyFileSync(join(out, 'model.safetensors'), join(target, 'model.safetensors'));
    const before = readFileSync(join(target, 'model.safetensors'));
    let sent = false;
    const result = await startCli(['train', '--epochs', '1000', '--limit-train', '1000', '--limit-test', '50', '--backend', 'js', '--out', target], (all, child) => {
      if (!sent && /^epoch 1\/1000 /m.test(all)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(sent).toBe(true);
    expect(result.code).toBe(130);
    expect(result.stderr).toMatch(/^interrupted: stopping after the current batch/m);
    expect(result.stderr).toMatch(/^interrupted in epoch \d+\/1000 after batch \d+\/16: nothing written to /m);
    expect(readdirSync(target)).toEqual(['model.safetensors']);
    expect(readFileSync(join(target, 'model.safetensors')).equals(before)).toBe(true);
  });

  it('Ctrl-C on a fresh output directory leaves no model file at all', async () => {
    const target = join(scratch.dir, 'fresh');
    let sent = false;
    const result = await startCli(['train', '--epochs', '1000', '--limit-train', '500', '--limit-test', '50', '--backend', 'js', '--out', target], (all, child) => {
      if (!sent && /^model: /m.test(all)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    expect(result.code).toBe(130);
    expect(existsSync(join(target, 'model.safetensors'))).toBe(false);
  });
});

describe('the main job: tapegrad train with its defaults (BENCH-PROTOCOL T1, all 7996 digits)', () => {
  it('reaches test accuracy 0.9117 (1827/2004), TF.js\'s figure, with --model mlp spelled out or not', async () => {
    // the fastest backend that loads (native ≈ 1.5 s, js ≈ 7 s of training); every backend gives 1827
    const result = await cli(['train', '--model', 'mlp', '--quiet', '--out', join(scratch.dir, 'main-job')]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^test accuracy 0\.9117 \(1827\/2004\) after 5 epochs, /);
    const metrics = JSON.parse(readFileSync(join(scratch.dir, 'main-job', 'metrics.json'), 'utf8')) as Metrics;
    expect(metrics.settings).toMatchObject({ model: 'mlp', layers: '784,128,10', optimizer: 'sgd', lr: 0.1, epochs: 5, seed: 1001 });
  }, 120_000);
});

describe('tapegrad train --data (tiny generated IDX files, 8×8 images)', () => {
  const dir = join(scratch.dir, 'idx');
  const runDir = join(scratch.dir, 'idx-run');

  /** Ten classes of 8×8 images: a bright row (classes 0–7) or column (8, 9), on noise. */
  function writeSet(prefix: string, count: number, seed: number) {
    const rng = mulberry32(seed);
    const images = new Uint8Array(count * 64);
    const labels = new Uint8Array(count);
    for (let k = 0; k < count; k++) {
      const c = k % 10;
      labels[k] = c;
      for (let r = 0; r < 8; r++) {
        for (let col = 0; col < 8; col++) {
          const on = c < 8 ? r === c : col === (c === 8 ? 2 : 5);
          images[k * 64 + r * 8 + col] = Math.min(255, Math.round((on ? 200 : 0) + 55 * rng()));
        }
      }
    }
    writeIdx(join(dir, `${prefix}-images-idx3-ubyte.gz`), { type: 'uint8', dims: [count, 8, 8], data: images });
    writeIdx(join(dir, `${prefix}-labels-idx1-ubyte.gz`), { type: 'uint8', dims: [count], data: labels });
  }

  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    writeSet('train', 300, 1);
    writeSet('t10k', 100, 2);
  });

  it('trains quietly, then evaluate and predict find the data through the model\'s metadata', async () => {
    const train = await cli(['train', '--data', dir, '--layers', '64,16,10', '--epochs', '3', '--batch-size', '10', '--lr', '0.5', '--backend', 'js', '--quiet', '--out', runDir]);
    expect(train.stderr).toBe('');
    expect(train.code).toBe(0);
    expect(lines(train.stdout)).toHaveLength(1);
    const metrics = JSON.parse(readFileSync(join(runDir, 'metrics.json'), 'utf8')) as Metrics;
    expect(metrics.settings.data).toBe(dir);
    expect(metrics.final.trainExamples).toBe(300);
    expect(metrics.final.testAccuracy).toBeGreaterThan(0.9);
    expect(metrics.epochs).toHaveLength(3);
    // 16 tiles of 8×8
    const tiles = decodePng(join(runDir, 'first-layer.png'));
    expect(tiles.width).toBeGreaterThan(6 * 9);

    const evaluated = await cli(['evaluate', '--model', runDir, '--backend', 'js', '--json']);
    expect(evaluated.code).toBe(0);
    expect(JSON.parse(evaluated.stdout)).toMatchObject({ data: dir, testExamples: 100, testAccuracy: metrics.final.testAccuracy });

    const predicted = await cli(['predict', '--model', runDir, '--backend', 'js', join(dir, 't10k-images-idx3-ubyte.gz')]);
    expect(predicted.code).toBe(0);
    expect(predicted.stdout).toContain(`accuracy ${metrics.final.testAccuracy.toFixed(4)} (${metrics.final.testCorrect}/100)`);
  });
});
