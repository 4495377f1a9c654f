import { afterAll, describe, expect, it } from 'vitest';
import { cli, lines, scratchDir } from './helpers.js';

describe('tapegrad gradcheck', () => {
  it('prints the per-layer table for the default 5-4-3 tanh network and exits 0', async () => {
    const { code, stdout, stderr } = await cli(['gradcheck']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const printed = lines(stdout);
    expect(printed[0]).toBe('gradcheck: 5-4-3, tanh hidden, softmax output + cce, batch 4, seed 1, float64');
    expect(printed[2]).toBe('layer   Δ (BP1/BP2)   ∂C/∂W (BP3)   ∂C/∂b (BP4)   finite diff   augmented');
    for (const [i, layer] of [[3, 1], [4, 2]]) {
      expect(printed[i]).toMatch(new RegExp(`^ {4}${layer}( +\\d\\.\\d\\de[-+]\\d+){5}$`));
    }
    expect(printed[5]).toMatch(/^batch gradient vs mean of per-example gradients: \d\.\d\de[-+]\d+ {3}\(BP1: softmax\+cce\)$/);
    expect(printed[6]).toBe('ok: 2 layers agree (tape = BP1–BP4 = augmented form = finite differences)');
  });

  it('checks a deeper relu network with mse, saying when finite differences skip a kink', async () => {
    const { code, stdout } = await cli(['gradcheck', '--layers', '6,8,8,4', '--activation', 'relu', '--loss', 'mse', '--batch', '3', '--seed', '7']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^gradcheck: 6-8-8-4, relu hidden, sigmoid output \+ mse, batch 3, seed 7, float64$/m);
    expect(stdout.match(/^ {4}[123] /gm)).toHaveLength(3);
    expect(stdout).toMatch(/^ok: 3 layers agree/m);
  });
});

describe('--backend auto', () => {
  const scratch = scratchDir('backend');
  afterAll(scratch.cleanup);

  // g++ is on this machine and on CI's, so the addon was built at install and auto takes it
  it('takes the fastest backend that loads: native here, and says which build runs', async () => {
    const { code, stdout } = await cli(['train', '--epochs', '1', '--limit-train', '64', '--limit-test', '20', '--out', scratch.dir]);
    expect(code).toBe(0);
    expect(lines(stdout)[0]).toMatch(/^backend: native \(@tapegrad\/backend-native, (avx512f 8x32|avx2-fma 6x16|portable 4x8), [12] threads?\)$/);
  });

  it('--backend wasm and --backend js are taken as asked', async () => {
    const wasm = await cli(['train', '--epochs', '1', '--limit-train', '64', '--limit-test', '20', '--backend', 'wasm', '--out', scratch.dir]);
    expect(wasm.code).toBe(0);
    expect(lines(wasm.stdout)[0]).toMatch(/^backend: wasm \(@tapegrad\/backend-wasm, (relaxed-simd|simd), [12] threads?\)$/);
    const js = await cli(['train', '--epochs', '1', '--limit-train', '64', '--limit-test', '20', '--backend', 'js', '--out', scratch.dir]);
    expect(lines(js.stdout)[0]).toBe('backend: js');
  });
});
