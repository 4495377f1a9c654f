import { afterEach, describe, expect, it, vi } from 'vitest';
import { tensor } from '@tapegrad/core';
import * as nodeEntry from '@tapegrad/nn';
// the universal entry itself: what a browser bundle gets
import * as universal from '../src/index.js';
import { type BatchProgress, SGD, deserializeModel, fit, mlp, predict, serializeModel } from '../src/index.js';

const xor = () => ({
  x: tensor([[0, 0, 1, 1], [0, 1, 0, 1]], { dtype: 'float64' }),
  y: tensor([[0, 1, 1, 0]], { dtype: 'float64' }),
});

afterEach(() => vi.restoreAllMocks());

describe('the universal entry', () => {
  it('has no file helpers; Node\'s entry adds them and its own fit', () => {
    expect('saveModel' in universal).toBe(false);
    expect('loadModel' in universal).toBe(false);
    expect('writeFileAtomic' in universal).toBe(false);
    expect(typeof nodeEntry.saveModel).toBe('function');
    expect(nodeEntry.fit).not.toBe(universal.fit);
    expect(nodeEntry.mlp).toBe(universal.mlp);
  });

  it('serializeModel / deserializeModel: the model through bytes, with metadata', () => {
    const model = mlp([2, 3, 1], { hidden: 'tanh', seed: 1, dtype: 'float64' });
    const bytes = serializeModel(model, { note: 'xor' });
    expect(bytes).toBeInstanceOf(Uint8Array);
    // 8-byte length prefix, then the JSON header
    expect(new TextDecoder().decode(bytes.subarray(8, 9))).toBe('{');
    const copy = mlp([2, 3, 1], { hidden: 'tanh', seed: 7, dtype: 'float64' });
    expect(deserializeModel(copy, bytes)).toEqual({ note: 'xor' });
    expect(predict(copy, xor().x).toFlatArray()).toEqual(predict(model, xor().x).toFlatArray());
    const other = mlp([2, 4, 1], { seed: 1, dtype: 'float64' });
    expect(() => deserializeModel(other, bytes, { source: 'model.safetensors' })).toThrow(/deserializeModel: model.safetensors: tensor '0.W' has shape \[3,2\] but the model's is \[4,2\]/);
  });

  it('serializeModel refuses non-finite parameters unless allowed; deserializeModel warns through onNonFinite', () => {
    const model = mlp([2, 1], { seed: 1, dtype: 'float64' });
    model.parameters()['0.W'].data[1] = Number.NaN;
    expect(() => serializeModel(model)).toThrow(/serializeModel: parameters '0.W' \(NaN at element 1\) are not finite/);
    const bytes = serializeModel(model, undefined, { allowNonFinite: true });
    const messages: string[] = [];
    deserializeModel(mlp([2, 1], { seed: 2, dtype: 'float64' }), bytes, { onNonFinite: (m) => messages.push(m) });
    expect(messages).toEqual(["deserializeModel: parameters '0.W' (NaN at element 1) are not finite; the model was saved from a diverged run"]);
  });

  it('fit reports each step to onBatch; progress: true logs one console line per epoch', async () => {
    const seen: BatchProgress[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const model = mlp([2, 3, 1], { hidden: 'tanh', output: 'sigmoid', seed: 1, dtype: 'float64' });
    const history = await fit(model, xor(), { loss: 'bce', optimizer: new SGD({ lr: 0.5 }), epochs: 2, batchSize: 2, shuffle: false, progress: true, onBatch: (p) => seen.push(p) });
    expect(seen.map(({ epoch, batch, batches }) => [epoch, batch, batches])).toEqual([[1, 1, 2], [1, 2, 2], [2, 1, 2], [2, 2, 2]]);
    // the running mean after the epoch's last step is the epoch's loss
    expect(seen[1].loss).toBeCloseTo(history[0].loss, 12);
    expect(log.mock.calls.map((c) => String(c[0]).split('  ')[0])).toEqual(['epoch 1/2', 'epoch 2/2']);
  });
});
