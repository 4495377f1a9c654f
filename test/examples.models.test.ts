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
