import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ReleasedTensorError, Tape, ValueError, matmul, randn, square, sum, tensor, tidy } from '@tapegrad/core';
import { Momentum, NonFiniteError, type Optimizer, SGD, fit, loadModel, mlp, saveModel } from '@tapegrad/nn';
import { NaiveMomentum } from './helpers/naive-momentum.js';

const scratch = mkdtempSync(join(tmpdir(), 'tapegrad-nn-reliability-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const xor = () => ({
  x: tensor([[0, 0, 1, 1], [0, 1, 0, 1]], { dtype: 'float64' }),
  y: tensor([[0, 1, 1, 0]], { dtype: 'float64' }),
});


describe("a user's optimiser needs no keep()", () => {
  it('the naive momentum optimiser trains under fit, step for step as the built-in Momentum', async () => {
    const naive = mlp([2, 4, 1], { hidden: 'tanh', output: 'sigmoid', seed: 1, dtype: 'float64' });
    const builtIn = mlp([2, 4, 1], { hidden: 'tanh', output: 'sigmoid', seed: 1, dtype: 'float64' });
    const options = { loss: 'bce' as const, epochs: 200, batchSize: 2 };
    const a = await fit(naive, xor(), { ...options, optimizer: new NaiveMomentum(0.1, 0.9) });
    const b = await fit(builtIn, xor(), { ...options, optimizer: new Momentum({ lr: 0.1, momentum: 0.9 }) });
    expect(a.at(-1)!.loss).toBeLessThan(0.05);
    expect(a[0].loss).toBeGreaterThan(0.7);
    for (let e = 0; e < a.length; e++) expect(Math.abs(a[e].loss - b[e].loss)).toBeLessThan(1e-12);
  });

  it('in a tidy loop of your own the same optimiser still needs keep() (tidy stays opt-in)', () => {
    const w = randn([1, 2], { seed: 3, dtype: 'float64' });
    const x = randn([2, 4], { seed: 4, dtype: 'float64' });
    const opt = new NaiveMomentum(0.1);
    const step = () => tidy(() => {
      const tape = new Tape();
      const c = tape.record(() => sum(square(matmul(w, x))));
      opt.step([w], tape.gradient(c, [w]));
    });
    step();
    expect(step).toThrow(ReleasedTensorError);
  });
});

describe('fit: nothing non-finite goes unnoticed', () => {
  // identity output + half squared error at a huge rate: the loss overflows within a few steps
  const blowUp = () => ({ x: randn([3, 16], { seed: 5, dtype: 'float32' }), y: randn([2, 16], { seed: 6, dtype: 'float32' }) });
  const model = () => mlp([3, 4, 2], { hidden: 'identity', output: 'identity', seed: 2, dtype: 'float32' });

  it("stops by default with a NonFiniteError naming the epoch and step, before that step's update", async () => {
    const m = model();
    const run = fit(m, blowUp(), { loss: 'mse', optimizer: new SGD({ lr: 1e6 }), epochs: 5, batchSize: 4, shuffle: false });
    await expect(run).rejects.toThrow(NonFiniteError);
    const error = (await run.catch((e: unknown) => e)) as NonFiniteError;
    expect(error.op).toBe('fit');
    expect(error.quantity).toBe('loss');
    expect(error.epoch).toBe(1);
    expect(error.step).toBeGreaterThan(1);
    expect(error.history).toEqual([]);
    expect(error.message).toMatch(/^fit: loss is (NaN|Infinity) in epoch 1, step \d+: training diverged; try a smaller learning rate/);
  });

  it("'warn' warns once and goes on; 'ignore' neither warns nor stops", async () => {
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const warned = await fit(model(), blowUp(), { loss: 'mse', optimizer: new SGD({ lr: 1e6 }), epochs: 3, batchSize: 4, onNonFinite: 'warn' });
      expect(warned).toHaveLength(3);
      expect(warning).toHaveBeenCalledTimes(1);
      expect(String(warning.mock.calls[0][0])).toMatch(/^fit: loss is (NaN|Infinity) in epoch 1, step \d+; training goes on/);
      warning.mockClear();
      const ignored = await fit(model(), blowUp(), { loss: 'mse', optimizer: new SGD({ lr: 1e6 }), epochs: 3, batchSize: 4, onNonFinite: 'ignore' });
      expect(ignored).toHaveLength(3);
      expect(warning).not.toHaveBeenCalled();
    } finally {
      warning.mockRestore();
    }
  });

  it('finds a parameter the loss hides (−∞ bias behind a relu) at the end of the epoch', async () => {
    const m = mlp([2, 3, 1], { hidden: 'relu', output: 'sigmoid', seed: 1, dtype: 'float64' });
    const poison: Optimizer = {
      name: 'poison',
      step(params) {
        params[1].assign(params[1].toFlatArray().map((v, i) => (i === 0 ? -Infinity : v)));
      },
      reset() {},
    };
    const error = (await fit(m, xor(), { loss: 'bce', optimizer: poison, epochs: 3, batchSize: 'full' }).catch((e: unknown) => e)) as NonFiniteError;
    expect(error).toBeInstanceOf(NonFiniteError);
    expect(error.message).toBe("fit: parameter '0.b' is -Infinity in epoch 1 (after its last step): training diverged; try a smaller learning rate (or onNonFinite: 'warn' | 'ignore' to go on)");
    expect(error.step).toBeNull();
    expect(error.history).toEqual([]);
  });

  it('refuses data with a NaN, naming the example and the feature', async () => {
    const data = xor();
    data.x.assign([0, 0, 1, 1, 0, NaN, 0, 1]);
    await expect(fit(mlp([2, 2, 1], { seed: 1, dtype: 'float64' }), data, { loss: 'bce', optimizer: new SGD({ lr: 0.1 }), epochs: 1 }))
      .rejects.toThrow(new ValueError('fit', 'data: x has NaN at example 1, feature 1; examples must be finite'));
  });
});

describe('saveModel and loadModel with non-finite parameters and bad paths', () => {
  const diverged = () => {
    const m = mlp([2, 2, 1], { seed: 1, dtype: 'float32' });
    m.parameters()['1.W'].assign([NaN, 1]);
    return m;
  };

  it('saveModel refuses NaN parameters, naming them, and writes nothing; allowNonFinite writes them', async () => {
    const path = join(scratch, 'diverged.safetensors');
    await expect(saveModel(diverged(), path)).rejects.toThrow(new ValueError('saveModel', `${path}: not written: parameters '1.W' (NaN at element 0) are not finite (training diverged?); pass { allowNonFinite: true } to save them anyway`));
    await expect(loadModel(mlp([2, 2, 1], { seed: 3 }), path)).rejects.toThrow(/no such file \(ENOENT\)/);
    await saveModel(diverged(), path, {}, { allowNonFinite: true });
    const messages: string[] = [];
    const loaded = mlp([2, 2, 1], { seed: 3 });
    await loadModel(loaded, path, { onNonFinite: (m) => messages.push(m) });
    expect(messages).toEqual([`loadModel: ${path}: parameters '1.W' (NaN at element 0) are not finite; the model was saved from a diverged run`]);
    expect(Number.isNaN(loaded.parameters()['1.W'].data[0])).toBe(true);
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      await loadModel(mlp([2, 2, 1], { seed: 3 }), path);
      expect(warning).toHaveBeenCalledWith(messages[0], { code: 'TAPEGRAD_NON_FINITE' });
    } finally {
      warning.mockRestore();
    }
  });

  it('loadModel on a directory or a missing file: a ValueError naming the path and the reason', async () => {
    await expect(loadModel(mlp([2, 2, 1], { seed: 3 }), scratch)).rejects.toThrow(new ValueError('loadModel', `${scratch}: cannot read: is a directory, not a file (EISDIR)`));
    const missing = join(scratch, 'missing.safetensors');
    await expect(loadModel(mlp([2, 2, 1], { seed: 3 }), missing)).rejects.toThrow(new ValueError('loadModel', `${missing}: cannot read: no such file (ENOENT)`));
    writeFileSync(join(scratch, 'file'), 'x');
    await expect(saveModel(mlp([2, 2, 1], { seed: 3 }), join(scratch, 'file', 'model.safetensors'))).rejects.toThrow(/^saveModel: .*file\/model\.safetensors: cannot write: a part of the path is not a directory \(ENOTDIR\)$/);
  });
});
