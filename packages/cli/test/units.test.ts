import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { boxResize, loadMnist } from '@tapegrad/datasets';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { writeFileAtomic } from '@tapegrad/nn';
import { DEFAULT_LR, parseTrainOptions } from '../src/commands/train.js';
import { evenSubset } from '../src/data.js';
import { UsageError } from '../src/errors.js';
import { isPng, pngToInput } from '../src/image.js';
import { parseLayers, parsePositiveNumber, parseSeed } from '../src/options.js';
import { run } from '../src/program.js';
import { scratchDir } from './helpers.js';

const scratch = scratchDir('units');
afterAll(scratch.cleanup);

describe('train options', () => {
  it('default to BENCH-PROTOCOL task T1', () => {
    expect(parseTrainOptions({})).toEqual({
      model: 'mlp', layers: [784, 128, 10], activation: 'relu', output: 'softmax', loss: 'cce', optimizer: 'sgd', lr: 0.1, batchSize: 64, epochs: 5,
      seed: 1001, shuffleSeed: 42, init: 'heNormal', data: undefined, out: 'out/run', backend: 'auto', quiet: false, limitTrain: 0, limitTest: 0,
    });
  });

  it('pair the output with the loss and the learning rate with the optimizer unless told', () => {
    expect(parseTrainOptions({ loss: 'bce' }).output).toBe('sigmoid');
    expect(parseTrainOptions({ loss: 'bce', output: 'softmax' }).output).toBe('softmax');
    expect(parseTrainOptions({ optimizer: 'adam' }).lr).toBe(DEFAULT_LR.adam);
    expect(parseTrainOptions({ optimizer: 'adam', lr: '0.01' }).lr).toBe(0.01);
    expect(parseTrainOptions({ activation: 'tanh' }).init).toBe('xavierUniform');
  });

  it('refuse bad values with a UsageError naming the option', () => {
    expect(() => parseLayers('784,0,10')).toThrow(UsageError);
    expect(() => parseLayers('784, 128 ,10')).not.toThrow();
    expect(() => parsePositiveNumber('Infinity', '--lr')).toThrow("--lr must be a positive number, got 'Infinity'");
    expect(() => parsePositiveNumber('', '--lr')).toThrow(UsageError);
    expect(parseSeed('-7')).toBe(-7);
    expect(() => parseSeed('4294967296')).toThrow(UsageError);
  });
});

describe('data subsets', () => {
  it('spread evenly over the class-sorted split, keeping every class', () => {
    const { test } = loadMnist();
    const subset = evenSubset(test, 100);
    expect(subset.x.shape).toEqual([784, 100]);
    expect(new Set(subset.labels).size).toBe(10);
    expect(evenSubset(test, 0)).toBe(test);
  });
});

describe('PNG input', () => {
  function png(width: number, height: number, pixel: (x: number, y: number) => [number, number, number, number]): Uint8Array {
    const image = new PNG({ width, height });
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) image.data.set(pixel(x, y), 4 * (y * width + x));
    return PNG.sync.write(image);
  }

  it('box-filters by area, up and down', () => {
    expect(Array.from(boxResize([0, 1, 1, 0], 2, 2, 1))).toEqual([0.5]);
    expect(Array.from(boxResize([0, 1, 1, 0], 2, 2, 4))).toEqual([0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(boxResize([0, 0.3, 0.6], 3, 1, 3)).length).toBe(9);
  });

  it('inverts a dark digit on a light background and pads a wide image to a square', () => {
    const bytes = png(56, 28, (x, y) => (x >= 24 && x < 32 && y >= 10 && y < 18 ? [0, 0, 0, 255] : [250, 250, 250, 255]));
    expect(isPng(bytes)).toBe(true);
    const prepared = pngToInput(bytes, 28);
    expect(prepared.inverted).toBe(true);
    expect(prepared.resized).toBe(true);
    // the 56×56 square halves to 28×28: the 8×8 black block becomes a 4×4 white block in the middle
    expect(prepared.pixels[14 * 28 + 14]).toBeCloseTo(1, 5);
    expect(prepared.pixels[2 * 28 + 2]).toBeCloseTo(0.0196, 3);
  });

  it('keeps a white-on-black 28×28 image as it is, treating transparency as white', () => {
    const plain = pngToInput(png(28, 28, (x) => [x === 5 ? 255 : 0, x === 5 ? 255 : 0, x === 5 ? 255 : 0, 255]), 28);
    expect(plain.inverted).toBe(false);
    expect(plain.resized).toBe(false);
    expect(plain.pixels[5]).toBe(1);
    expect(plain.pixels[6]).toBe(0);
    const transparent = pngToInput(png(28, 28, (x) => (x === 5 ? [0, 0, 0, 255] : [0, 0, 0, 0])), 28);
    expect(transparent.inverted).toBe(true);
    expect(transparent.pixels[5]).toBe(1);
  });
});

describe('atomic writes', () => {
  it('replace the file whole and leave no temporary file', async () => {
    const file = join(scratch.dir, 'x.json');
    await writeFileAtomic(file, 'one');
    await writeFileAtomic(file, new Uint8Array([116, 119, 111]));
    expect(readFileSync(file, 'utf8')).toBe('two');
    expect(readdirSync(scratch.dir)).toEqual(['x.json']);
  });

  it('leave nothing when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(scratch.dir, 'missing', 'x'), 'a')).rejects.toThrow();
    expect(existsSync(join(scratch.dir, 'missing'))).toBe(false);
  });
});

describe('run()', () => {
  function capture() {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
  }

  it('runs gradcheck in process and prints the per-layer table', async () => {
    const { io, out: printed } = capture();
    expect(await run(['gradcheck', '--layers', '4,3,2', '--activation', 'relu', '--loss', 'bce'], io)).toBe(0);
    const out = printed.join('\n').split('\n');
    expect(out[0]).toBe('gradcheck: 4-3-2, relu hidden, sigmoid output + bce, batch 4, seed 1, float64');
    expect(out[2]).toMatch(/^layer {3}Δ \(BP1\/BP2\) {3}∂C\/∂W \(BP3\) {3}∂C\/∂b \(BP4\) {3}finite diff {3}augmented$/);
    expect(out.filter((l) => /^ {4}[12] /.test(l))).toHaveLength(2);
    expect(out[out.length - 1]).toMatch(/^ok: 2 layers agree/);
  });

  it('turns an unexpected error into one line with a hint, and shows the stack with --debug', async () => {
    const gradcheck = await import('../src/commands/gradcheck.js');
    const spy = vi.spyOn(gradcheck, 'parseGradcheckOptions').mockImplementation(() => {
      throw new TypeError('something broke\nsecond line');
    });
    try {
      const plain = capture();
      expect(await run(['gradcheck'], plain.io)).toBe(1);
      expect(plain.err).toEqual([
        'tapegrad gradcheck: internal error: something broke (run again with --debug for the stack trace)',
        'tapegrad gradcheck: this is a bug in tapegrad, not a mistake of yours: please report it with the command line and the --debug output',
      ]);
      const debug = capture();
      expect(await run(['gradcheck', '--debug'], debug.io)).toBe(1);
      expect(debug.err.join('\n')).toMatch(/TypeError: something broke[\s\S]*\n\s+at /);
    } finally {
      spy.mockRestore();
    }
  });
});
