import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TapegradError, Tensor, tensor } from '@tapegrad/core';
import { encodeIdx, parseIdx } from '@tapegrad/datasets';
import { deserializeParameters, mlp, restoreParameters, serializeParameters } from '@tapegrad/nn';
import { UsageError } from '../packages/cli/src/errors.js';
import { buildModel, loadModelFile } from '../packages/cli/src/model-file.js';
import { parseTrainOptions } from '../packages/cli/src/commands/train.js';
import { run } from '../packages/cli/src/program.js';

/**
 * Fuzzing the loaders and the front doors: random bytes and random mutations of valid
 * safetensors and IDX files, random values for tensor(), random command lines. Every outcome
 * must be a typed error (TapegradError in the libraries, UsageError / exit 2 in the CLI) or a
 * correct result — never a crash, an untyped error, a hang or a partial write. Seeded and
 * bounded, as the property tests are.
 */

const SEED = 42;
const scratch = mkdtempSync(join(tmpdir(), 'tapegrad-fuzz-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs fn; a typed error passes, anything else thrown fails the property with its stack. */
function typedOrResult<T>(fn: () => T, isTyped: (e: unknown) => boolean = (e) => e instanceof TapegradError): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (isTyped(error)) return undefined;
    throw error;
  }
}

/** Byte-level mutations of a valid file: flips, overwrites, truncation, insertion, a new length prefix. */
function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: Math.max(0, valid.length - 1) });
  return fc.oneof(
    fc.tuple(at, fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const b = valid.slice();
      b[i] ^= x;
      return b;
    }),
    fc.array(fc.tuple(at, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((edits) => {
      const b = valid.slice();
      for (const [i, x] of edits) b[i] = x;
      return b;
    }),
    at.map((n) => valid.slice(0, n)),
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([i, extra]) => {
      const b = new Uint8Array(valid.length + extra.length);
      b.set(valid.subarray(0, i));
      b.set(extra, i);
      b.set(valid.subarray(i), i + extra.length);
      return b;
    }),
    fc.tuple(fc.bigUint64Array({ minLength: 1, maxLength: 1 }), fc.boolean()).map(([[length], small]) => {
      const b = valid.slice();
      new DataView(b.buffer).setBigUint64(0, small ? length % 4096n : length, true);
      return b;
    }),
  );
}

/** Every tensor in the result holds exactly shape × 1 values (the loader's invariant). */
function wellFormed(parameters: Record<string, Tensor>): void {
  for (const t of Object.values(parameters)) {
    expect(t).toBeInstanceOf(Tensor);
    expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
  }
}

describe('safetensors loader fuzz', () => {
  const model = mlp([3, 2, 2], { seed: 1, dtype: 'float32' });
  const valid = serializeParameters(model.parameters(), { format: 'tapegrad-mlp/1', layers: '3,2,2', note: 'fuzz' });

  it('random bytes (400 runs): a typed error or a well-formed result', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const result = typedOrResult(() => deserializeParameters(bytes));
      if (result) wellFormed(result.parameters);
    }), { numRuns: 400, seed: SEED });
  });

  it('mutations of a valid file (600 runs): a typed error, or a result the model restores all-or-nothing', () => {
    fc.assert(fc.property(mutated(valid), (bytes) => {
      const result = typedOrResult(() => deserializeParameters(bytes, { source: 'fuzz.safetensors' }));
      if (!result) return;
      wellFormed(result.parameters);
      const target = mlp([3, 2, 2], { seed: 9, dtype: 'float32' });
      const before = Object.values(target.parameters()).map((t) => Array.from(t.data));
      const restored = typedOrResult(() => {
        restoreParameters(target, result.parameters);
        return true;
      });
      const after = Object.values(target.parameters()).map((t) => Array.from(t.data));
      // a refused restore leaves every parameter as it was: never a partial write
      if (!restored) expect(after).toEqual(before);
    }), { numRuns: 600, seed: SEED });
  });

  it('the CLI model loader on mutated files on disk (150 runs): a UsageError or a loaded model', () => {
    const file = join(scratch, 'model.safetensors');
    const cliValid = serializeParameters(buildModel({ layers: [3, 2, 2], activation: 'relu', output: 'softmax', loss: 'cce' }).parameters(), {
      format: 'tapegrad-mlp/1', layers: '3,2,2', activation: 'relu', output: 'softmax', loss: 'cce',
    });
    const silent = () => {};
    fc.assert(fc.property(mutated(cliValid), (bytes) => {
      writeFileSync(file, bytes);
      const loaded = typedOrResult(() => loadModelFile(file, silent), (e) => e instanceof UsageError);
      if (loaded) expect(loaded.architecture.kind === 'cnn' || loaded.architecture.layers.length >= 2).toBe(true);
    }), { numRuns: 150, seed: SEED });
  });
});

describe('IDX loader fuzz', () => {
  const images = encodeIdx({ dims: [3, 2, 2], data: Uint8Array.from({ length: 12 }, (_, i) => i * 20) });
  const floats = encodeIdx({ type: 'float32', dims: [2, 3], data: [1.5, -2, 0, 3, 4, 5] });

  it('random bytes (400 runs): a typed error or a result whose length fits its dimensions', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, gzip) => {
      const result = typedOrResult(() => parseIdx(gzip ? gzipSync(bytes) : bytes));
      if (result) expect(result.data.length).toBe(result.dims.reduce((a, b) => a * b, 1));
    }), { numRuns: 400, seed: SEED });
  });

  it('mutations of valid uint8 and float32 files, plain and gzipped (600 runs)', () => {
    fc.assert(fc.property(fc.oneof(mutated(images), mutated(floats), mutated(gzipSync(images))), (bytes) => {
      const result = typedOrResult(() => parseIdx(bytes, 'fuzz-idx'));
      if (result) expect(result.data.length).toBe(result.dims.reduce((a, b) => a * b, 1));
    }), { numRuns: 600, seed: SEED });
  });
});

describe('tensor() fuzz', () => {
  const leaf = fc.oneof(fc.double(), fc.integer(), fc.bigInt(), fc.string({ maxLength: 3 }), fc.constant(null), fc.constant(undefined), fc.boolean(), fc.object({ maxDepth: 1 }));
  const nested = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 4 })),
  })).value;
  const options = fc.option(fc.record({
    dtype: fc.option(fc.oneof(fc.constant('float32'), fc.constant('float64'), fc.string({ maxLength: 4 })), { nil: undefined }),
    shape: fc.option(fc.oneof(fc.array(fc.integer({ min: -2, max: 5 }), { maxLength: 3 }), fc.anything({ maxDepth: 1 })), { nil: undefined }),
  }, { requiredKeys: [] }), { nil: undefined });
  const arrayLike = fc.record({ length: fc.oneof(fc.integer({ min: -3, max: 4 }), fc.double(), fc.constant(2 ** 40)) }).map((r) => ({ ...r, 0: 1, 1: 2 }));

  it('random values, nestings, array-likes and options (800 runs): a typed error or a tensor holding those numbers', () => {
    fc.assert(fc.property(fc.oneof(nested, arrayLike, fc.anything({ maxDepth: 2 })), options, (value, opts) => {
      const t = typedOrResult(() => tensor(value as never, opts as never));
      if (!t) return;
      expect(t).toBeInstanceOf(Tensor);
      expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      const flat = Array.isArray(value) ? (value as unknown[]).flat(Infinity) : typeof value === 'number' ? [value] : null;
      if (flat) {
        const expected = flat.map((v) => (t.dtype === 'float32' ? Math.fround(v as number) : v));
        expect(Array.from(t.data)).toEqual(expected);
      }
    }), { numRuns: 800, seed: SEED });
  });
});

describe('command-line fuzz', () => {
  const value = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.integer({ min: -5, max: 2 ** 33 }).map(String),
    fc.double().map(String),
    fc.constantFrom('784,128,10', '784,100000000,10', '1', '0', '-1', '1e309', 'NaN', ' 3 ', '0x10', '1,2,', 'relu', 'adam', 'mse'),
  );
  const trainKeys = ['layers', 'activation', 'loss', 'output', 'optimizer', 'lr', 'batchSize', 'epochs', 'seed', 'shuffleSeed', 'init', 'backend', 'limitTrain', 'limitTest'];

  it('parseTrainOptions on random option values (600 runs): a UsageError or options within their stated ranges', () => {
    fc.assert(fc.property(fc.dictionary(fc.constantFrom(...trainKeys), value, { maxKeys: 6 }), (raw) => {
      const options = typedOrResult(() => parseTrainOptions(raw), (e) => e instanceof UsageError);
      if (!options) return;
      expect(options.lr > 0 && Number.isFinite(options.lr)).toBe(true);
      expect(Number.isSafeInteger(options.epochs) && options.epochs >= 1).toBe(true);
      expect(Number.isSafeInteger(options.batchSize) && options.batchSize >= 1).toBe(true);
      expect(options.layers.every((n) => Number.isSafeInteger(n) && n >= 1)).toBe(true);
    }), { numRuns: 600, seed: SEED });
  });

  const flags = ['--layers', '--activation', '--loss', '--output', '--optimizer', '--lr', '--batch-size', '--epochs', '--seed', '--shuffle-seed', '--init', '--backend', '--limit-train', '--limit-test', '--data', '--model', '--limit', '--json', '--quiet', '--batch'];

  it('whole command lines with random options (300 runs): exit 2 with one line on stderr, never 1, nothing written', async () => {
    const before = readdirSync(scratch).sort();
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('train', 'evaluate', 'predict', 'gradcheck'),
      fc.array(fc.tuple(fc.constantFrom(...flags), value), { maxLength: 5 }),
      async (command, pairs) => {
        const args = [command, ...pairs.flat()];
        // nothing may train or read a real model: train writes under /proc (refused up front),
        // evaluate and predict name a model that does not exist; gradcheck must fail on an option
        if (command === 'train') args.push('--out', '/proc/tapegrad-fuzz');
        if (command === 'evaluate' || command === 'predict') args.push('--model', join(scratch, 'no-such-model'), ...(command === 'predict' ? ['x.png'] : []));
        if (command === 'gradcheck') args.push('--batch', '0');
        const err: string[] = [];
        const out: string[] = [];
        const code = await run(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
        expect(code).toBe(2);
        expect(err).toHaveLength(1);
        expect(err[0]).toMatch(new RegExp(`^tapegrad ${command}: `));
        expect(err[0]).not.toMatch(/internal error/);
      },
    ), { numRuns: 300, seed: SEED });
    expect(readdirSync(scratch).sort()).toEqual(before);
  }, 60_000);
});
