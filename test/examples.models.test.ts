import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Tensor, randn, tensor } from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';
import type { Module } from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';
import { gpt, transformerBlock } from '../examples/tiny-transformer/model.js';

// The model examples (tiny-transformer, cnn-mnist, resnet-block), each run in a reduced form,
// as test/examples.test.ts runs the others.
const root = fileURLToPath(new URL('..', import.meta.url));

function runExample(path: string, args: string[] = []): string {
  return execFileSync(process.execPath, ['--import', 'tsx', path, ...args], { cwd: root, encoding: 'utf8' });
}

/**
 * f(x, ...values) running `model.forward(x)` with each parameter tensor replaced by the value
 * at its index, wherever it sits in the module tree (layers keep parameters as fields), so
 * gradcheck can perturb the parameters of a nested model. The fields are restored after.
 */
function withParameterValues(model: Module, params: readonly Tensor[]): (x: Tensor, ...values: Tensor[]) => Tensor {
  return (x, ...values) => {
    const swapped: Array<[Record<string, unknown>, string, unknown]> = [];
    const seen = new Set<unknown>();
    const visit = (node: unknown): void => {
      if (node === null || typeof node !== 'object' || seen.has(node)) return;
      seen.add(node);
      const fields = node as Record<string, unknown>;
      for (const [key, value] of Object.entries(fields)) {
        const i = params.indexOf(value as Tensor);
        if (i >= 0) {
          swapped.push([fields, key, value]);
          fields[key] = values[i];
        } else if (Array.isArray(value)) value.forEach(visit);
        else if (typeof value === 'object' && value !== null && 'forward' in value) visit(value);
      }
    };
    visit(model);
    try {
      return model.forward(x);
    } finally {
      for (const [fields, key, value] of swapped) fields[key] = value;
    }
  };
}

describe('tiny-transformer', () => {
  it('one transformer block (dim 4, 2 heads, 3 positions) has exact gradients in x and all 16 parameters (order 2, float64)', () => {
    const block = transformerBlock(4, 2, { seed: 1, dtype: 'float64' });
    const named = block.parameters();
    expect(Object.keys(named)).toEqual([
      'attention.0.gamma', 'attention.0.beta', 'attention.1.Wq', 'attention.1.Wk', 'attention.1.Wv', 'attention.1.Wo',
      'attention.1.bq', 'attention.1.bk', 'attention.1.bv', 'attention.1.bo',
      'mlp.0.gamma', 'mlp.0.beta', 'mlp.1.W', 'mlp.1.b', 'mlp.3.W', 'mlp.3.b',
    ]);
    const params = Object.values(named);
    // biases, γ and β away from their initial 0 and 1, so every derivative is exercised
    const values = params.map((p, i) => (p.rank === 1 ? randn(p.shape, { seed: 100 + i, dtype: 'float64' }) : p));
    const x = randn([1, 3, 4], { seed: 2, dtype: 'float64' });
    const report = gradcheck(withParameterValues(block, params), [x, ...values], { order: 2 });
    expect(report.ok, report.message).toBe(true);
    expect(report.checked).toBe(2 * (x.size + params.reduce((n, p) => n + p.size, 0)));
  });

  it('the GPT maps ids [N, T] to logits [N, T, vocab], and position t never sees a later token', () => {
    const model = gpt({ vocab: 3, maxLength: 5, dim: 8, heads: 2, blocks: 2, seed: 1, dtype: 'float64' });
    const logits = model.forward(tensor([[2, 0, 1, 1, 0], [2, 0, 1, 1, 2]], { dtype: 'float64' }));
    expect(logits.shape).toEqual([2, 5, 3]);
    const [first, second] = logits.toArray() as number[][][];
    for (let t = 0; t < 4; t++) expect(second[t]).toEqual(first[t]); // the sequences differ only at position 4
    expect(second[4]).not.toEqual(first[4]);
  });

  it('trains on the sorting task for 3 epochs: the loss falls and most held-out inputs already sort', () => {
    const out = runExample('examples/tiny-transformer/main.ts', ['--epochs', '3']);
    expect(out).toMatch(/729 possible inputs, 547 to train on, 182 held out/);
    expect(out).toMatch(/^embed \(TokensAndPositions\)\s+\[64, 11, 32\]\s+448$/m);
    expect(out).toMatch(/^block2 \(Sequential\)\s+\[64, 11, 32\]\s+12704$/m);
    expect(out).toMatch(/^head \(Linear\)\s+\[64, 11, 3\]\s+99$/m);
    const loss = /loss ([\d.]+) → ([\d.]+) in 27 steps/.exec(out);
    expect(loss, out).not.toBeNull();
    expect(Number(loss![1])).toBeGreaterThan(0.5); // about ln 3 ≈ 1.1 at random, less after the first epoch's steps
    expect(Number(loss![2])).toBeLessThan(0.35); // measured 0.2171
    const match = /held-out exact match: (\d+)\/1000/.exec(out);
    expect(Number(match![1])).toBeGreaterThan(600); // measured 856
    expect(out).toMatch(/held-out example: (\d \d \d \d \d \d) → (\d \d \d \d \d \d)/);
  });
});

describe('cnn-mnist', () => {
  it('LeNet-style CNN on 500 digits for 2 epochs: the loss falls and test accuracy rises', () => {
    const out = runExample('examples/cnn-mnist/main.ts', ['--epochs', '2', '--limit', '500']);
    expect(out).toMatch(/MNIST: 500 training and 2004 test digits, images \[N, 1, 28, 28\]/);
    expect(out).toMatch(/^pool2 \(MaxPool2d\)\s+\[1, 16, 5, 5\]\s+0$/m);
    expect(out).toMatch(/^flatten \(Flatten\)\s+\[400, 1\]\s+0$/m);
    expect(out).toMatch(/^Parameters: 61706$/m);
    const epochs = [...out.matchAll(/^epoch (\d)\/2 {2}loss ([\d.]+) {2}train accuracy ([\d.]+) {2}test accuracy ([\d.]+)/gm)].map((m) => m.slice(1).map(Number));
    expect(epochs.map((e) => e[0])).toEqual([1, 2]);
    const [[, loss1, , test1], [, loss2, , test2]] = epochs;
    expect(loss2).toBeLessThan(0.85 * loss1); // measured 2.3031 → 1.5938
    expect(test2).toBeGreaterThan(test1); // measured 0.3683 → 0.6103
    expect(test2).toBeGreaterThan(0.45);
    const final = /test accuracy after 2 epochs: ([\d.]+) \((\d+)\/2004\)/.exec(out);
    expect(Number(final![1])).toBe(test2);
    expect(Number(final![2])).toBe(Math.round(test2 * 2004));
  });

  it('rejects a bad option value with exit code 2', () => {
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', 'examples/cnn-mnist/main.ts', '--limit', '0'], { cwd: root, stdio: 'pipe' }))
      .toThrowError(expect.objectContaining({ status: 2 }));
  });
});

describe('resnet-block', () => {
  it('trains a residual conv block with BatchNorm on 500 digits; eval mode uses running statistics, train mode the batch', () => {
    const out = runExample('examples/resnet-block/main.ts', ['--epochs', '2', '--limit', '500']);
    expect(out).toMatch(/^block \(Sequential\)\s+\[1, 8, 14, 14\]\s+1184$/m); // two 3×3 convs 8→8 without bias (1152) and two BatchNorms (32)
    expect(out).toMatch(/^Buffers: 48$/m);
    expect(out).toMatch(/block\.skip\.bn1\.runningMean, block\.skip\.bn1\.runningVar/);
    const epochs = [...out.matchAll(/^epoch (\d)\/2 {2}loss ([\d.]+) .* test accuracy \(eval mode\) ([\d.]+)/gm)].map((m) => m.slice(1).map(Number));
    expect(epochs.map((e) => e[0])).toEqual([1, 2]);
    const [[, loss1, test1], [, loss2, test2]] = epochs;
    expect(loss2).toBeLessThan(0.7 * loss1); // measured 3.5480 → 1.7715
    expect(test2).toBeGreaterThan(test1);
    expect(test2).toBeGreaterThan(0.35); // measured 0.4975
    expect(out).toMatch(/after training the model is in training mode again: training = true/);
    // eval mode: an example's output does not depend on its batch, and nothing is updated
    expect(out).toMatch(/eval mode: {2}digit 0's outputs in two different batches differ by 0\.0e\+0; block\.skip\.bn1 running mean unchanged: true/);
    const trainMode = /train mode: digit 0's outputs in two different batches differ by ([\d.]+)/.exec(out);
    expect(Number(trainMode![1])).toBeGreaterThan(1e-3); // measured 0.0346
    const moved = /from ([-\d. ]+)\n {2}to {3}([-\d. ]+)/.exec(out);
    expect(moved![1].trim().split(' ')).toHaveLength(8);
    expect(moved![2]).not.toBe(moved![1]);
    const final = /test accuracy after 2 epochs: ([\d.]+) in eval mode \(running statistics\), ([\d.]+) in train mode/.exec(out);
    expect(final, out).not.toBeNull();
    expect(Number(final![1])).toBeGreaterThan(0.35);
    expect(Number(final![2])).toBeGreaterThan(0.35);
  });
});
