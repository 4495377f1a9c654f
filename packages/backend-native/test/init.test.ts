import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { getBackend, listBackends, matmul, setBackend, tensor } from '@tapegrad/core';
import { afterEach, describe, expect, it } from 'vitest';
import * as nativePackage from '../src/index.js';
import { built } from './native.js';

afterEach(() => setBackend('js'));

const missing = fileURLToPath(new URL('../build/Release/no-such-addon.node', import.meta.url));

describe('without the addon', () => {
  it('loadNativeBackend returns the reason instead of throwing', () => {
    const result = nativePackage.loadNativeBackend({ addonPath: missing });
    expect(result.backend).toBeUndefined();
    expect(result.reason).toMatch(/no-such-addon\.node was not built/);
  });

  it('initNativeBackendOrWarn registers nothing and warns once, naming the backend in use', () => {
    setBackend('auto');
    const lines: string[] = [];
    const warn = (line: string) => lines.push(line);
    expect(nativePackage.initNativeBackendOrWarn({ addonPath: missing, warn })).toBeUndefined();
    expect(nativePackage.initNativeBackendOrWarn({ addonPath: missing, warn })).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tapegrad: native backend unavailable \(.*no-such-addon\.node was not built.*\); using js$/);
    expect(nativePackage.nativeUnavailableReason()).toMatch(/no-such-addon/);
    expect(listBackends()).not.toContain('native');
    expect(getBackend().name).toBe('js');
  });

  it('a file that is not an addon is reported as failing to load', () => {
    const result = nativePackage.loadNativeBackend({ addonPath: fileURLToPath(new URL('../package.json', import.meta.url)) });
    expect(result.reason).toMatch(/failed to load/);
  });
});

describe.runIf(built)('initNativeBackend', () => {
  it("registers 'native' at priority 30, so it becomes the default unless a backend was chosen", () => {
    setBackend('auto');
    const backend = nativePackage.initNativeBackend()!;
    expect(backend.name).toBe('native');
    expect(nativePackage.nativeUnavailableReason()).toBeUndefined();
    expect(listBackends()).toContain('native');
    expect(getBackend()).toBe(backend);
    expect(nativePackage.initNativeBackend()).toBe(backend);
    expect(nativePackage.registerNativeBackend()).toBe(backend);
    setBackend('js');
    expect(getBackend().name).toBe('js');
    setBackend('native');
    expect(matmul(tensor([[1, 2], [3, 4]]), tensor([[5, 6], [7, 8]])).toArray()).toEqual([[19, 22], [43, 50]]);
    expect(backend.kernel).toBe(backend.features.avx512f ? 'avx512f 8x32' : backend.features.avx2Fma ? 'avx2-fma 6x16' : 'portable 4x8');
    expect(backend.features.avx2Kernel).toBe(backend.features.avx2Fma ? 'avx2-fma 6x16' : 'portable 4x8');
  });

  it("kernels: 'avx2' runs the AVX2 set where the CPU has AVX-512, with the same bits as the default set", () => {
    const auto = nativePackage.loadNativeBackend({ name: 'native-init-auto', threads: 'off' }).backend!;
    const avx2 = nativePackage.loadNativeBackend({ name: 'native-init-avx2', threads: 'off', kernels: 'avx2' }).backend!;
    expect(avx2.kernel).toBe(avx2.features.avx2Fma ? 'avx2-fma 6x16' : 'portable 4x8');
    expect(auto.kernel).toBe(auto.features.kernel);
    // 70×300×45: the packed loop nest's edge tiles in both sets (8×32 and 6×16), two k blocks
    const m = 70, k = 300, n = 45;
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37)), b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11));
    const one = new Float32Array(m * n), other = new Float32Array(m * n);
    auto.matmul(a, b, one, m, k, n, false, false);
    avx2.matmul(a, b, other, m, k, n, false, false);
    expect(Array.from(other)).toEqual(Array.from(one));
    expect(one[0]).not.toBe(0);
  });

  it("'auto' splits float32 products from 2·10⁷ under the AVX-512 set, from 4·10⁶ under AVX2 and for float64; threadThreshold overrides both", () => {
    const { AVX512_THREAD_THRESHOLD, DEFAULT_THREAD_THRESHOLD } = nativePackage;
    const auto = nativePackage.loadNativeBackend({ name: 'native-threshold-auto' }).backend!;
    const avx2 = nativePackage.loadNativeBackend({ name: 'native-threshold-avx2', kernels: 'avx2' }).backend!;
    const mine = nativePackage.loadNativeBackend({ name: 'native-threshold-mine', threadThreshold: 1000 }).backend!;
    expect(auto.threadThreshold).toBe(auto.kernel.startsWith('avx512') ? AVX512_THREAD_THRESHOLD : DEFAULT_THREAD_THRESHOLD);
    expect(avx2.threadThreshold).toBe(DEFAULT_THREAD_THRESHOLD);
    expect(mine.threadThreshold).toBe(1000);
    if (auto.threads < 2) return; // one core: nothing is split
    // T1's 128×784×64 (6.4·10⁶): split under AVX2 only (stats are per process: count the difference)
    const m = 128, k = 784, n = 64;
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)), b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
    const c = new Float32Array(m * n);
    const splits = (backend: typeof auto, x: Float32Array | Float64Array, y: Float32Array | Float64Array, out: Float32Array | Float64Array) => {
      const before = backend.threadStats();
      backend.matmul(x, y, out, m, k, n, false, false);
      const after = backend.threadStats();
      return after.twoThreadCalls - before.twoThreadCalls + after.declined - before.declined;
    };
    expect(splits(avx2, a, b, c)).toBe(1);
    expect(splits(auto, a, b, c)).toBe(auto.kernel.startsWith('avx512') ? 0 : 1);
    expect(splits(auto, Float64Array.from(a), Float64Array.from(b), new Float64Array(m * n))).toBe(1);
  });

  it('measures a plausible FMA peak (AVX2 machines only; 0 elsewhere)', () => {
    const peak = nativePackage.fmaPeakGflops(1, 0.01)!;
    if (nativePackage.initNativeBackend()!.features.avx2Fma) expect(peak).toBeGreaterThan(1);
    else expect(peak).toBe(0);
  });
});

describe.runIf(built)('the built bundles', () => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const dist = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
  const run = (code: string, type: 'module' | 'commonjs') =>
    execFileSync(process.execPath, [`--input-type=${type}`, '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 });

  it('exist (run `pnpm build` first)', () => {
    for (const f of ['backend-native/dist/index.js', 'backend-native/dist/index.cjs', 'backend-native/dist/index.d.ts']) expect(existsSync(dist(f)), f).toBe(true);
  });

  it('load the addon from ESM and CommonJS, and a process that ran a two-thread matmul exits by itself', () => {
    const body = (native: string, core: string) => `
      const backend = ${native}.initNativeBackend({ threads: 'always' });
      const a = ${core}.tensor(Array.from({ length: 300 * 200 }, (_, i) => (i % 7) - 3), { shape: [300, 200] });
      const b = ${core}.tensor(Array.from({ length: 200 * 100 }, (_, i) => (i % 5) - 2), { shape: [200, 100] });
      ${core}.setBackend('native');
      const c = ${core}.matmul(a, b);
      console.log(JSON.stringify({ name: ${core}.getBackend().name, threads: backend.threads, c0: c.data[0] }));`;
    const esm = run(`import * as native from '${dist('backend-native/dist/index.js')}'; import * as core from '${dist('core/dist/index.js')}';${body('native', 'core')}`, 'module');
    const cjs = run(`const native = require('${dist('backend-native/dist/index.cjs')}'); const core = require('${dist('core/dist/index.cjs')}');${body('native', 'core')}`, 'commonjs');
    // Σₚ ((p % 7) − 3)·((p·100 % 5) − 2) = Σₚ ((p % 7) − 3)·(−2) = −2·Σ((p % 7) − 3) over p < 200
    let expected = 0;
    for (let p = 0; p < 200; p++) expected += ((p % 7) - 3) * (((p * 100) % 5) - 2);
    for (const out of [esm, cjs]) expect(JSON.parse(out)).toEqual({ name: 'native', threads: 2, c0: expected });
  });

  const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
  it.runIf(taskset !== undefined && availableParallelism() >= 2)('a process held to one core (taskset -c 0) counts one core and keeps every product on the calling thread', () => {
    const code = `
      const native = require('${dist('backend-native/dist/index.cjs')}'); const core = require('${dist('core/dist/index.cjs')}');
      const auto = native.loadNativeBackend({ name: 'auto' }).backend, always = native.loadNativeBackend({ name: 'always', threads: 'always' }).backend;
      const a = new Float32Array(300 * 200).map((_, i) => (i % 7) - 3), b = new Float32Array(200 * 100).map((_, i) => (i % 5) - 2), c = new Float32Array(300 * 100);
      always.matmul(a, b, c, 300, 200, 100, false, false);
      console.log(JSON.stringify({ cores: auto.features.hardwareThreads, auto: auto.threads, c0: c[0], split: always.threadStats().twoThreadCalls }));`;
    const out = JSON.parse(execFileSync(taskset!, ['-c', '0', process.execPath, '--input-type=commonjs', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 }));
    let expected = 0;
    for (let p = 0; p < 200; p++) expected += ((p % 7) - 3) * (((p * 100) % 5) - 2);
    expect(out).toEqual({ cores: 1, auto: 1, c0: expected, split: 0 });
  });
});
