import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Every example runs here in a reduced form, so none can rot.
const root = fileURLToPath(new URL('..', import.meta.url));

function runExample(path: string, args: string[] = []): string {
  return execFileSync(process.execPath, ['--import', 'tsx', path, ...args], { cwd: root, encoding: 'utf8' });
}

describe('examples', () => {
  it('sports: the 3-2-1 network of seed 000 trains and its cost falls', () => {
    const out = runExample('examples/sports/main.ts', ['--epochs', '600']);
    const match = /cost ([\d.]+) → ([\d.]+); accuracy on 256 unseen days: ([\d.]+)/.exec(out);
    expect(match, out).not.toBeNull();
    const [, first, last, accuracy] = match!.map(Number);
    expect(last).toBeLessThan(first / 4);
    expect(accuracy).toBeGreaterThan(0.85);
    // precision, recall and F1 at four thresholds: recall can only fall as the threshold rises
    const rows = [...out.matchAll(/^\s+(0\.\d)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/gm)].map((m) => m.slice(1).map(Number));
    expect(rows.map((r) => r[0])).toEqual([0.3, 0.5, 0.7, 0.9]);
    for (const [, precision, recall, f1, tp, fp, fn, tn] of rows) {
      expect(tp + fp + fn + tn).toBe(256);
      expect(precision).toBeCloseTo(tp / (tp + fp), 3);
      expect(recall).toBeCloseTo(tp / (tp + fn), 3);
      expect(f1).toBeCloseTo((2 * precision * recall) / (precision + recall), 2);
    }
    for (let i = 1; i < rows.length; i++) expect(rows[i][2]).toBeLessThanOrEqual(rows[i - 1][2]);
    expect(rows[3][1]).toBeGreaterThan(rows[0][1]);
    expect(rows[3][2]).toBeLessThan(rows[0][2]);
  });

  it('sports: rejects a bad option value with exit code 2', () => {
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', 'examples/sports/main.ts', '--lr', '-1'], { cwd: root, stdio: 'pipe' }))
      .toThrowError(expect.objectContaining({ status: 2 }));
  });

  it('gradient-check: passes the right VJPs and catches the wrong one with a shrunk counterexample', () => {
    const out = runExample('examples/gradient-check/main.ts');
    expect(out).toMatch(/gradcheck dense layer: ok: 28 derivatives agree/);
    expect(out).toMatch(/softplus: 50 random shapes and values agree/);
    expect(out).toMatch(/smallest counterexample: \[tensor\(0, \{ dtype: 'float64' \}\) \/\* \[\] \*\/\]/);
    expect(out).toMatch(/analytic 1 vs numeric 2/);
  });

  it('autodiff-vs-manual: every witness agrees layer by layer and both methods are timed, for an MLP and a CNN', () => {
    const out = runExample('examples/autodiff-vs-manual/main.ts', ['--layers', '20,12,8,5', '--batch', '7', '--repeats', '2', '--images', '2']);
    const cnnStart = out.indexOf('\nCNN: LeNet-5');
    expect(cnnStart, out).toBeGreaterThan(0);
    const [mlpPart, cnnPart] = [out.slice(0, cnnStart), out.slice(cnnStart)];
    const rows = mlpPart.split('\n').filter((line) => /^\s+\d+\s/.test(line));
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      const [, ...diffs] = row.trim().split(/\s+/).map(Number);
      expect(diffs).toHaveLength(5);
      for (const d of diffs.slice(0, 3)) expect(d).toBeLessThan(1e-12);
      expect(diffs[3]).toBeLessThan(1e-6);
    }
    expect(mlpPart).toMatch(/tape [\d.]+ ms, BP1–BP4 by hand [\d.]+ ms/);
    expect(mlpPart).toMatch(/all witnesses agree/);
    // LeNet-5: one row per layer, named, with — where a column does not apply
    const cnnRows = cnnPart.split('\n').filter((line) => /^\s+\d+\s/.test(line)).map((line) => line.trim().split(/\s+/));
    expect(cnnRows.map(([, name, kind]) => `${name} ${kind}`)).toEqual([
      'conv1 Conv2d', 'relu1 ReLU', 'pool1 MaxPool2d', 'conv2 Conv2d', 'relu2 ReLU', 'pool2 MaxPool2d', 'flat Flatten', 'fc1 Dense', 'fc2 Dense', 'fc3 Dense',
    ]);
    for (const [, , kind, ...cells] of cnnRows) {
      expect(cells).toHaveLength(5);
      const [delta, dW, db, fd, augmented] = cells.map(Number);
      expect(delta).toBeLessThan(1e-12);
      if (kind === 'Conv2d' || kind === 'Dense') {
        expect(Math.max(dW, db)).toBeLessThan(1e-12);
        expect(fd).toBeLessThan(1e-6);
      } else {
        expect(cells.slice(1)).toEqual(['—', '—', '—', '—']);
      }
      if (kind === 'Dense') expect(augmented).toBeLessThan(1e-12);
    }
    expect(cnnPart).toMatch(/tape [\d.]+ ms, CNN backprop by hand [\d.]+ ms/);
    expect(cnnPart).toMatch(/CNN: all witnesses agree/);
  });

  it('custom-architecture: the weight-tied autoencoder passes gradcheck and learns the 8-3-8 code', () => {
    const out = runExample('examples/custom-architecture/main.ts', ['--steps', '1500']);
    expect(out).toMatch(/gradcheck of the tied weights: ok: 70 derivatives agree/);
    const match = /loss ([\d.]+) → ([\d.]+); (\d)\/8 patterns reconstructed/.exec(out);
    expect(match, out).not.toBeNull();
    expect(Number(match![2])).toBeLessThan(Number(match![1]) / 20);
    expect(Number(match![3])).toBe(8);
  });

  it('xor: a 2-3-1 network puts all four predictions on the right side of 0.5', () => {
    const out = runExample('examples/xor/main.ts', ['--epochs', '1000']);
    const cost = /cost ([\d.]+) → ([\d.]+) in 1000 steps/.exec(out);
    expect(cost, out).not.toBeNull();
    expect(Number(cost![2])).toBeLessThan(0.05);
    const predictions = [...out.matchAll(/^(\d) xor (\d) = (\d): predicted ([\d.]+) ok$/gm)].map((m) => m.slice(1).map(Number));
    expect(predictions.map(([a, b, target]) => [a, b, target])).toEqual([[0, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]]);
    for (const [, , target, p] of predictions) expect(target === 1 ? p > 0.9 : p < 0.1).toBe(true);
    expect(out).toMatch(/all 4 on the right side of 0\.5/);
  });

  it('xor: exits 1 when a prediction is on the wrong side (one step is not enough), 2 on a bad option', () => {
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', 'examples/xor/main.ts', '--epochs', '1'], { cwd: root, stdio: 'pipe', encoding: 'utf8' }))
      .toThrowError(expect.objectContaining({ status: 1, stdout: expect.stringMatching(/WRONG/) }));
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', 'examples/xor/main.ts', '--hidden', '0'], { cwd: root, stdio: 'pipe' }))
      .toThrowError(expect.objectContaining({ status: 2 }));
  });

  it('mnist-mlp: 784-128-10 on 1,500 digits, loss falls and test accuracy rises over 2 epochs', () => {
    const out = runExample('examples/mnist-mlp/main.ts', ['--epochs', '2', '--limit', '1500']);
    expect(out).toMatch(/MNIST: 1500 training and 2004 test digits/);
    const epochs = [...out.matchAll(/^epoch (\d)\/2 {2}loss ([\d.]+) {2}test accuracy ([\d.]+) {2}(\d+) examples\/s/gm)].map((m) => m.slice(1).map(Number));
    expect(epochs.map((e) => e[0])).toEqual([1, 2]);
    const [[, loss1, acc1, speed1], [, loss2, acc2]] = epochs;
    expect(loss2).toBeLessThan(loss1);
    expect(acc2).toBeGreaterThan(acc1);
    expect(acc2).toBeGreaterThan(0.75);
    expect(speed1).toBeGreaterThan(0);
    expect(out).toMatch(new RegExp(`test accuracy after 2 epochs: ${acc2.toFixed(4).replace('.', '\\.')}`));
  });

  it('mnist-mlp: rejects a bad option value with exit code 2', () => {
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', 'examples/mnist-mlp/main.ts', '--limit', '0'], { cwd: root, stdio: 'pipe' }))
      .toThrowError(expect.objectContaining({ status: 2 }));
  });

  it('second-order: hvp matches finite differences; L-BFGS and Newton-CG need far fewer iterations than gradient descent', () => {
    const out = runExample('examples/second-order/main.ts', ['--tolerance', '1e-4']);
    const check = /relative difference from central differences of gradients \(ε = 1e-5\): ([\d.e+-]+)/.exec(out);
    expect(check, out).not.toBeNull();
    expect(Number(check![1])).toBeLessThan(1e-6);
    const row = (name: string) => {
      const m = new RegExp(`^${name}\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+([\\d.e+-]+)`, 'm').exec(out);
      expect(m, `${name} row in\n${out}`).not.toBeNull();
      const [iterations, evaluations, hvps, gap] = m!.slice(1).map(Number);
      expect(gap).toBeLessThanOrEqual(1e-4); // the target was reached
      return { iterations, evaluations, hvps };
    };
    const gd = row('gradient descent');
    const lbfgs = row('L-BFGS');
    const newton = row('Newton-CG');
    expect(gd.hvps).toBe(0);
    expect(lbfgs.hvps).toBe(0);
    expect(newton.hvps).toBeGreaterThan(0);
    expect(lbfgs.iterations * 20).toBeLessThan(gd.iterations);
    expect(newton.iterations * 20).toBeLessThan(gd.iterations);
    // counting work, not just iterations: still far cheaper
    expect(lbfgs.evaluations * 20).toBeLessThan(gd.evaluations);
    expect((newton.evaluations + 2 * newton.hvps) * 10).toBeLessThan(gd.evaluations);
  });

  it('second-order: rejects a bad option value with exit code 2', () => {
    expect(() => execFileSync(process.execPath, ['--import', 'tsx', 'examples/second-order/main.ts', '--tolerance', '0'], { cwd: root, stdio: 'pipe' }))
      .toThrowError(expect.objectContaining({ status: 2 }));
  });
});
