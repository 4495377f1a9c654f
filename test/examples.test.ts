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

  it('autodiff-vs-manual: every witness agrees layer by layer and both methods are timed', () => {
    const out = runExample('examples/autodiff-vs-manual/main.ts', ['--layers', '20,12,8,5', '--batch', '7', '--repeats', '2']);
    const rows = out.split('\n').filter((line) => /^\s+\d+\s/.test(line));
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      const [, ...diffs] = row.trim().split(/\s+/).map(Number);
      expect(diffs).toHaveLength(5);
      for (const d of diffs.slice(0, 3)) expect(d).toBeLessThan(1e-12);
      expect(diffs[3]).toBeLessThan(1e-6);
    }
    expect(out).toMatch(/tape [\d.]+ ms, BP1–BP4 by hand [\d.]+ ms/);
    expect(out).toMatch(/all witnesses agree/);
  });

  it('custom-architecture: the weight-tied autoencoder passes gradcheck and learns the 8-3-8 code', () => {
    const out = runExample('examples/custom-architecture/main.ts', ['--steps', '1500']);
    expect(out).toMatch(/gradcheck of the tied weights: ok: 70 derivatives agree/);
    const match = /loss ([\d.]+) → ([\d.]+); (\d)\/8 patterns reconstructed/.exec(out);
    expect(match, out).not.toBeNull();
    expect(Number(match![2])).toBeLessThan(Number(match![1]) / 20);
    expect(Number(match![3])).toBe(8);
  });
});
