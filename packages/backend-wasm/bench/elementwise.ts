/**
 * The evidence for which float32 kernels besides matmul run in wasm: each against the js
 * backend on the same data, at T1-, T2- and larger sizes, ns per element (median of 9).
 * Each wasm figure includes copying the operands in and the result out.
 *
 *   pnpm build && cd packages/backend-wasm && pnpm exec tsx bench/elementwise.ts
 *
 * Kept in wasm: relu, step, exp, sigmoid; add/sub/mul/div (equal shapes, scalar, row and
 * column broadcasts); sums over contiguous axes. Left to js: neg (no faster: one copy in
 * and out costs as much as the loop) and everything not listed.
 */
import { jsBackend } from '@tapegrad/core';
import { createWasmBackend } from '../src/index.js';

const wasm = createWasmBackend();
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

/** ns per call: warm-up, then 9 timed loops of ~5 ms. */
function time(f: () => void): number {
  for (let i = 0; i < 50; i++) f();
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 5) (f(), calls++);
  const times: number[] = [];
  for (let r = 0; r < 9; r++) {
    const t = performance.now();
    for (let i = 0; i < calls; i++) f();
    times.push((performance.now() - t) / calls);
  }
  return median(times) * 1e6;
}

const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 8 - 4);

function compare(label: string, js: () => void, ours: () => void, elements: number): void {
  const tj = time(js) / elements, tw = time(ours) / elements;
  console.log(`${label.padEnd(30)} js ${tj.toFixed(2).padStart(6)} ns/el   wasm ${tw.toFixed(2).padStart(6)} ns/el   ${(tj / tw).toFixed(1).padStart(5)}×`);
}

console.log(`wasm build: ${wasm.variant}`);
for (const [m, n] of [[64, 10], [64, 128], [256, 1024], [1024, 1024]]) {
  const size = m * n;
  const x = random(size), y = random(size), out = new Float32Array(size);
  const row = random(n), column = random(m), scalar = random(1);
  console.log(`\n[${m}, ${n}]`);
  for (const k of ['relu', 'step', 'exp', 'sigmoid', 'neg'] as const) {
    compare(`${k}`, () => jsBackend.unary(k, x, out, 0), () => wasm.unary(k, x, out, 0), size);
  }
  for (const k of ['add', 'mul', 'div'] as const) {
    compare(`${k} [m,n]·[m,n]`, () => jsBackend.binary(k, x, [m, n], y, [m, n], out, [m, n]), () => wasm.binary(k, x, [m, n], y, [m, n], out, [m, n]), size);
  }
  compare('add [m,n] + [1,n] (bias)', () => jsBackend.binary('add', x, [m, n], row, [1, n], out, [m, n]), () => wasm.binary('add', x, [m, n], row, [1, n], out, [m, n]), size);
  compare('sub [m,n] − [m,1]', () => jsBackend.binary('sub', x, [m, n], column, [m, 1], out, [m, n]), () => wasm.binary('sub', x, [m, n], column, [m, 1], out, [m, n]), size);
  compare('mul [m,n] · scalar', () => jsBackend.binary('mul', x, [m, n], scalar, [], out, [m, n]), () => wasm.binary('mul', x, [m, n], scalar, [], out, [m, n]), size);
  const one = new Float32Array(1), perRow = new Float32Array(m), perColumn = new Float32Array(n);
  compare('sum all', () => jsBackend.reduce('sum', x, [m, n], [0, 1], one), () => wasm.reduce('sum', x, [m, n], [0, 1], one), size);
  compare('sum axis 1 (per row)', () => jsBackend.reduce('sum', x, [m, n], [1], perRow), () => wasm.reduce('sum', x, [m, n], [1], perRow), size);
  compare('sum axis 0 (per column)', () => jsBackend.reduce('sum', x, [m, n], [0], perColumn), () => wasm.reduce('sum', x, [m, n], [0], perColumn), size);
}
