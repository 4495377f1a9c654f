import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Tensor, ShapeError, Tape, ValueError, matmul, randn, reshape, softmax, tensor, tidy, transpose,
} from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';
import {
  Adam, BatchNorm1d, BatchNorm2d, Conv2d, Dense, Embedding, Flatten, LayerNorm, Linear, MaxPool2d, type Module,
  GELU, MultiHeadAttention, ReLU, Residual, SGD, categoricalCrossEntropyFromLogits, loadModel, residual, saveModel, sequential,
} from '@tapegrad/nn';
import { afterAll, describe, expect, it } from 'vitest';

function withParameters(layer: Module, names: readonly string[]): (x: Tensor, ...ps: Tensor[]) => Tensor {
  return (x, ...ps) => {
    const clone = Object.create(layer) as Module;
    names.forEach((name, i) => Object.defineProperty(clone, name, { value: ps[i] }));
    return clone.forward(x);
  };
}

function close(actual: readonly number[], expected: readonly number[], digits = 9): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(expected[i], digits));
}

const scratch = mkdtempSync(join(tmpdir(), 'tapegrad-layers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('BatchNorm2d and BatchNorm1d', () => {
  it('normalise by batch statistics in training and move the running ones by momentum 0.1', () => {
    const bn = new BatchNorm2d(2, { dtype: 'float64' });
    // channel 0 holds 1, 2, 3, 4 (mean 2.5, biased variance 1.25, unbiased 5/3); channel 1 holds 10 four times
    const x = reshape(tensor([1, 2, 10, 10, 3, 4, 10, 10], { dtype: 'float64' }), [2, 2, 1, 2]);
    const y = bn.forward(x).toFlatArray();
    const s = Math.sqrt(1.25 + 1e-5);
    close(y, [-1.5 / s, -0.5 / s, 0, 0, 0.5 / s, 1.5 / s, 0, 0]);
    close(bn.runningMean.toFlatArray(), [0.25, 1]);
    close(bn.runningVar.toFlatArray(), [0.9 + 0.1 * 5 / 3, 0.9]);
    // evaluation: the running statistics, whatever the batch
    bn.eval();
    close(bn.forward(x).toFlatArray().slice(0, 2), [(1 - 0.25) / Math.sqrt(0.9 + 0.5 / 3 + 1e-5), (2 - 0.25) / Math.sqrt(0.9 + 0.5 / 3 + 1e-5)]);
    expect(bn.runningMean.toFlatArray()).toEqual([0.25, 1]);
    expect(Object.keys(bn.parameters())).toEqual(['gamma', 'beta']);
    expect(Object.keys(bn.buffers())).toEqual(['runningMean', 'runningVar']);
  });

  it('BatchNorm1d takes Dense\'s [features, N] and normalises each row over the batch', () => {
    const bn = new BatchNorm1d(2, { dtype: 'float64' });
    const y = bn.forward(tensor([[1, 3], [5, 5]], { dtype: 'float64' }));
    const s = Math.sqrt(1 + 1e-5);
    close(y.toFlatArray(), [-1 / s, 1 / s, 0, 0]);
    expect(() => bn.forward(tensor([[1, 2]], { dtype: 'float64' }))).toThrow("BatchNorm1d: expects [2, N] (features × examples, Dense's layout), got [1,2]");
    expect(() => bn.forward(tensor([[1], [2]], { dtype: 'float64' }))).toThrow(ValueError);
    expect(() => new BatchNorm2d(3).forward(randn([2, 2, 3, 3], { seed: 1 }))).toThrow('BatchNorm2d: expects images [N, 3, H, W], got [2,2,3,3]');
  });

  it('have exact gradients in x, γ and β, in training and in evaluation (order 2, float64)', () => {
    const bn = new BatchNorm2d(2, { dtype: 'float64' });
    const x = randn([3, 2, 2, 2], { seed: 2, dtype: 'float64' });
    const gamma = randn([2], { seed: 3, dtype: 'float64' });
    const beta = randn([2], { seed: 4, dtype: 'float64' });
    expect(gradcheck(withParameters(bn, ['gamma', 'beta']), [x, gamma, beta], { order: 2 }).ok).toBe(true);
    bn.eval();
    expect(gradcheck(withParameters(bn, ['gamma', 'beta']), [x, gamma, beta], { order: 2 }).ok).toBe(true);
    const bn1 = new BatchNorm1d(3, { dtype: 'float64' });
    const features = [randn([3, 4], { seed: 5, dtype: 'float64' }), randn([3], { seed: 6, dtype: 'float64' }), randn([3], { seed: 7, dtype: 'float64' })];
    expect(gradcheck(withParameters(bn1, ['gamma', 'beta']), features, { order: 2 }).ok).toBe(true);
  });
});

describe('LayerNorm', () => {
  it('normalises each example over its trailing axes, the same in both modes', () => {
    const ln = new LayerNorm(4, { dtype: 'float64' });
    const y = ln.forward(tensor([[[1, 2, 3, 4], [2, 2, 2, 2]]], { dtype: 'float64' }));
    const s = Math.sqrt(1.25 + 1e-5);
    close(y.toFlatArray(), [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, 0, 0, 0, 0]);
    expect(new LayerNorm([2, 3]).gamma!.shape).toEqual([2, 3]);
    expect(() => ln.forward(randn([2, 3], { seed: 1, dtype: 'float64' }))).toThrow('LayerNorm: expects input ending in [4], got [2,3]');
  });

  it('has exact gradients in x, γ and β (order 2, float64)', () => {
    const ln = new LayerNorm([2, 3], { dtype: 'float64' });
    const x = randn([2, 2, 3], { seed: 6, dtype: 'float64' });
    const gamma = randn([2, 3], { seed: 7, dtype: 'float64' });
    const beta = randn([2, 3], { seed: 8, dtype: 'float64' });
    expect(gradcheck(withParameters(ln, ['gamma', 'beta']), [x, gamma, beta], { order: 2 }).ok).toBe(true);
  });
});

describe('Embedding and Linear', () => {
  it('Embedding maps ids [N, T] to rows of W: [N, T, dim]', () => {
    const emb = new Embedding(3, 2, { init: { constant: 0 }, dtype: 'float64' });
    emb.W.assign([0, 1, 10, 11, 20, 21]);
    const out = emb.forward(tensor([[2, 0, 2]]));
    expect(out.shape).toEqual([1, 3, 2]);
    expect(out.toFlatArray()).toEqual([20, 21, 0, 1, 20, 21]);
    expect(emb.lookup([1]).toFlatArray()).toEqual([10, 11]);
    expect(() => emb.forward(tensor([[3]]))).toThrow(ValueError);
  });

  it('Embedding has exact gradients in W, repeated ids accumulating (order 2, float64)', () => {
    const emb = new Embedding(4, 3, { seed: 1, dtype: 'float64' });
    const ids = tensor([[1, 3, 1], [0, 1, 1]]);
    expect(gradcheck((w) => withParameters(emb, ['W'])(ids, w), [emb.W], { order: 2 }).ok).toBe(true);
  });

  it('Linear is x·Wᵀ + b over the last axis, W [out, in], the transpose of Dense\'s layout', () => {
    const linear = new Linear(3, 2, { seed: 1, dtype: 'float64' });
    const dense = new Dense(3, 2, { dtype: 'float64', init: { constant: 0 } });
    dense.W.assign(linear.W);
    const x = randn([4, 3], { seed: 2, dtype: 'float64' });
    close(linear.forward(x).toFlatArray(), transpose(dense.forward(transpose(x)), [1, 0]).toFlatArray(), 12);
    expect(linear.forward(randn([2, 5, 3], { seed: 3, dtype: 'float64' })).shape).toEqual([2, 5, 2]);
    expect(() => linear.forward(randn([2, 4], { seed: 3 }))).toThrow('Linear: expects input [..., 3] (features last), got [2,4]');
    expect(gradcheck(withParameters(linear, ['W', 'b']), [randn([2, 2, 3], { seed: 4, dtype: 'float64' }), linear.W, randn([2], { seed: 5, dtype: 'float64' })], { order: 2 }).ok).toBe(true);
  });
});

describe('MultiHeadAttention', () => {
  it('with one head and no biases is softmax(Q·Kᵀ/√d)·V projected by Wo', () => {
    const mha = new MultiHeadAttention(3, 1, { bias: false, seed: 1, dtype: 'float64' });
    const x = randn([1, 4, 3], { seed: 2, dtype: 'float64' });
    const x2 = reshape(x, [4, 3]);
    const [q, k, v] = [mha.Wq, mha.Wk, mha.Wv].map((w) => matmul(x2, transpose(w)));
    const expected = matmul(matmul(softmax(matmul(q, transpose(k)).mul(1 / Math.sqrt(3)), -1), v), transpose(mha.Wo));
    close(mha.forward(x).toFlatArray(), expected.toFlatArray(), 12);
    expect(Object.keys(new MultiHeadAttention(4, 2, { seed: 1 }).parameters())).toEqual(['Wq', 'Wk', 'Wv', 'Wo', 'bq', 'bk', 'bv', 'bo']);
  });

  it('is causal when asked: an output never depends on later positions', () => {
    const mha = new MultiHeadAttention(4, 2, { causal: true, seed: 3, dtype: 'float64' });
    const x = randn([2, 5, 4], { seed: 4, dtype: 'float64' });
    const changed = tensor(x.toFlatArray().map((v, i) => (Math.floor(i / 4) % 5 === 4 ? v + 1 : v)), { shape: [2, 5, 4], dtype: 'float64' });
    const [a, b] = [mha.forward(x).toArray() as number[][][], mha.forward(changed).toArray() as number[][][]];
    for (let n = 0; n < 2; n++) {
      for (let t = 0; t < 4; t++) expect(b[n][t]).toEqual(a[n][t]);
      expect(b[n][4]).not.toEqual(a[n][4]);
    }
    const open = new MultiHeadAttention(4, 2, { seed: 3, dtype: 'float64' });
    expect((open.forward(changed).toArray() as number[][][])[0][0]).not.toEqual((open.forward(x).toArray() as number[][][])[0][0]);
  });

  it('has exact gradients in x and every projection (order 2, float64)', () => {
    const mha = new MultiHeadAttention(4, 2, { causal: true, seed: 5, dtype: 'float64' });
    const names = ['Wq', 'Wk', 'Wv', 'Wo', 'bq', 'bo'];
    const params = mha.parameters();
    const inputs = [randn([1, 3, 4], { seed: 6, dtype: 'float64' }), ...names.map((n, i) => (n.startsWith('b') ? randn([4], { seed: 7 + i, dtype: 'float64' }) : params[n]))];
    expect(gradcheck(withParameters(mha, names), inputs, { order: 2 }).ok).toBe(true);
  });

  it('keeps its cached causal mask alive across tidy() scopes (a second training step reuses it)', () => {
    const mha = new MultiHeadAttention(4, 2, { causal: true, seed: 3, dtype: 'float64' });
    const x = randn([2, 5, 4], { seed: 4, dtype: 'float64' });
    const first = tidy(() => mha.forward(x).toFlatArray());
    const second = tidy(() => mha.forward(x).toFlatArray());
    expect(second).toEqual(first);
    expect(mha.forward(x).toFlatArray()).toEqual(first);
  });

  it('refuses a dim that heads do not divide and input that is not [N, T, dim]', () => {
    expect(() => new MultiHeadAttention(6, 4, { seed: 1 })).toThrow('MultiHeadAttention: dim 6 is not divisible by heads 4');
    expect(() => new MultiHeadAttention(4, 2, { seed: 1 }).forward(randn([3, 4], { seed: 1 }))).toThrow('MultiHeadAttention: expects sequences [N, T, 4] (examples, positions, features), got [3,4]');
  });
});

describe('Residual', () => {
  it('computes x + body(x), passes modes and names through, and refuses a shape change', () => {
    const body = sequential(new Linear(3, 3, { seed: 1, dtype: 'float64' }), new BatchNorm1d(3, { dtype: 'float64' }));
    const block = residual(body);
    expect(Object.keys(block.parameters())).toEqual(['0.W', '0.b', '1.gamma', '1.beta']);
    expect(Object.keys(block.buffers())).toEqual(['1.runningMean', '1.runningVar']);
    block.eval();
    expect((body.layers[1] as BatchNorm1d).training).toBe(false);
    const lin = new Linear(2, 2, { seed: 2, dtype: 'float64' });
    const x = randn([3, 2], { seed: 3, dtype: 'float64' });
    close(new Residual(lin).forward(x).toFlatArray(), x.toFlatArray().map((v, i) => v + lin.forward(x).data[i]), 12);
    expect(() => residual(new Linear(2, 3, { seed: 1 })).forward(randn([1, 2], { seed: 1 }))).toThrow('Residual: the body maps [1,2] to [1,3]; x + body(x) needs the same shape');
    expect(gradcheck((t) => new Residual(lin).forward(t), [x], { order: 2 }).ok).toBe(true);
  });
});

describe('models of these layers train, and save and load with their buffers', () => {
  it('a CNN with BatchNorm2d and BatchNorm1d trains a few steps', () => {
    const model = sequential(
      new Conv2d(1, 4, 3, { padding: 1, seed: 1, dtype: 'float64' }), new BatchNorm2d(4, { dtype: 'float64' }), new ReLU(), new MaxPool2d(2),
      new Flatten(), new BatchNorm1d(16, { dtype: 'float64' }), new Dense(16, 3, { seed: 2, dtype: 'float64' }),
    );
    const x = randn([9, 1, 4, 4], { seed: 3, dtype: 'float64' });
    const y = tensor(Array.from({ length: 3 }, (_, c) => Array.from({ length: 9 }, (_, n) => (n % 3 === c ? 1 : 0))), { dtype: 'float64' });
    const params = Object.values(model.parameters());
    const sgd = new SGD({ lr: 0.1 });
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) {
      const tape = new Tape();
      const loss = tape.record(() => categoricalCrossEntropyFromLogits(model.forward(x), y));
      losses.push(loss.item());
      sgd.step(params, tape.gradient(loss, params));
    }
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]);
  });

  it('a tiny transformer block (Embedding, causal attention, LayerNorm, GELU MLP, residuals) trains with Adam', () => {
    const [V, D, T] = [3, 8, 4];
    const emb = new Embedding(V, D, { seed: 1, dtype: 'float64' });
    const block = sequential(
      residual(sequential(new LayerNorm(D, { dtype: 'float64' }), new MultiHeadAttention(D, 2, { causal: true, seed: 2, dtype: 'float64' }))),
      residual(sequential(new LayerNorm(D, { dtype: 'float64' }), new Linear(D, 16, { seed: 3, dtype: 'float64' }), new GELU(), new Linear(16, D, { seed: 4, dtype: 'float64' }))),
      new LayerNorm(D, { dtype: 'float64' }), new Linear(D, V, { seed: 5, dtype: 'float64' }),
    );
    // the task: repeat the previous token (position 0 repeats itself)
    const ids = [[0, 1, 2, 0], [2, 2, 1, 0], [1, 0, 1, 2]];
    const targets = ids.flatMap((row) => row.map((_, t) => row[Math.max(0, t - 1)]));
    const y = tensor(Array.from({ length: V }, (_, c) => targets.map((k) => (k === c ? 1 : 0))), { dtype: 'float64' });
    const params = [...Object.values(emb.parameters()), ...Object.values(block.parameters())];
    const adam = new Adam({ lr: 0.02 });
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      const tape = new Tape();
      const loss = tape.record(() => {
        const logits = block.forward(emb.forward(tensor(ids)));             // [N, T, V]
        return categoricalCrossEntropyFromLogits(transpose(reshape(logits, [ids.length * T, V]), [1, 0]), y);
      });
      losses.push(loss.item());
      adam.step(params, tape.gradient(loss, params));
    }
    expect(losses.at(-1)!).toBeLessThan(0.3 * losses[0]);
  });

  it('saveModel writes parameters and running statistics; loadModel restores them, and refuses another architecture naming the tensor', async () => {
    const build = () => sequential(new Conv2d(1, 2, 3, { seed: 1, dtype: 'float64' }), new BatchNorm2d(2, { dtype: 'float64' }), new LayerNorm([2, 1, 1], { dtype: 'float64' }));
    const model = build();
    model.forward(randn([4, 1, 3, 3], { seed: 2, dtype: 'float64' }));
    const path = join(scratch, 'cnn.safetensors');
    await saveModel(model, path);
    const fresh = build();
    expect(fresh.buffers()['1.runningMean'].toFlatArray()).toEqual([0, 0]);
    await loadModel(fresh, path);
    for (const [name, t] of Object.entries({ ...model.parameters(), ...model.buffers() })) {
      expect(({ ...fresh.parameters(), ...fresh.buffers() })[name].toFlatArray(), name).toEqual(t.toFlatArray());
    }
    const noAffine = sequential(new Conv2d(1, 2, 3, { seed: 1, dtype: 'float64' }), new BatchNorm2d(2, { affine: false, dtype: 'float64' }), new LayerNorm([2, 1, 1], { dtype: 'float64' }));
    await expect(loadModel(noAffine, path)).rejects.toThrow(/unexpected '1\.gamma', '1\.beta'/);
    const wider = sequential(new Conv2d(1, 2, 3, { seed: 1, dtype: 'float64' }), new BatchNorm2d(2, { dtype: 'float64' }), new LayerNorm([2, 1, 2], { dtype: 'float64' }));
    await expect(loadModel(wider, path)).rejects.toThrow(ShapeError);
    await expect(loadModel(wider, path)).rejects.toThrow("tensor '2.gamma' has shape [2,1,1] but the model's is [2,1,2]");
  });
});
