/**
 * conv2d forward + backward (∂x and ∂w of ⟨conv2d(x, w), r⟩) in float32, per backend, at a
 * LeNet-ish and a ResNet-ish shape; a dev measurement, not a test. Prints ms per forward +
 * backward and GFLOP/s counted as 3 × the forward's 2·N·O·(C/G)·kH·kW·outH·outW (forward,
 * ∂x and ∂w are one product each), and, with --profile, where a step's time goes by kernel.
 *
 *   pnpm build
 *   cd packages/backend-native && pnpm exec tsx bench/conv.ts [--reps 7] [--profile]
 */
import { type Backend, type Tensor, conv2d, jsBackend, mul, randn, setBackend, sum, tidy, vjp } from '@tapegrad/core';
import { createWasmBackend } from '../../backend-wasm/src/index.js';
import { loadNativeBackend } from '../src/index.js';

const args = process.argv.slice(2);
const at = args.indexOf('--reps');
const reps = Math.max(3, at >= 0 ? Number(args[at + 1]) : 7);
const profile = args.includes('--profile');

const native = loadNativeBackend({ name: 'native' });
if (!native.backend) throw new Error(`native addon unavailable: ${native.reason}`);
const backends: Backend[] = [native.backend, createWasmBackend({ name: 'wasm' })];
if (args.includes('--js')) backends.push(jsBackend);

interface Case { label: string; N: number; C: number; O: number; H: number; k: number; padding: number }
const cases: Case[] = [
  { label: 'LeNet conv1 64×1×28×28, 6×1×5×5, pad 2', N: 64, C: 1, O: 6, H: 28, k: 5, padding: 2 },
  { label: 'LeNet conv2 64×6×14×14, 16×6×5×5', N: 64, C: 6, O: 16, H: 14, k: 5, padding: 0 },
  { label: 'ResNet 32×64×32×32, 64×64×3×3, pad 1', N: 32, C: 64, O: 64, H: 32, k: 3, padding: 1 },
];

/** Wraps a backend so every kernel call's time is added to `spent[kernel]`. */
function timed(backend: Backend, spent: Map<string, number>): Backend {
  const wrapped: Record<string, unknown> = { ...backend, name: `${backend.name}-timed` };
  for (const [key, value] of Object.entries(backend)) {
    if (typeof value !== 'function') continue;
    wrapped[key] = (...a: unknown[]) => {
      const t0 = performance.now();
      const result = (value as (...b: unknown[]) => unknown).apply(backend, a);
      const label = key === 'unary' || key === 'binary' || key === 'reduce' ? `${key}:${String(a[0])}` : key;
      spent.set(label, (spent.get(label) ?? 0) + performance.now() - t0);
      return result;
    };
  }
  return wrapped as unknown as Backend;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const c of cases) {
  const x = randn([c.N, c.C, c.H, c.H], { seed: 1 });
  const w = randn([c.O, c.C, c.k, c.k], { seed: 2 });
  const outH = c.H + 2 * c.padding - c.k + 1;
  const r = randn([c.N, c.O, outH, outH], { seed: 3 });
  const flop = 3 * 2 * c.N * c.O * c.C * c.k * c.k * outH * outH;
  const step = () => tidy(() => {
    const [y, back] = vjp((a: Tensor, b: Tensor) => conv2d(a, b, { padding: c.padding }), x, w);
    const [dx, dw] = back(r);
    return sum(mul(y, 0)).item() + dx.data[0] + dw.data[0];
  });
  console.log(`\n${c.label}: ${(flop / 1e9).toFixed(3)} GFLOP per forward + backward`);
  for (const backend of backends) {
    setBackend(backend);
    step();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      step();
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    console.log(`  ${backend.name.padEnd(8)} ${ms.toFixed(2).padStart(9)} ms  ${(flop / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s`);
    if (profile) {
      const spent = new Map<string, number>();
      setBackend(timed(backend, spent));
      const t0 = performance.now();
      step();
      const total = performance.now() - t0;
      const parts = [...spent.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`);
      console.log(`           profile (${total.toFixed(1)} ms): ${parts.join(', ')}`);
    }
  }
  setBackend('js');
}

