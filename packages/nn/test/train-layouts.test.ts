import { type Tensor, Tape, createRng, mul, reshape, sum, tensor } from '@tapegrad/core';
import {
  type Module, Adam, Conv2d, Dense, Embedding, Flatten, MaxPool2d, ReLU, SGD, accuracy, categoricalCrossEntropyFromLogits, evaluate, fit, predict, sequential,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

/**
 * 2 classes of 8×8 one-channel images, `[N, 1, 8, 8]`: class 0 has a bright left half,
 * class 1 a bright right half, both with uniform noise in [0, 0.3). Targets one-hot `[2, N]`.
 */
function halves(examples: number, seed: number): { x: Tensor; y: Tensor; labels: number[] } {
  const rng = createRng(seed);
  const pixels = new Float64Array(examples * 64);
  const targets = new Float64Array(2 * examples);
  const labels: number[] = [];
  for (let n = 0; n < examples; n++) {
    const label = n % 2;
    labels.push(label);
    targets[label * examples + n] = 1;
    for (let h = 0; h < 8; h++) {
      for (let w = 0; w < 8; w++) {
        const bright = (w < 4) === (label === 0);
        pixels[n * 64 + h * 8 + w] = (bright ? 1 : 0) + 0.3 * rng.next();
      }
    }
  }
  return { x: tensor(pixels, { shape: [examples, 1, 8, 8], dtype: 'float64' }), y: tensor(targets, { shape: [2, examples], dtype: 'float64' }), labels };
}

function smallCnn(): ReturnType<typeof sequential> {
  return sequential(
    new Conv2d(1, 4, 3, { padding: 1, seed: 1, dtype: 'float64' }), // [N, 1, 8, 8] → [N, 4, 8, 8]
    new ReLU(),
    new MaxPool2d(2), // → [N, 4, 4, 4]
    new Flatten(), // → [64, N]
    new Dense(64, 2, { activation: 'softmax', seed: 2, dtype: 'float64' }), // → [2, N]
  );
}

function argmaxColumns(t: Tensor): number[] {
  const [rows, columns] = t.shape;
  return Array.from({ length: columns }, (_, m) => {
    let best = 0;
    for (let r = 1; r < rows; r++) if (t.data[r * columns + m] > t.data[best * columns + m]) best = r;
    return best;
  });
}

describe('fit, evaluate and predict on [N, …] inputs', () => {
  it('trains a CNN (Conv2d → ReLU → MaxPool2d → Flatten → Dense) to 100 % on bright-left vs bright-right images', async () => {
    const train = halves(24, 7);
    const model = smallCnn();
    const history = await fit(model, train, { loss: 'cce', optimizer: new Adam({ lr: 0.05 }), epochs: 15, batchSize: 8, metrics: ['accuracy'] });
    expect(history).toHaveLength(15);
    expect(history[14].metrics.accuracy).toBe(1);
    expect(history[14].loss).toBeLessThan(history[0].loss / 4);

    const probabilities = predict(model, train.x, { batchSize: 5 });
    expect(probabilities.shape).toEqual([2, 24]);
    expect(argmaxColumns(probabilities)).toEqual(train.labels);
    // batches only bound memory: one pass over all 24 gives the same columns
    const whole = predict(model, train.x, { batchSize: 'full' }).toFlatArray();
    probabilities.toFlatArray().forEach((p, i) => expect(p).toBeCloseTo(whole[i], 12));

    const result = evaluate(model, train, { loss: 'cce', metrics: ['accuracy'], batchSize: 10 });
    expect(result.metrics.accuracy).toBe(1);
    // the mean cost is the from-logits cross-entropy of the whole set, batch boundaries aside
    const logits = new Tape().record(() => {
      let a: Tensor = train.x;
      for (const layer of model.layers.slice(0, -1)) a = layer.forward(a);
      return (model.layers[4] as Dense).trace(a).z;
    });
    expect(result.loss).toBeCloseTo(categoricalCrossEntropyFromLogits(logits, train.y).item(), 12);
    expect(accuracy(probabilities, train.y)).toBe(1);

    // a held-out set drawn with another seed
    const test = halves(10, 99);
    expect(evaluate(model, test, { metrics: ['accuracy'] }).metrics.accuracy).toBe(1);
  });

  it('visits examples in the same seeded order whether they are columns or rows', async () => {
    const examples = 11;
    const ids = Array.from({ length: examples }, (_, i) => i);
    /** Records the example ids of each batch it sees, whatever their layout. */
    const recorder = (): Module & { seen: number[][] } => {
      const w = tensor([1], { dtype: 'float64' });
      return {
        seen: [],
        parameters: () => ({ w }),
        forward(x: Tensor) {
          this.seen.push(x.toFlatArray());
          return mul(reshape(x, [1, x.size]), w);
        },
      };
    };
    const y = tensor([ids.map(() => 0)], { dtype: 'float64' });
    const asColumns = recorder();
    const asRows = recorder();
    const options = { loss: 'mse' as const, optimizer: new SGD({ lr: 1e-9 }), epochs: 3, batchSize: 4, seed: 5 };
    await fit(asColumns, { x: tensor([ids], { dtype: 'float64' }), y }, options);
    await fit(asRows, { x: tensor(ids, { shape: [examples, 1, 1], dtype: 'float64' }), y }, options);
    expect(asRows.seen).toEqual(asColumns.seen);
    expect(asRows.seen).toHaveLength(9); // 3 epochs × ⌈11/4⌉ batches
    expect(asRows.seen[0]).not.toEqual([0, 1, 2, 3]); // shuffled
    // and the same order on ids [N, T] declared as rows
    const asIdRows = recorder();
    await fit(asIdRows, { x: tensor(ids, { shape: [examples, 1], dtype: 'float64' }), y }, { ...options, layout: 'rows' });
    expect(asIdRows.seen).toEqual(asColumns.seen);
  });

  it('trains Embedding on [N, T] token ids with layout: rows', async () => {
    // class 1 iff the first token is 2 or 3 (ids in 0..3, T = 3)
    const rng = createRng(3);
    const examples = 16;
    const tokens = Array.from({ length: examples * 3 }, (_, i) => (i % 3 === 0 ? Math.floor(i / 3) % 4 : Math.floor(rng.next() * 4)));
    const x = tensor(tokens, { shape: [examples, 3], dtype: 'float64' });
    const y = tensor([0, 1].map((c) => Array.from({ length: examples }, (_, n) => ((tokens[3 * n] >= 2 ? 1 : 0) === c ? 1 : 0))), { dtype: 'float64' });
    const model = sequential(new Embedding(4, 2, { seed: 1, dtype: 'float64' }), new Flatten(), new Dense(6, 2, { activation: 'softmax', seed: 2, dtype: 'float64' }));
    const history = await fit(model, { x, y }, { loss: 'cce', optimizer: new Adam({ lr: 0.1 }), epochs: 30, batchSize: 4, metrics: ['accuracy'], layout: 'rows' });
    expect(history[29].metrics.accuracy).toBe(1);
    expect(evaluate(model, { x, y }, { metrics: ['accuracy'], layout: 'rows' }).metrics.accuracy).toBe(1);
    expect(predict(model, x, { layout: 'rows' }).shape).toEqual([2, examples]);
  });

  it('keeps outputs and targets of other ranks on axis 0 (a loss of your own)', async () => {
    // a [N, 2] → [N] model: y [N] has its examples on axis 0, as the output does
    const w = tensor([[0.5], [-0.5]], { dtype: 'float64' });
    const model: Module = { parameters: () => ({ w }), forward: (x: Tensor) => reshape(x.matmul(w), [x.shape[0]]) };
    const x = tensor([[1, 0], [0, 1], [1, 1], [2, 1], [1, 2], [0, 0], [3, 1]], { dtype: 'float64' });
    const y = tensor([2, -1, 1, 3, 0, 0, 5], { dtype: 'float64' }); // 2·x₀ − x₁
    const squared = (yHat: Tensor, target: Tensor) => mul(sum(mul(yHat.sub(target), yHat.sub(target))), 1 / target.shape[0]);
    const mae = (yHat: Tensor, target: Tensor) => yHat.toFlatArray().reduce((s, v, i) => s + Math.abs(v - target.data[i]), 0) / target.size;
    const history = await fit(model, { x, y }, { loss: squared, optimizer: new SGD({ lr: 0.05 }), epochs: 200, batchSize: 3, metrics: { mae }, layout: 'rows' });
    expect(history[199].metrics.mae).toBeLessThan(1e-3);
    expect(w.toFlatArray()[0]).toBeCloseTo(2, 3);
    expect(w.toFlatArray()[1]).toBeCloseTo(-1, 3);
    expect(predict(model, x, { layout: 'rows', batchSize: 2 }).shape).toEqual([7]);
  });

  it('names the shapes when x and y disagree, and refuses what it cannot place', async () => {
    const { x, y } = halves(6, 1);
    const model = smallCnn();
    const options = { loss: 'cce' as const, optimizer: new SGD({ lr: 0.1 }), epochs: 1 };
    await expect(fit(model, { x, y: tensor([[1, 0, 1], [0, 1, 0]]) }, options)).rejects.toThrow(/data: x has 6 examples \(on axis 0\) but y has 3 \(columns\); shapes \[6,1,8,8\] and \[2,3\]/);
    await expect(fit(model, { x, y }, { ...options, validation: { x: halves(4, 2).x, y } })).rejects.toThrow(/validation: x has 4 examples .* y has 6/);
    expect(() => evaluate(model, { x: tensor([1, 2, 3]), y: tensor([1, 2, 3]) }, { metrics: ['accuracy'] })).toThrow(/data: x must be a \[features, N\] tensor .* got \[3\]; pass layout: 'rows'/);
    expect(() => predict(model, x, { layout: 'columns' })).toThrow(/layout 'columns' needs x of shape \[features, N\], got \[6,1,8,8\]/);
    const poisoned = x.toFlatArray();
    poisoned[2 * 64 + 9] = NaN;
    await expect(fit(model, { x: tensor(poisoned, { shape: [6, 1, 8, 8] }), y }, options)).rejects.toThrow(/x has NaN at example 2, feature 9/);
  });
});
