import { type Tensor, ValueError, randn, tensor } from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';
import { Adam, BatchNorm1d, Dense, Dropout, type Module, evaluate, fit, predict, sequential, setTrainingMode } from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

describe('Dropout', () => {
  it('drops about p of the elements in training and scales the survivors by 1/(1 − p)', () => {
    const layer = new Dropout(0.25, { seed: 1 });
    const out = layer.forward(tensor(new Array(4000).fill(2), { dtype: 'float64' })).toFlatArray();
    const dropped = out.filter((v) => v === 0).length;
    expect(dropped / 4000).toBeGreaterThan(0.22);
    expect(dropped / 4000).toBeLessThan(0.28);
    expect(new Set(out.filter((v) => v !== 0))).toEqual(new Set([2 / 0.75]));
  });

  it('draws a fresh mask at every training pass, reproducibly from its seed', () => {
    const x = tensor(new Array(64).fill(1));
    const a = new Dropout(0.5, { seed: 7 });
    const b = new Dropout(0.5, { seed: 7 });
    const first = a.forward(x).toFlatArray();
    const second = a.forward(x).toFlatArray();
    expect(second).not.toEqual(first);
    expect(b.forward(x).toFlatArray()).toEqual(first);
    expect(b.forward(x).toFlatArray()).toEqual(second);
  });

  it('is the identity in evaluation mode, and back to dropping after train()', () => {
    const layer = new Dropout(0.5, { seed: 2 });
    const x = randn([3, 5], { seed: 3 });
    expect(layer.eval().training).toBe(false);
    expect(layer.forward(x)).toBe(x);
    expect(layer.train().forward(x).toFlatArray()).toContain(0);
  });

  it('has exact gradients in training mode (order 2, float64; a fixed mask)', () => {
    const x = randn([4, 3], { seed: 4, dtype: 'float64' });
    expect(gradcheck((t) => new Dropout(0.4, { seed: 5 }).forward(t), [x], { order: 2 }).ok).toBe(true);
  });

  it('refuses a p outside [0, 1] and unseeded randomness', () => {
    expect(() => new Dropout(1.5, { seed: 1 })).toThrow('Dropout: p must be a probability in [0, 1], got 1.5');
    expect(() => new Dropout(0.5)).toThrow(ValueError);
    expect(new Dropout(0).forward(tensor([1, 2])).toFlatArray()).toEqual([1, 2]);
    expect(new Dropout(1).forward(tensor([1, 2])).toFlatArray()).toEqual([0, 0]);
  });
});

/** A layer that records the mode it ran in. */
class ModeSpy implements Module {
  training = true;
  seen: boolean[] = [];
  train(mode = true): this { this.training = mode; return this; }
  eval(): this { return this.train(false); }
  parameters() { return {}; }
  forward(x: Tensor): Tensor { this.seen.push(this.training); return x; }
}

describe('training and evaluation modes', () => {
  it('train() and eval() on a Sequential reach every layer', () => {
    const drop = new Dropout(0.5, { seed: 1 });
    const model = sequential(new Dense(2, 2, { seed: 1 }), drop);
    expect(model.training).toBe(true);
    model.eval();
    expect([model.training, drop.training]).toEqual([false, false]);
    model.train();
    expect([model.training, drop.training]).toEqual([true, true]);
    // a module without train() behaves the same in both modes: setTrainingMode leaves it be
    const plain: Module = { parameters: () => ({}), forward: (x) => x };
    expect(setTrainingMode(plain, false)).toBe(true);
  });

  it('fit trains in training mode and validates in evaluation mode; evaluate and predict run in evaluation mode; the mode comes back', async () => {
    const spy = new ModeSpy();
    const model = sequential(new Dense(2, 1, { seed: 1, dtype: 'float64' }), spy);
    const data = { x: tensor([[0, 1, 0, 1], [0, 0, 1, 1]], { dtype: 'float64' }), y: tensor([[0, 1, 1, 1]], { dtype: 'float64' }) };
    model.eval();
    await fit(model, data, { loss: 'mse', optimizer: new Adam({ lr: 0.01 }), epochs: 2, batchSize: 'full', validation: data });
    // per epoch: one training step, then one validation pass
    expect(spy.seen).toEqual([true, false, true, false]);
    expect(model.training).toBe(false);
    model.train();
    spy.seen = [];
    evaluate(model, data, { loss: 'mse' });
    predict(model, data.x);
    expect(spy.seen).toEqual([false, false]);
    expect(model.training).toBe(true);
  });

  it('a Sequential with Dropout trains with fit (the loss falls) and predicts deterministically', async () => {
    const x = randn([2, 64], { seed: 6, dtype: 'float64' });
    const y = tensor([Array.from({ length: 64 }, (_, n) => (x.data[n] * x.data[64 + n] > 0 ? 1 : 0))], { dtype: 'float64' });
    const model = sequential(
      new Dense(2, 16, { activation: 'relu', seed: 7, dtype: 'float64' }),
      new Dropout(0.1, { seed: 8 }),
      new Dense(16, 1, { activation: 'sigmoid', seed: 9, dtype: 'float64' }),
    );
    const history = await fit(model, { x, y }, { loss: 'bce', optimizer: new Adam({ lr: 0.05 }), epochs: 40, batchSize: 16 });
    expect(history.at(-1)!.loss).toBeLessThan(0.7 * history[0].loss);
    expect(predict(model, x).toFlatArray()).toEqual(predict(model, x).toFlatArray());
  });

  it('fit moves BatchNorm1d\'s running statistics (inside its tidy steps); evaluate and predict leave them be', async () => {
    const x = randn([2, 32], { seed: 10, dtype: 'float64' });
    const y = tensor([Array.from({ length: 32 }, (_, n) => (x.data[n] + x.data[32 + n] > 0 ? 1 : 0))], { dtype: 'float64' });
    const bn = new BatchNorm1d(4, { dtype: 'float64' });
    const model = sequential(new Dense(2, 4, { seed: 11, dtype: 'float64' }), bn, new Dense(4, 1, { activation: 'sigmoid', seed: 12, dtype: 'float64' }));
    const history = await fit(model, { x, y }, { loss: 'bce', optimizer: new Adam({ lr: 0.05 }), epochs: 20, batchSize: 8 });
    expect(history.at(-1)!.loss).toBeLessThan(history[0].loss);
    const running = bn.runningMean.toFlatArray();
    expect(running.every(Number.isFinite)).toBe(true);
    expect(running).not.toEqual([0, 0, 0, 0]);
    evaluate(model, { x, y }, { loss: 'bce' });
    predict(model, x);
    expect(bn.runningMean.toFlatArray()).toEqual(running);
    // one example at a time works in evaluation mode, with the running statistics
    expect(predict(model, x, { batchSize: 1 }).toFlatArray()).toEqual(predict(model, x).toFlatArray().map((v) => expect.closeTo(v, 12)));
  });
});
