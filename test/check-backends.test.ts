/**
 * checkBackends (@tapegrad/core/testing): the conformance report of one function's forward
 * pass and VJPs on every registered backend against js, in ulps and relative terms.
 */
import { describe, expect, it } from 'vitest';
import { type CpuBackend, getBackend, jsBackend, matmul, registerBackend, sigmoid, sum, tensor, exp } from '@tapegrad/core';
import { checkBackends } from '@tapegrad/core/testing';
import { initWasmBackend, createWasmBackend } from '../packages/backend-wasm/src/index.js';

initWasmBackend();
registerBackend(createWasmBackend({ name: 'wasm-every-size', smallCallsInJs: false, threads: 'off' }));
// js with a float32 exp off by one part in 2¹⁰: the report must single it out
const broken: CpuBackend = {
  ...jsBackend,
  name: 'js-broken-exp',
  unary(kernel, x, out, scalar) {
    jsBackend.unary(kernel, x, out, scalar);
    if (kernel === 'exp' && out instanceof Float32Array) for (let i = 0; i < out.length; i++) out[i] *= 1 + 2 ** -10;
  },
};
registerBackend(broken);

const A = tensor([[0.5, -1, 2], [1.5, 0.25, -0.75]]);
const B = tensor([[1, 0.5], [-2, 1], [0.3, -0.1]]);
const f = (a: (typeof A), b: (typeof A)) => sum(sigmoid(matmul(a, b)).mul(exp(b.sum(0))));

describe('checkBackends', () => {
  it('reports output and every gradient per backend; float64 is bit-identical, a wrong kernel stands out', () => {
    const before = getBackend().name;
    const report = checkBackends(f, [A, B]);
    expect(getBackend().name).toBe(before);
    expect(report.reference).toBe('js');
    const rows = (backend: string) => report.rows.filter((r) => r.backend === backend);
    expect(rows('wasm').map((r) => r.what)).toEqual(['output', 'grad 0', 'grad 1']);
    // wasm's float32 kernels are within a few ulps of js's (see ops.backends.property.test.ts)
    for (const r of [...rows('wasm'), ...rows('wasm-every-size')]) {
      expect(r.maxUlps, `${r.backend} ${r.what}`).toBeLessThanOrEqual(64);
      expect(r.mismatch).toBeUndefined();
    }
    // 2⁻¹⁰ relative is 2¹³ = 8192 float32 ulps
    const bad = rows('js-broken-exp');
    expect(Math.max(...bad.map((r) => r.maxUlps))).toBeGreaterThan(4000);
    expect(bad[0].maxRelative).toBeGreaterThan(5e-4);
    const f64 = checkBackends(f, [A, B].map((t) => t.cast('float64')), { backends: ['wasm', 'js-broken-exp'] });
    expect(f64.rows.every((r) => r.maxUlps === 0 && r.worstIndex === -1)).toBe(true);
  });

  it('a result that turns NaN on one backend is a mismatch, not a number', () => {
    const nanBackend: CpuBackend = { ...jsBackend, name: 'js-nan-exp', unary(kernel, x, out, s) { jsBackend.unary(kernel, x, out, s); if (kernel === 'exp') out[0] = NaN; } };
    registerBackend(nanBackend);
    const report = checkBackends(f, [A, B], { backends: ['js-nan-exp'] });
    expect(report.rows[0].mismatch).toMatch(/^element 0: NaN vs /);
    expect(() => checkBackends(f, [A, B], { reference: 'tpu' })).toThrow(/reference backend 'tpu' is not registered/);
  });
});
