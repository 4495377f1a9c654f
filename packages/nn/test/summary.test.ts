import { ValueError } from '@tapegrad/core';
import {
  BatchNorm2d, Conv2d, Dense, Embedding, Flatten, LayerNorm, Linear, MaxPool2d, MultiHeadAttention, ReLU, Sequential, residual, sequential,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

function lenet(): Sequential {
  return sequential({
    conv1: new Conv2d(1, 6, 5, { padding: 2, seed: 1 }), bn1: new BatchNorm2d(6), relu1: new ReLU(), pool1: new MaxPool2d(2),
    conv2: new Conv2d(6, 16, 5, { seed: 2 }), relu2: new ReLU(), pool2: new MaxPool2d(2),
    flatten: new Flatten(), fc1: new Dense(400, 120, { activation: 'relu', seed: 3 }), fc2: new Dense(120, 10, { seed: 4 }),
  });
}

describe('named layers', () => {
  it('name parameters and buffers by key, and nested models compose the names', () => {
    const model = lenet();
    expect(Object.keys(model.parameters())).toEqual(['conv1.W', 'conv1.b', 'bn1.gamma', 'bn1.beta', 'conv2.W', 'conv2.b', 'fc1.W', 'fc1.b', 'fc2.W', 'fc2.b']);
    expect(Object.keys(model.buffers())).toEqual(['bn1.runningMean', 'bn1.runningVar']);
    const gpt = sequential({
      embed: new Embedding(3, 4, { seed: 1 }),
      block2: residual(sequential({ norm: new LayerNorm(4), attn: new MultiHeadAttention(4, 2, { seed: 2 }) })),
      head: new Linear(4, 3, { seed: 3 }),
    });
    expect(Object.keys(gpt.parameters())).toContain('block2.attn.Wq');
    expect(Object.keys(gpt.parameters()).slice(0, 3)).toEqual(['embed.W', 'block2.norm.gamma', 'block2.norm.beta']);
  });

  it('refuses a name with a dot, an empty model, and a layer that is not a Module', () => {
    expect(() => sequential({ 'a.b': new ReLU() })).toThrow("Sequential: layer name 'a.b' must be non-empty and without '.'");
    expect(() => sequential({})).toThrow('Sequential: needs at least one layer');
    expect(() => new Sequential({ x: {} as never })).toThrow(ValueError);
  });
});

describe('summary', () => {
  it('lists every layer\'s output shape and parameter count, with the totals (LeNet-5: 51,914 parameters)', () => {
    const model = lenet();
    expect(model.summaryRows([2, 1, 28, 28])).toEqual([
      { name: 'conv1', type: 'Conv2d', outputShape: [2, 6, 28, 28], parameters: 156 },
      { name: 'bn1', type: 'BatchNorm2d', outputShape: [2, 6, 28, 28], parameters: 12 },
      { name: 'relu1', type: 'ReLU', outputShape: [2, 6, 28, 28], parameters: 0 },
      { name: 'pool1', type: 'MaxPool2d', outputShape: [2, 6, 14, 14], parameters: 0 },
      { name: 'conv2', type: 'Conv2d', outputShape: [2, 16, 10, 10], parameters: 2416 },
      { name: 'relu2', type: 'ReLU', outputShape: [2, 16, 10, 10], parameters: 0 },
      { name: 'pool2', type: 'MaxPool2d', outputShape: [2, 16, 5, 5], parameters: 0 },
      { name: 'flatten', type: 'Flatten', outputShape: [400, 2], parameters: 0 },
      { name: 'fc1', type: 'Dense', outputShape: [120, 2], parameters: 48120 },
      { name: 'fc2', type: 'Dense', outputShape: [10, 2], parameters: 1210 },
    ]);
    const text = model.summary([1, 1, 28, 28]);
    expect(text.split('\n')).toContain('conv2 (Conv2d)     [1, 16, 10, 10]        2416');
    expect(text).toMatch(/Parameters: 51914\nBuffers: 12$/);
  });

  it('runs in evaluation mode without touching running statistics, and restores the mode', () => {
    const model = lenet();
    const before = model.buffers()['bn1.runningMean'].toFlatArray();
    model.summary([1, 1, 28, 28]); // a batch of one: training-mode BatchNorm would refuse it
    expect(model.buffers()['bn1.runningMean'].toFlatArray()).toEqual(before);
    expect(model.training).toBe(true);
    expect((model.layers[1] as BatchNorm2d).training).toBe(true);
    model.eval();
    model.summary([1, 1, 28, 28]);
    expect(model.training).toBe(false);
  });

  it('passes on the typed error of a layer that refuses the input shape', () => {
    expect(() => lenet().summary([1, 3, 28, 28])).toThrow('Conv2d: expects images [N, 1, H, W], got [1,3,28,28]');
  });
});
