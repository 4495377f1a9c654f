import { describe, expect, it } from 'vitest';
import { Tensor, ValueError, createRng, mean, relu, sum, tensor, Tape, type Tensor as T } from '@tapegrad/core';
import { type Module, type NamedParameters, Conv2d, Dense, Flatten, MaxPool2d, ReLU, cost, mlp, perExampleGradients, sequential } from '@tapegrad/nn';

function batch(inputs: number[], outputs: number, examples: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = createRng(seed);
  const x = new Float64Array(inputs[0] * examples).map(() => rng.normal());
  const y = new Float64Array(outputs * examples);
  for (let m = 0; m < examples; m++) y[Math.floor(rng.next() * outputs) * examples + m] = 1;
  return { x: new Tensor(x, [inputs[0], examples], 'float64'), y: new Tensor(y, [outputs, examples], 'float64') };
}

function expectClose(a: T, b: T, digits = 12): void {
  expect(a.shape).toEqual(b.shape);
  const scale = Math.max(1, ...Array.from(b.data, Math.abs));
  let worst = 0;
  for (let i = 0; i < a.size; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]) / scale);
  expect(worst).toBeLessThan(10 ** -digits);
}

describe('perExampleGradients', () => {
  it.each([['cce', 'softmax', [5, 4, 3]], ['bce', 'sigmoid', [3, 2, 1]], ['mse', 'sigmoid', [4, 6, 3, 2]]] as const)(
    'Dense layers, %s: the vectorised per-column outer products equal one backward pass per example, and their mean is the batch gradient',
    (loss, output, sizes) => {
      const model = mlp(sizes, { hidden: 'tanh', output, dtype: 'float64', seed: 3 });
      const { x, y } = batch([...sizes], sizes[sizes.length - 1], 6, 7);
      if (loss !== 'cce') y.assign(Array.from(y.data, (v, i) => (i % 3 === 0 ? 1 - v : v)));
      const fast = perExampleGradients(model, loss, x, y);
      const slow = perExampleGradients(model, loss, x, y, { method: 'loop' });
      expect(Object.keys(fast)).toEqual(Object.keys(model.parameters()));
      const tape = new Tape();
      const C = tape.record(() => {
        const trace = model.trace(x);
        return cost(loss, { ...trace.layers[trace.layers.length - 1], activation: output }, y);
      });
      const params = model.parameters();
      const batchGrads = tape.gradient(C, Object.values(params));
      Object.keys(params).forEach((name, k) => {
        expect(fast[name].shape).toEqual([6, ...params[name].shape]);
        expectClose(fast[name], slow[name]);
        expectClose(mean(fast[name], 0), batchGrads[k]);
      });
    },
  );

  it('a model that is not a stack of Dense layers takes the loop, with a loss function', () => {
    // a residual block: not Sequential, so no Zˡ/Aˡ trace to vectorise over
    const inner = new Dense(3, 3, { activation: 'tanh', dtype: 'float64', seed: 1 });
    const head = new Dense(3, 2, { dtype: 'float64', seed: 2 });
    const model: Module = {
      parameters: (): NamedParameters => ({ 'inner.W': inner.W, 'inner.b': inner.b, 'head.W': head.W, 'head.b': head.b }),
      forward: (x) => head.forward(relu(inner.forward(x).add(x))),
    };
    const { x, y } = batch([3], 2, 4, 9);
    const loss = (out: T, target: T) => mean(sum(out.sub(target).square(), 0));
    const grads = perExampleGradients(model, loss, x, y);
    expect(grads['inner.W'].shape).toEqual([4, 3, 3]);
    const tape = new Tape();
    const C = tape.record(() => loss(model.forward(x), y));
    expectClose(mean(grads['head.W'], 0), tape.gradient(C, head.W));
    expect(() => perExampleGradients(model, loss, x, y, { method: 'vectorised' })).toThrow(ValueError);
    expect(() => perExampleGradients(model, 'mse', x, y)).toThrow(/a loss name \('mse'\) needs a Sequential whose last layer is Dense/);
    expect(() => perExampleGradients(model, loss, x, tensor([[1, 2]], { dtype: 'float64' }))).toThrow(/same number of examples/);
  });

  it('a small CNN (Conv2d, ReLU, MaxPool2d, Conv2d, Flatten, Dense): the batched dK = δ·unfold(x)ᵀ equals the loop, by name, and averages to the batch gradient', () => {
    const model = sequential({
      conv1: new Conv2d(2, 3, 3, { padding: 1, dtype: 'float64', seed: 1 }),
      relu: new ReLU(),
      pool: new MaxPool2d(2),
      conv2: new Conv2d(3, 4, [2, 3], { stride: [1, 2], padding: [0, 1], dtype: 'float64', seed: 2 }),
      flat: new Flatten(),
      fc: new Dense(4 * 2 * 2, 3, { activation: 'softmax', dtype: 'float64', seed: 3 }),
    });
    const rng = createRng(11);
    const examples = 5;
    const x = new Tensor(new Float64Array(examples * 2 * 6 * 6).map(() => rng.normal()), [examples, 2, 6, 6], 'float64');
    const labels = new Float64Array(3 * examples);
    for (let m = 0; m < examples; m++) labels[(m % 3) * examples + m] = 1;
    const y = new Tensor(labels, [3, examples], 'float64');
    const fast = perExampleGradients(model, 'cce', x, y, { method: 'vectorised' });
    const slow = perExampleGradients(model, 'cce', x, y, { method: 'loop' });
    const params = model.parameters();
    expect(Object.keys(fast).sort()).toEqual(Object.keys(params).sort());
    expect(fast['conv2.W'].shape).toEqual([examples, 4, 3, 2, 3]);
    expect(fast['conv1.b'].shape).toEqual([examples, 3]);
    const tape = new Tape();
    const C = tape.record(() => {
      const z = (model.layers.slice(0, 5) as Module[]).reduce((a, layer) => layer.forward(a), x);
      return cost('cce', { ...(model.layers[5] as Dense).trace(z), activation: 'softmax' }, y);
    });
    const batchGrads = tape.gradient(C, Object.values(params));
    Object.keys(params).forEach((name, k) => {
      expectClose(fast[name], slow[name]);
      expectClose(mean(fast[name], 0), batchGrads[k]);
    });
    // a grouped convolution has no batched rule here: 'auto' takes the loop, 'vectorised' refuses
    const grouped = sequential(new Conv2d(2, 2, 1, { groups: 2, dtype: 'float64', seed: 4 }), new Flatten(), new Dense(72, 3, { activation: 'softmax', dtype: 'float64', seed: 5 }));
    expect(perExampleGradients(grouped, 'cce', x, y)['0.W'].shape).toEqual([examples, 2, 1, 1, 1]);
    expect(() => perExampleGradients(grouped, 'cce', x, y, { method: 'vectorised' })).toThrow(/Conv2d \(groups 1\)/);
  });
});
