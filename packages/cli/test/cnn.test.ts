import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { PNG } from 'pngjs';
import { Tensor, add, conv2d, relu, reshape } from '@tapegrad/core';
import { loadMnist, writeIdx } from '@tapegrad/datasets';
import { type SafetensorsMetadata, deserializeParameters, serializeParameters } from '@tapegrad/nn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCnn, columnsToImages, flatFeatures } from '../src/cnn.js';
import { CNN_DEFAULT_LR, CNN_OUTPUT_FILES, OUTPUT_FILES, parseTrainOptions } from '../src/commands/train.js';
import { ModelFileError, UsageError } from '../src/errors.js';
import { architectureMetadata, buildModel, loadModelFile } from '../src/model-file.js';
import {
  KERNEL_ZOOM, MAP_ZOOM, divergingColor, featureMapsLayout, greyColor, kernelTilesLayout,
} from '../src/report/conv-images.js';
import { cli, lines, scratchDir, writeTestDigits } from './helpers.js';

// `tapegrad train --model cnn` at a reduced size (2 epochs on 1000 of the embedded digits,
// --backend js so that evaluate re-measures exactly what train recorded), then evaluate,
// predict and the report's conv1 pictures on what it wrote, and damaged CNN model files.
// The full job (7996 digits, 10 epochs) takes longer than a test should; its figures are in
// the README.
const scratch = scratchDir('cnn');
afterAll(scratch.cleanup);
const out = join(scratch.dir, 'cnn-run');
const SEED = 42;

interface Metrics {
  settings: Record<string, unknown>;
  epochs: Array<{ epoch: number; loss: number; trainAccuracy: number; testLoss: number; testAccuracy: number }>;
  final: { testAccuracy: number; testCorrect: number; testExamples: number; trainExamples: number; confusion: number[][] };
}

function decodePng(file: string): PNG {
  return PNG.sync.read(readFileSync(file));
}

function pixel(png: PNG, x: number, y: number): number[] {
  const i = 4 * (y * png.width + x);
  return [png.data[i], png.data[i + 1], png.data[i + 2]];
}

function readModel(dir: string) {
  return deserializeParameters(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))));
}

/** The protocol's generator, written out from BENCH-PROTOCOL.md (not core's). */
function protocolNormals(seed: number) {
  let a = seed;
  const next = () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => {
    const u1 = next();
    const u2 = next();
    return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  };
}

describe('the CNN (BENCH-PROTOCOL T4)', () => {
  it('draws the protocol\'s initial weights: conv1, conv2, dense1, dense2, dense3 from one mulberry32(1004), He over the fan-in, biases 0', () => {
    const model = buildCnn({ channels: 1, side: 28, classes: 10, init: 'heNormal', seed: 1004 });
    const normal = protocolNormals(1004);
    const expected: Array<[string, number[], number]> = [
      ['conv1', [6, 1, 5, 5], 25], ['conv2', [16, 6, 5, 5], 150], ['dense1', [120, 400], 400], ['dense2', [84, 120], 120], ['dense3', [10, 84], 84],
    ];
    const params = model.parameters();
    expect(Object.keys(params)).toEqual(['conv1.W', 'conv1.b', 'conv2.W', 'conv2.b', 'dense1.W', 'dense1.b', 'dense2.W', 'dense2.b', 'dense3.W', 'dense3.b']);
    for (const [layer, shape, fanIn] of expected) {
      const W = params[`${layer}.W`];
      expect(W.shape).toEqual(shape);
      expect(W.dtype).toBe('float32');
      const sd = Math.sqrt(2 / fanIn);
      const want = Float32Array.from({ length: W.size }, () => normal() * sd);
      expect(Array.from(W.data)).toEqual(Array.from(want));
      expect(Array.from(params[`${layer}.b`].data).every((b) => b === 0)).toBe(true);
    }
    expect(flatFeatures(28)).toBe(400);
  });

  it('reads a sample\'s 784 values as its 28×28 image, row by row', () => {
    // columns [features, N]: example m's pixel (r, c) is x[28·r + c, m]
    const x = new Tensor(Float32Array.from({ length: 784 * 2 }, (_, i) => i), [784, 2], 'float32');
    const images = columnsToImages(x, 1, 28);
    expect(images.shape).toEqual([2, 1, 28, 28]);
    expect(images.data[1 * 784 + 3 * 28 + 5]).toBe(x.data[(3 * 28 + 5) * 2 + 1]);
  });

  it('--model cnn takes T4\'s defaults and refuses the options that shape an MLP', () => {
    expect(parseTrainOptions({ model: 'cnn' })).toMatchObject({
      model: 'cnn', layers: [], activation: 'relu', output: 'softmax', loss: 'cce', optimizer: 'momentum', lr: 0.01, batchSize: 64, epochs: 10,
      seed: 1004, shuffleSeed: 42, init: 'heNormal',
    });
    expect(parseTrainOptions({ model: 'cnn', optimizer: 'sgd' }).lr).toBe(0.01);
    expect(parseTrainOptions({ model: 'cnn', optimizer: 'adam' }).lr).toBe(CNN_DEFAULT_LR.adam);
    expect(parseTrainOptions({ model: 'cnn', epochs: '3', lr: '0.05' })).toMatchObject({ epochs: 3, lr: 0.05 });
    expect(parseTrainOptions({ optimizer: 'momentum' })).toMatchObject({ model: 'mlp', lr: 0.1, epochs: 5, seed: 1001 });
    expect(() => parseTrainOptions({ model: 'cnn', layers: '784,10' })).toThrow("--layers shapes an MLP; --model cnn is BENCH-PROTOCOL T4's fixed LeNet-5");
    expect(() => parseTrainOptions({ model: 'rnn' })).toThrow("--model must be one of mlp, cnn, got 'rnn'");
  });

  it('refuses data whose examples are not square images of side ≥ 12, or so large the network would pass the parameter cap, naming the sizes', async () => {
    const dir = join(scratch.dir, 'idx8');
    mkdirSync(dir);
    for (const [prefix, count] of [['train', 20], ['t10k', 10]] as const) {
      writeIdx(join(dir, `${prefix}-images-idx3-ubyte`), { type: 'uint8', dims: [count, 8, 8], data: new Uint8Array(count * 64) });
      writeIdx(join(dir, `${prefix}-labels-idx1-ubyte`), { type: 'uint8', dims: [count], data: Uint8Array.from({ length: count }, (_, i) => i % 10) });
    }
    const result = await cli(['train', '--model', 'cnn', '--data', dir, '--backend', 'js', '--out', join(scratch.dir, 'never')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('tapegrad train: --model cnn takes square images of side ≥ 12 (28×28 for MNIST), but the data has 64 values per example\n');
    // images so big that dense1 alone would pass the 2²⁸-parameter cap (gzip keeps the files small)
    const huge = join(scratch.dir, 'idx-huge');
    mkdirSync(huge);
    for (const prefix of ['train', 't10k']) {
      writeIdx(join(huge, `${prefix}-images-idx3-ubyte.gz`), { type: 'uint8', dims: [1, 1600, 1600], data: new Uint8Array(1600 * 1600) });
      writeIdx(join(huge, `${prefix}-labels-idx1-ubyte.gz`), { type: 'uint8', dims: [1], data: [3] });
    }
    const big = await cli(['train', '--model', 'cnn', '--data', huge, '--backend', 'js', '--out', join(scratch.dir, 'never')]);
    expect(big.code).toBe(2);
    expect(big.stderr).toMatch(/^tapegrad train: --model cnn on 1600×1600 images makes [\d,]+ parameters; tapegrad train allows at most 268,435,456 \(1 GiB of float32 weights\)\n$/);
    const layers = await cli(['train', '--model', 'cnn', '--layers', '784,10', '--out', join(scratch.dir, 'never')]);
    expect(layers.code).toBe(2);
    expect(layers.stderr).toMatch(/^tapegrad train: --layers shapes an MLP; --model cnn is BENCH-PROTOCOL T4's fixed LeNet-5 .*drop --layers\n$/);
  });
});

describe('tapegrad train --model cnn (2 epochs on 1000 of the embedded digits)', () => {
  let stdout = '';
  let metrics: Metrics;

  beforeAll(async () => {
    const result = await cli(['train', '--model', 'cnn', '--epochs', '2', '--limit-train', '1000', '--limit-test', '300', '--backend', 'js', '--out', out]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    stdout = result.stdout;
    metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Metrics;
    // ≈ 6 s of CPU; on 2 cores shared with other work it can take several times that
  }, 180_000);

  it('prints the network, one line per epoch and the result', () => {
    const printed = lines(stdout);
    expect(printed[0]).toBe('backend: js');
    expect(printed[1]).toBe('data: embedded MNIST (1000 train, 300 test)');
    expect(printed[2]).toBe('model: LeNet-5 1×28×28: conv 5×5 1→6 pad 2, relu, maxpool 2; conv 5×5 6→16, relu, maxpool 2; flatten 400; '
      + 'dense 400-120-84-10, relu hidden, softmax output + cce, heNormal init (seed 1004); momentum lr 0.01 (μ 0.9), batch 64, 2 epochs (order seed 42)');
    expect(printed[3]).toMatch(/^epoch 1\/2 {2}loss \d\.\d{4} {2}train accuracy 0\.\d{4} {2}test accuracy 0\.\d{4} /);
    expect(printed[4]).toMatch(/^epoch 2\/2 /);
    expect(printed[5]).toMatch(new RegExp(`^test accuracy 0\\.\\d{4} \\(\\d+/300\\) after 2 epochs, .* wrote ${CNN_OUTPUT_FILES.join(', ').replaceAll('.', '\\.')} to `));
    expect(printed).toHaveLength(6);
  });

  it('learns: the loss falls by more than a third and the test accuracy passes 0.70 (measured 0.7300, 219/300)', () => {
    const [first, second] = metrics.epochs;
    // measured on js: loss 2.1641 then 1.1093; test accuracy 0.5067 then 0.7300
    expect(first.loss).toBeGreaterThan(1.8);
    expect(first.loss).toBeLessThan(2.4);
    expect(second.loss).toBeLessThan(0.65 * first.loss);
    expect(second.testLoss).toBeLessThan(first.testLoss);
    expect(second.testAccuracy).toBeGreaterThan(first.testAccuracy);
    expect(metrics.final.testAccuracy).toBeGreaterThanOrEqual(0.7);
    expect(metrics.final.testCorrect).toBe(Math.round(metrics.final.testAccuracy * 300));
    expect(metrics.final.confusion.flat().reduce((a, b) => a + b, 0)).toBe(300);
    expect(metrics.settings).toMatchObject({ model: 'cnn', optimizer: 'momentum', lr: 0.01, batchSize: 64, epochs: 2, seed: 1004, shuffleSeed: 42, init: 'heNormal' });
  });

  it('writes the CNN\'s files (conv1 pictures instead of first-layer.png) and records the architecture in the model file', () => {
    expect(readdirSync(out).sort()).toEqual([...CNN_OUTPUT_FILES].sort());
    const { parameters, metadata } = readModel(out);
    expect(Object.fromEntries(Object.entries(parameters).map(([name, t]) => [name, t.shape]))).toEqual({
      'conv1.W': [6, 1, 5, 5], 'conv1.b': [6], 'conv2.W': [16, 6, 5, 5], 'conv2.b': [16], 'dense1.W': [120, 400], 'dense1.b': [120, 1],
      'dense2.W': [84, 120], 'dense2.b': [84, 1], 'dense3.W': [10, 84], 'dense3.b': [10, 1],
    });
    expect(metadata).toMatchObject({
      format: 'tapegrad-cnn/1', architecture: 'lenet5', input: '1,28,28', classes: '10', activation: 'relu', output: 'softmax', loss: 'cce',
      optimizer: 'momentum', lr: '0.01', epochs: '2', seed: '1004', dataset: 'mnist', limitTest: '300', testAccuracy: String(metrics.final.testAccuracy),
    });
    expect(metadata.layers).toBeUndefined();
  });

  it('draws conv1\'s 6 kernels as 80×80 tiles (16 px per weight), coloured by the saved weights', () => {
    const png = decodePng(join(out, 'conv1-kernels.png'));
    expect([png.width, png.height]).toEqual([677, 362]);
    const layout = kernelTilesLayout(6, 1, 5, 5);
    const trained = readModel(out).parameters['conv1.W'].data;
    const initial = buildCnn({ channels: 1, side: 28, classes: 10, init: 'heNormal', seed: 1004 }).parameters()['conv1.W'].data;
    [trained, initial].forEach((weights, panel) => {
      const largest = Math.max(...Array.from(weights, Math.abs));
      for (let k = 0; k < 6; k++) {
        const { x, y, zoom } = layout.tile(panel, k, 0);
        expect(zoom).toBe(KERNEL_ZOOM);
        // the tile: a 1-px grey border around 5·16 = 80 px
        expect(pixel(png, x, y)).toEqual([150, 150, 150]);
        expect(pixel(png, x + 81, y + 81)).toEqual([150, 150, 150]);
        expect(pixel(png, x + 82, y + 82)).toEqual([255, 255, 255]);
        for (let r = 0; r < 5; r++) {
          for (let c = 0; c < 5; c++) {
            const w = weights[k * 25 + r * 5 + c];
            for (const [dx, dy] of [[0, 0], [15, 15]]) expect(pixel(png, x + 1 + c * 16 + dx, y + 1 + r * 16 + dy)).toEqual([...divergingColor(w, largest)]);
          }
        }
      }
    });
    // training moved the kernels
    expect(Array.from(trained)).not.toEqual(Array.from(initial));
  });

  it('draws test digit #0 and conv1\'s 6 feature maps after relu as 112×112 tiles (4 px per value)', () => {
    const png = decodePng(join(out, 'conv1-feature-maps.png'));
    expect([png.width, png.height]).toEqual([942, 254]);
    const layout = featureMapsLayout(28, 6, 28, 28);
    const { test } = loadMnist({ dtype: 'float32' });
    const digit = columnsToImages(test.x, 1, 28).data.slice(0, 784);
    const { parameters } = readModel(out);
    // conv1 then relu, written out with core's ops: what nn's Conv2d and ReLU must compute
    const maps = relu(add(conv2d(new Tensor(digit, [1, 1, 28, 28], 'float32'), parameters['conv1.W'], { padding: 2 }), reshape(parameters['conv1.b'], [6, 1, 1]))).data;
    expect(layout.digit.zoom).toBe(MAP_ZOOM);
    for (let r = 0; r < 28; r += 3) {
      for (let c = 0; c < 28; c += 3) expect(pixel(png, layout.digit.x + 1 + c * 4 + 2, layout.digit.y + 1 + r * 4 + 2)).toEqual([...greyColor(digit[r * 28 + c], 1)]);
    }
    for (let k = 0; k < 6; k++) {
      const { x, y } = layout.map(k);
      expect(pixel(png, x, y)).toEqual([150, 150, 150]);
      expect(pixel(png, x + 113, y + 113)).toEqual([150, 150, 150]);
      const map = maps.subarray(k * 784, (k + 1) * 784);
      const largest = Math.max(...map);
      expect(largest).toBeGreaterThan(0);
      let lit = 0;
      for (let r = 0; r < 28; r++) {
        for (let c = 0; c < 28; c++) {
          const [g] = pixel(png, x + 1 + c * 4 + 1, y + 1 + r * 4 + 1);
          expect(Math.abs(g - greyColor(map[r * 28 + c], largest)[0])).toBeLessThanOrEqual(1);
          if (g > 0) lit++;
        }
      }
      // relu leaves part of the map dark and part lit
      expect(lit).toBeGreaterThan(10);
      expect(lit).toBeLessThan(784);
    }
  });

  it('report.html shows the conv1 pictures and no first-layer.png', () => {
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    // one self-contained page: the charts inline as SVG, the conv1 pictures as the PNG files' own bytes
    for (const chart of ['loss.png', 'accuracy.png', 'confusion.png']) expect(html).toContain(`<figure id="${chart}"><svg`);
    for (const png of ['conv1-kernels.png', 'conv1-feature-maps.png']) {
      expect(html).toContain(`<figure id="${png}"><img src="data:image/png;base64,${readFileSync(join(out, png)).toString('base64')}"`);
    }
    expect(html).not.toContain('first-layer.png');
    expect(html).toContain('<title>tapegrad: LeNet-5 CNN on MNIST, test accuracy');
    expect(html).toMatch(/<th>model<\/th><td>cnn<\/td>/);
  });

  it('evaluate rebuilds the CNN from the metadata and reproduces the recorded accuracy exactly', async () => {
    const json = await cli(['evaluate', '--model', out, '--backend', 'js', '--json']);
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout) as { testAccuracy: number; testExamples: number; recordedTestAccuracy: number };
    expect(result).toMatchObject({ testExamples: 300, testAccuracy: metrics.final.testAccuracy, recordedTestAccuracy: metrics.final.testAccuracy });
    const text = await cli(['evaluate', '--model', out, '--backend', 'js']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('(LeNet-5 1×28×28: conv 5×5 1→6 pad 2');
    expect(text.stdout).toContain(`test accuracy ${metrics.final.testAccuracy.toFixed(4)} (${metrics.final.testCorrect}/300)`);
    expect(text.stdout).toContain('matches the');
  });

  it('predict reads a PNG and an IDX file with the CNN, the PNG as the same digit the IDX file holds', async () => {
    const { test } = loadMnist();
    const picks = [3, 700, 1300, 1900];
    const dir = join(scratch.dir, 'cnn-predict');
    const images = writeTestDigits(dir, picks);
    // digit 2 of the file, dark on white and blown up 3×
    const png = new PNG({ width: 84, height: 84 });
    for (let y = 0; y < 84; y++) {
      for (let x = 0; x < 84; x++) {
        const g = 255 - images[2 * 784 + Math.floor(y / 3) * 28 + Math.floor(x / 3)];
        png.data.set([g, g, g, 255], 4 * (y * 84 + x));
      }
    }
    writeFileSync(join(dir, 'digit.png'), PNG.sync.write(png));
    const result = await cli(['predict', '--model', out, '--backend', 'js', '--json', join(dir, 'digit.png'), join(dir, 't10k-images-idx3-ubyte')]);
    expect(result.code).toBe(0);
    type Prediction = { predicted: number; probabilities: number[]; label?: number };
    const { results } = JSON.parse(result.stdout) as { results: Array<{ kind: string; total: number; predictions: Prediction[]; accuracy?: number }> };
    const [fromPng, fromIdx] = [results[0].predictions[0], results[1].predictions[2]];
    expect(fromPng.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(fromPng.predicted).toBe(fromIdx.predicted);
    fromPng.probabilities.forEach((p, i) => expect(p).toBeCloseTo(fromIdx.probabilities[i], 5));
    expect(results[1].predictions.map((p) => p.label)).toEqual(picks.map((m) => test.labels[m]));
    expect(results[1].accuracy).toBeGreaterThanOrEqual(0.5);
  });

  it('a CNN file whose metadata is damaged is a typed error: one line naming the file and the key, exit 2', async () => {
    const { parameters, metadata } = readModel(out);
    const damaged = join(scratch.dir, 'damaged');
    mkdirSync(damaged);
    const file = join(damaged, 'model.safetensors');
    const cases: Array<[SafetensorsMetadata, RegExp]> = [
      [{ ...metadata, input: '1,28' }, /metadata 'input' must be channels,height,width such as 1,28,28, got '1,28'$/],
      [{ ...metadata, input: '1,28,20' }, /metadata 'input' is 1×28×20, but the CNN takes square images of side ≥ 12$/],
      [{ ...metadata, input: '1,100000,100000' }, /metadata describes a CNN of [\d,]{17} parameters \(input 1,100000,100000, 10 classes\); tapegrad allows at most 268,435,456$/],
      [{ ...metadata, classes: 'ten' }, /metadata 'classes' must be a positive integer, got 'ten'$/],
      [{ ...metadata, architecture: 'resnet' }, /metadata 'architecture' is 'resnet', not one of lenet5$/],
      [{ ...metadata, format: 'tapegrad-cnn/9' }, /metadata 'format' is 'tapegrad-cnn\/9', which this tapegrad cannot read/],
      [Object.fromEntries(Object.entries(metadata).filter(([k]) => k !== 'input')), /has no 'input' in its metadata/],
      // well-formed, but the weights do not fit the network it describes
      [{ ...metadata, input: '1,20,20' }, /tensor 'dense1\.W' has shape \[120,400\] but the model's is \[120,144\]$/],
      [{ ...metadata, classes: '12' }, /tensor 'dense3\.W' has shape \[10,84\] but the model's is \[12,84\]$/],
    ];
    for (const [k, [broken, message]] of cases.entries()) {
      writeFileSync(file, serializeParameters(parameters, broken));
      expect(() => loadModelFile(file, () => {})).toThrow(ModelFileError);
      expect(() => loadModelFile(file, () => {})).toThrow(message);
      // through the command line: a bad value and weights that do not fit, each by both commands
      if (k !== 0 && k !== 7) continue;
      for (const command of ['evaluate', 'predict']) {
        const result = await cli([command, '--model', damaged, '--backend', 'js', ...(command === 'predict' ? [file] : [])]);
        expect(result.code, `${command} ${JSON.stringify(broken)}`).toBe(2);
        const [line, ...rest] = lines(result.stderr);
        expect(rest).toEqual([]);
        expect(line.startsWith(`tapegrad ${command}: --model: `)).toBe(true);
        expect(line).toContain(file);
        expect(line).toMatch(message);
      }
    }
  });

  it('damaged metadata values (120 runs, seeded): loading gives a ModelFileError or a working CNN, never another error', () => {
    const { parameters, metadata } = readModel(out);
    const file = join(scratch.dir, 'fuzz.safetensors');
    const value = fc.oneof(
      fc.constantFrom('1,28,28', '1,28', '0,28,28', '1,12,12', '2,28,28', '1,-28,-28', '1,1e3,1e3', ' 1 , 28 , 28 ', '1,28,28,1', '', '10', '0', '-1', '1.5', 'NaN', '99999999999999999999', 'lenet5', 'tapegrad-mlp/1', 'tapegrad-cnn/1', 'relu', 'softmax', 'cce'),
      fc.string({ maxLength: 12 }),
    );
    const key = fc.constantFrom('format', 'architecture', 'input', 'classes', 'activation', 'output', 'loss', 'layers');
    fc.assert(fc.property(fc.array(fc.tuple(key, fc.option(value, { nil: undefined })), { minLength: 1, maxLength: 3 }), (edits) => {
      const broken: SafetensorsMetadata = { ...metadata };
      for (const [k, v] of edits) {
        if (v === undefined) delete broken[k];
        else broken[k] = v;
      }
      writeFileSync(file, serializeParameters(parameters, broken));
      let loaded;
      try {
        loaded = loadModelFile(file, () => {});
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        expect((error as Error).message).toMatch(/^--model: /);
        return;
      }
      expect(loaded.architecture.kind).toBe('cnn');
      expect(Object.keys(loaded.model.parameters())).toEqual(Object.keys(parameters));
    }), { numRuns: 120, seed: SEED });
  });

  it('an MLP file without a format key (written before the CNN) still loads as an MLP', () => {
    const architecture = { layers: [4, 3, 2], activation: 'relu', output: 'softmax', loss: 'cce' } as const;
    const { format: _, ...old } = architectureMetadata({ ...architecture, layers: [4, 3, 2] });
    const file = join(scratch.dir, 'old-mlp.safetensors');
    writeFileSync(file, serializeParameters(buildModel({ ...architecture, layers: [4, 3, 2] }).parameters(), old));
    const loaded = loadModelFile(file, () => {});
    expect(loaded.architecture).toEqual({ kind: 'mlp', ...architecture, layers: [4, 3, 2] });
  });

  it('graph --model draws one training step of the CNN, each layer a box with --fold', async () => {
    const svg = join(scratch.dir, 'cnn-step.svg');
    const result = await cli(['graph', '--model', out, '--batch', '2', '--out', svg]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/: LeNet-5 CNN relu\/softmax \+ cce, 2 test images; cost \d\.\d+; wrote /);
    const text = readFileSync(svg, 'utf8');
    for (const name of ['>conv1.W<', '>conv2.b<', '>dense3.W<', '>X<', '>Y<', '>relu<', '>exp<', '[2,1,28,28] float32']) expect(text).toContain(name);
    const dot = join(scratch.dir, 'cnn-step.dot');
    expect((await cli(['graph', '--model', out, '--batch', '2', '--fold', '--out', dot])).code).toBe(0);
    const folded = readFileSync(dot, 'utf8');
    for (const [layer, shape] of [['conv1', '[2,6,28,28]'], ['pool1', '[2,6,14,14]'], ['conv2', '[2,16,10,10]'], ['pool2', '[2,16,5,5]'], ['flatten', '[400,2]'], ['dense3', '[10,2]']]) {
      expect(folded).toMatch(new RegExp(`${layer} \\(\\d+ ops?: [^)]*\\)\\\\n${shape.replace(/[[\]]/g, '\\$&')} float32`));
    }
  });

  it('an MLP run may replace the CNN run\'s outputs in the same --out, and the other way round', async () => {
    const shared = join(scratch.dir, 'shared');
    cpSync(out, shared, { recursive: true });
    const mlpRun = await cli(['train', '--epochs', '1', '--limit-train', '200', '--limit-test', '50', '--backend', 'js', '--quiet', '--out', shared]);
    expect(mlpRun.code).toBe(0);
    expect(readdirSync(shared).sort()).toEqual([...OUTPUT_FILES].sort());
    const cnnRun = await cli(['train', '--model', 'cnn', '--epochs', '1', '--limit-train', '100', '--limit-test', '20', '--backend', 'js', '--quiet', '--out', shared]);
    expect(cnnRun.stderr).toBe('');
    expect(cnnRun.code).toBe(0);
    expect(readdirSync(shared).sort()).toEqual([...CNN_OUTPUT_FILES].sort());
  });
});
