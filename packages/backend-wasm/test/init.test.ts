import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getBackend, listBackends, matmul, setBackend, tensor } from '@tapegrad/core';
import { afterEach, describe, expect, it } from 'vitest';
import * as wasmPackage from '../src/index.js';

afterEach(() => setBackend('js'));

describe('initWasmBackend', () => {
  it('importing the package registers nothing (vitest isolates each test file)', () => {
    expect(listBackends()).not.toContain('wasm');
    expect(getBackend().name).toBe('js');
  });

  it("compiles once, registers 'wasm' as the default (it outranks js), and says which build it chose", () => {
    setBackend('auto'); // as in a fresh program: nothing chosen yet
    const backend = wasmPackage.initWasmBackend();
    expect(listBackends()).toContain('wasm');
    expect(getBackend()).toBe(backend);
    // an explicit choice wins over the default, and 'auto' hands it back
    setBackend('js');
    expect(getBackend().name).toBe('js');
    setBackend('auto');
    expect(getBackend()).toBe(backend);
    setBackend('js');
    expect(wasmPackage.initWasmBackend()).toBe(backend);
    expect(getBackend().name).toBe('js');
    expect(wasmPackage.registerWasmBackend()).toBe(backend);
    // in Node 20 the flag is set at run time, so the fused build is the one chosen
    expect(backend.variant).toBe(wasmPackage.relaxedSimdSupported() ? 'relaxed-simd' : 'simd');
    setBackend('wasm');
    const c = matmul(tensor([[1, 2], [3, 4]]), tensor([[5, 6], [7, 8]]));
    expect(c.toArray()).toEqual([[19, 22], [43, 50]]);
  });

  it('has an asynchronous twin (for browsers\' main threads) that returns the registered backend', async () => {
    expect(await wasmPackage.initWasmBackendAsync()).toBe(wasmPackage.initWasmBackend());
    const separate = await wasmPackage.createWasmBackendAsync({ variant: 'simd', name: 'wasm-async' });
    expect(separate.variant).toBe('simd');
    const out = new Float32Array(1);
    separate.matmul(Float32Array.of(2, 3), Float32Array.of(4, 5), out, 1, 2, 1, false, false);
    expect(out[0]).toBe(23);
  });

  it('can be forced to the plain SIMD build; its memory grows with the operands', () => {
    const backend = wasmPackage.createWasmBackend({ variant: 'simd', name: 'wasm-plain' });
    expect(backend.variant).toBe('simd');
    expect(backend.name).toBe('wasm-plain');
    const before = backend.memoryBytes();
    const n = 300;
    const out = new Float32Array(n * n);
    backend.matmul(new Float32Array(n * n).fill(1), new Float32Array(n * n).fill(1), out, n, n, n, false, false);
    expect(out.every((v) => v === n)).toBe(true);
    expect(backend.memoryBytes()).toBeGreaterThan(before);
  });
});

// The built bundles as users load them (run `pnpm build` first): the base64 module decodes,
// '@tapegrad/core' stays external (so 'wasm' lands in the registry ops read), ESM and CJS.
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));

function run(code: string, type: 'module' | 'commonjs'): unknown {
  const out = execFileSync(process.execPath, [`--input-type=${type}`, '-e', code], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out);
}

describe('built package', () => {
  it('exists', () => {
    for (const file of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts']) expect(existsSync(dist(file)), file).toBe(true);
  });

  it('loads as an ES module', () => {
    expect(run(`
      import { initWasmBackend } from '${dist('index.js')}';
      import { setBackend, matmul, tensor, getBackend } from '@tapegrad/core';
      const b = initWasmBackend();
      setBackend('wasm');
      const c = matmul(tensor([[1, 2]]), tensor([[3], [4]]));
      console.log(JSON.stringify({ name: getBackend().name, variant: b.variant, c: c.toArray() }));
    `, 'module')).toEqual({ name: 'wasm', variant: 'relaxed-simd', c: [[11]] });
  });

  it('falls back to the plain SIMD build where relaxed SIMD cannot be enabled', () => {
    // without process.getBuiltinModule an ES module cannot reach node:v8, so the flag stays off
    expect(run(`
      delete process.getBuiltinModule;
      const { initWasmBackend, relaxedSimdSupported } = await import('${dist('index.js')}');
      const b = initWasmBackend();
      const out = new Float32Array(1);
      b.matmul(Float32Array.of(2, 3), Float32Array.of(4, 5), out, 1, 2, 1, false, false);
      console.log(JSON.stringify({ variant: b.variant, relaxed: relaxedSimdSupported(), out: out[0] }));
    `, 'module')).toEqual({ variant: 'simd', relaxed: false, out: 23 });
  });

  it('loads as CommonJS', () => {
    expect(run(`
      const { initWasmBackend } = require('${dist('index.cjs')}');
      const { setBackend, matmul, tensor, getBackend } = require('@tapegrad/core');
      const b = initWasmBackend({ variant: 'simd' });
      setBackend('wasm');
      const c = matmul(tensor([[1, 2]]), tensor([[3], [4]]));
      console.log(JSON.stringify({ name: getBackend().name, variant: b.variant, c: c.toArray() }));
    `, 'commonjs')).toEqual({ name: 'wasm', variant: 'simd', c: [[11]] });
  });
});
