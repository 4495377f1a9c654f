import { describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

describe('tapegrad conformance', () => {
  it("prints one row per op for every backend that loads, and float64 is bit-identical to js or, for native's GEMM, within 1e-12", async () => {
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
    // float64: element-wise ops exact everywhere; native's float64 GEMM (blocked sums) within 1e-12
    expect(r.stdout).toMatch(/^exp +.*same\s*$/m);
    const last = lines[lines.length - 1];
    expect(last).toMatch(/^float64: (every backend bit-identical to js|bit-identical to js except (.+ on native)(, .+ on native)*: within 1e-12 relative)$/);
    expect(last).not.toMatch(/on wasm/);
  });
});
