import { describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

describe('tapegrad conformance', () => {
  it('prints one row per op for every backend that loads, and float64 is bit-identical to js', async () => {
    const r = await cli(['conformance']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^conformance: forward and VJPs \(at a seeded random cotangent\) of 37 ops on wasm.* against js$/);
    for (const op of ['add', 'exp', 'sigmoid', 'softmax', 'matmul', 'matmulT', 'einsum', 'concat']) {
      expect(r.stdout).toMatch(new RegExp(`^${op} +\\d+ \\((output|grad \\d)\\) +\\d\\.\\de[-+]\\d+ +same`, 'm'));
    }
    // element-wise ops that every backend computes with js's own arithmetic agree exactly
    expect(r.stdout).toMatch(/^add +0 \(output\) +0\.0e\+0 +same/m);
    expect(lines[lines.length - 1]).toBe('float64: every backend bit-identical to js');
  });
});
