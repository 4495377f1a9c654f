import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The other tests run on the TypeScript sources; this one runs the built packages the way
// users load them, ESM and CommonJS, so a packaging mistake cannot hide.
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (p: string) => fileURLToPath(new URL(`../packages/${p}`, import.meta.url));

function run(code: string, type: 'module' | 'commonjs'): string {
  return execFileSync(process.execPath, [type === 'module' ? '--input-type=module' : '--input-type=commonjs', '-e', code], { cwd: root, encoding: 'utf8' });
}

describe('built packages', () => {
  it('exist (run `pnpm build` first)', () => {
    for (const file of ['core/dist/index.js', 'core/dist/index.cjs', 'core/dist/index.d.ts', 'core/dist/testing.js', 'core/dist/testing.cjs', 'core/dist/testing.d.ts', 'nn/dist/index.js', 'datasets/dist/index.js']) {
      expect(existsSync(dist(file)), file).toBe(true);
    }
  });

  it('load as ES modules, with the testing kit sharing the Tensor class', () => {
    const out = run(`
      import { tensor, grad, sum, Tensor } from '${dist('core/dist/index.js')}';
      import { gradcheck } from '${dist('core/dist/testing.js')}';
      const x = tensor([1, 2, 3], { dtype: 'float64' });
      const g = grad((t) => sum(t.mul(t)))(x);
      const report = gradcheck((t) => sum(t.mul(t)), [x]);
      console.log(JSON.stringify({ g: g.toFlatArray(), ok: report.ok, same: g instanceof Tensor }));
    `, 'module');
    expect(JSON.parse(out)).toEqual({ g: [2, 4, 6], ok: true, same: true });
  });

  it('load as CommonJS, with the testing kit sharing the Tensor class', () => {
    const out = run(`
      const { tensor, matmul, Tape, sum } = require('${dist('core/dist/index.cjs')}');
      const { gradcheck } = require('${dist('core/dist/testing.cjs')}');
      const w = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
      const tape = new Tape();
      const y = tape.record(() => sum(matmul(w, w)));
      const dw = tape.gradient(y, w);
      const report = gradcheck((a) => sum(matmul(a, a)), [w]);
      console.log(JSON.stringify({ dw: dw.toArray(), ok: report.ok }));
    `, 'commonjs');
    // d/dW sum(W·W) = 𝟙·Wᵀ + Wᵀ·𝟙
    expect(JSON.parse(out)).toEqual({ dw: [[7, 11], [9, 13]], ok: true });
  });
});
