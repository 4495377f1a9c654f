import type { BinaryKernel, Shape, UnaryKernel } from '@tapegrad/core';
import { type GpuArray, type GpuContext, type KernelSource, PRELUDE, WORKGROUP_SIZE } from '../context.js';
import type { GpuInput } from './types.js';
import { broadcastStrides, walkFunction, walkParams } from './walk.js';

/**
 * Element-wise kernels in WGSL. Each line is the kernel's float32 formula; where WGSL's
 * builtin differs from the Backend contract (NaN handling, domains, signed zeros) the line
 * says why it is written out.
 */

/**
 * NaN tests by bits: a compiler assuming no NaNs may fold `x != x` to false. NaN and ∞ are
 * built from a `var`, since WGSL refuses them as constant expressions.
 */
export const FLOAT_BITS = /* wgsl */ `
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isInf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn nanF32() -> f32 { var bits = 0x7fc00000u; return bitcast<f32>(bits); }
fn infF32() -> f32 { var bits = 0x7f800000u; return bitcast<f32>(bits); }
`;

const UNARY: Record<UnaryKernel, string> = {
  neg: '-x',
  exp: 'exp(x)',
  log: 'logOf(x)',
  // 1/(1+e⁻ˣ) overflows to 1/∞ = 0 for x ≪ 0, which is the right limit
  sigmoid: '1.0 / (1.0 + exp(-x))',
  // +0 for x ≤ 0 (max(x, 0) could return −0 or drop a NaN)
  relu: 'select(0.0, x, x > 0.0)',
  // tanh(x) = 1 − 2/(e^{2x} + 1): exact limits at ±∞, no ∞/∞ for |x| large
  tanh: 'select(tanhOf(x), x, x == 0.0)',
  sqrt: 'select(sqrt(x), nanF32(), x < 0.0)',
  abs: 'abs(x)',
  // +0 for ±0 and for NaN, as the js reference
  sign: 'select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0)',
  step: 'select(0.0, 1.0, x > 0.0)',
  powScalar: 'powOf(x, s)',
  // log(1 + eˣ) = max(x, 0) + log1p(e^{−|x|}): finite for every finite x
  softplus: 'select(max(x, 0.0) + log1pOf(exp(-abs(x))), x, isInf(x) && x > 0.0)',
  log1p: 'log1pOf(x)',
  expm1: 'expm1Of(x)',
  erf: 'erfOf(x)',
  // WGSL's sin/cos may be coarse approximations (SwiftShader's are off by 1e-5): our own
  sin: 'sinCos(x, 0)',
  cos: 'sinCos(x, 1)',
  floor: 'floor(x)',
  ceil: 'ceil(x)',
  // half to even, as PyTorch and NumPy
  round: 'round(x)', // WGSL's round is half to even already
  isNaN: 'select(0.0, 1.0, isNan(x))',
  isFinite: 'select(1.0, 0.0, isNan(x) || isInf(x))',
};

const UNARY_KERNEL_NAMES = Object.keys(UNARY) as UnaryKernel[];

/** Helpers the formulas call: WGSL's log, pow and friends leave edge cases undefined. */
const UNARY_HELPERS = /* wgsl */ `
fn logOf(x: f32) -> f32 {
  if (isNan(x) || x < 0.0) { return nanF32(); }
  if (x == 0.0) { return -infF32(); }
  if (isInf(x)) { return x; }
  return log(x);
}
fn tanhOf(x: f32) -> f32 {
  if (abs(x) > 20.0) { return sign(x); }
  let e = exp(2.0 * x);
  return 1.0 - 2.0 / (e + 1.0);
}
fn log1pOf(x: f32) -> f32 {
  if (isNan(x) || x < -1.0) { return nanF32(); }
  if (x == -1.0) { return -infF32(); }
  if (isInf(x)) { return x; }
  // log(u)·x/(u − 1) with u = 1 + x cancels the rounding of 1 + x (Goldberg)
  let u = 1.0 + x;
  if (u == 1.0) { return x; }
  return log(u) * x / (u - 1.0);
}
fn expm1Of(x: f32) -> f32 {
  if (isNan(x)) { return x; }
  if (abs(x) >= 0.5) { return exp(x) - 1.0; }
  if (abs(x) < 1e-5) { return x + 0.5 * x * x; }
  // (u − 1)·x/log(u) with u = eˣ (Kahan): accurate near 0 without a series
  let u = exp(x);
  if (u == 1.0) { return x; }
  let um1 = u - 1.0;
  if (um1 == -1.0) { return -1.0; }
  return um1 * x / log(u);
}
fn erfOf(x: f32) -> f32 {
  if (isNan(x)) { return x; }
  // Abramowitz–Stegun 7.1.26 is only 1.5e-7 absolute: use the series below 0.5, a rational
  // erfc fit (Numerical Recipes' erfcc, 1.2e-7 relative) above
  let a = abs(x);
  if (a < 0.5) {
    let t = x * x;
    return x * (1.1283791670955126 + t * (-0.37612638903183754 + t * (0.11283791670955126 + t * (-0.026866170645131252 + t * 0.005223977625442188))));
  }
  let z = 1.0 / (1.0 + 0.5 * a);
  let r = z * exp(-a * a - 1.26551223 + z * (1.00002368 + z * (0.37409196 + z * (0.09678418 + z * (-0.18628806 + z * (0.27886807 + z * (-1.13520398 + z * (1.48851587 + z * (-0.82215223 + z * 0.17087277)))))))));
  return sign(x) * (1.0 - r);
}
fn powOf(x: f32, s: f32) -> f32 {
  if (s == 0.0) { return 1.0; }
  if (isNan(x) || isNan(s)) { return nanF32(); }
  let sIsInteger = floor(s) == s && !isInf(s);
  if (x == 0.0) {
    // ±0 to a positive power is 0 (−0 for odd integer powers of −0); to a negative, ∞
    let odd = sIsInteger && abs(s) < 16777216.0 && (i32(abs(s)) % 2) == 1;
    if (s > 0.0) { return select(0.0, x, odd); }
    return select(infF32(), select(infF32(), -infF32(), bitcast<u32>(x) != 0u), odd);
  }
  if (x < 0.0) {
    // Math.pow(−∞, s) for a non-integer s is ∞ or 0; any other negative base gives NaN
    if (!sIsInteger) {
      if (isInf(x)) { return select(0.0, infF32(), s > 0.0); }
      return nanF32();
    }
    let magnitude = exp2(s * log2(-x));
    let odd = abs(s) < 16777216.0 && (i32(abs(s)) % 2) == 1;
    return select(magnitude, -magnitude, odd);
  }
  if (s == 1.0) { return x; }
  if (s == 2.0) { return x * x; }
  if (s == 0.5) { return sqrt(x); }
  return exp2(s * log2(x));
}
// sin (which 0) or cos (1): Cody–Waite reduction by π/2 in three parts, then Cephes's
// float polynomials on [−π/4, π/4]; accurate to a few ulp for |x| < 10⁴
fn sinCos(x: f32, which: i32) -> f32 {
  if (isInf(x)) { return nanF32(); }
  let k = round(x * 0.63661977236758134);
  let r = ((x - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  let q = (i32(k) + which) & 3;
  if (q == 0) { return s; }
  if (q == 1) { return c; }
  if (q == 2) { return -s; }
  return -c;
}
`;

/**
 * Every kernel but these gives NaN for NaN; GPU builtins need not (SwiftShader's exp(NaN)
 * is ∞), so the result is selected explicitly.
 */
const NAN_PASSES_THROUGH = new Set<UnaryKernel>(UNARY_KERNEL_NAMES.filter((k) => k !== 'step' && k !== 'sign' && k !== 'isNaN' && k !== 'isFinite' && k !== 'powScalar'));

function unarySource(kernel: UnaryKernel): KernelSource {
  return {
    name: `unary.${kernel}`,
    code: () => /* wgsl */ `${PRELUDE}${FLOAT_BITS}${UNARY_HELPERS}
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<storage, read> params: array<u32>;
@group(0) @binding(3) var<storage, read> scalars: array<f32>;
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= params[0]) { return; }
  let x = input[i];
  let s = scalars[0];
  output[i] = ${NAN_PASSES_THROUGH.has(kernel) ? `select(${UNARY[kernel]}, x, isNan(x))` : UNARY[kernel]};
}`,
  };
}

const unaryKernels = new Map<UnaryKernel, KernelSource>();

/** out[i] = kernel(x[i]) (`scalar` is pow's exponent). */
export function unary(context: GpuContext, kernel: UnaryKernel, x: GpuInput, out: GpuArray, scalar: number): void {
  let source = unaryKernels.get(kernel);
  if (source === undefined) unaryKernels.set(kernel, (source = unarySource(kernel)));
  context.run(source, { inputs: [x], outputs: [out], ints: [out.length], floats: [scalar], threads: out.length });
}

const BINARY: Record<BinaryKernel, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  // NaN compares false, written out in case a compiler assumes there are none
  greater: 'select(0.0, 1.0, a > b && ordered(a, b))',
  greaterEqual: 'select(0.0, 1.0, a >= b && ordered(a, b))',
  less: 'select(0.0, 1.0, a < b && ordered(a, b))',
  lessEqual: 'select(0.0, 1.0, a <= b && ordered(a, b))',
  equal: 'select(0.0, 1.0, a == b && ordered(a, b))',
  // (a, b) = (y, dy): dy·(y·(1 − y)), dy·(1 − y·y), dy·(x > 0 ? 1 : 0) — a product, so ∞ or NaN dy at x ≤ 0 gives NaN as mul(dy, step(x))
  sigmoidGrad: 'b * (a * (1.0 - a))',
  tanhGrad: 'b * (1.0 - a * a)',
  reluGrad: 'b * select(0.0, 1.0, a > 0.0)',
  // WGSL's max/min leave NaN and signed zeros open: a on ties, NaN from either side
  maximum: 'select(b, a, a >= b || isNan(a))',
  minimum: 'select(b, a, a <= b || isNan(a))',
};

const ORDERED = /* wgsl */ `
fn ordered(a: f32, b: f32) -> bool { return !isNan(a) && !isNan(b); }
`;

function binarySource(kernel: BinaryKernel): KernelSource {
  return {
    name: `binary.${kernel}`,
    code: () => /* wgsl */ `${PRELUDE}${FLOAT_BITS}${ORDERED}
@group(0) @binding(0) var<storage, read> left: array<f32>;
@group(0) @binding(1) var<storage, read> right: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<u32>;
${walkFunction(2)}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= params[0]) { return; }
  let o = offsets(i);
  let a = left[o.x];
  let b = right[o.y];
  output[i] = ${BINARY[kernel]};
}`,
  };
}

const binaryKernels = new Map<BinaryKernel, KernelSource>();

/** out = kernel(a, b), both broadcast to outShape (their shapes right-aligned to its rank). */
export function binary(context: GpuContext, kernel: BinaryKernel, a: GpuInput, aShape: Shape, b: GpuInput, bShape: Shape, out: GpuArray, outShape: Shape): void {
  let source = binaryKernels.get(kernel);
  if (source === undefined) binaryKernels.set(kernel, (source = binarySource(kernel)));
  const ints = walkParams(outShape, [broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)]);
  context.run(source, { inputs: [a, b], outputs: [out], ints, threads: out.length });
}

const WHERE: KernelSource = {
  name: 'elementwise.where',
  code: () => /* wgsl */ `${PRELUDE}${FLOAT_BITS}
@group(0) @binding(0) var<storage, read> condition: array<f32>;
@group(0) @binding(1) var<storage, read> left: array<f32>;
@group(0) @binding(2) var<storage, read> right: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<f32>;
@group(0) @binding(4) var<storage, read> params: array<u32>;
${walkFunction(3)}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= params[0]) { return; }
  let o = offsets(i);
  let c = condition[o.x];
  // a NaN condition is ≠ 0, so it picks a
  output[i] = select(right[o.z], left[o.y], c != 0.0 || isNan(c));
}`,
};

/** out = cond ≠ 0 ? a : b, all three broadcast to outShape. */
export function where(context: GpuContext, cond: GpuInput, condShape: Shape, a: GpuInput, aShape: Shape, b: GpuInput, bShape: Shape, out: GpuArray, outShape: Shape): void {
  const ints = walkParams(outShape, [broadcastStrides(condShape, outShape), broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)]);
  context.run(WHERE, { inputs: [cond, a, b], outputs: [out], ints, threads: out.length });
}

const SUB_SCALED: KernelSource = {
  name: 'elementwise.subScaled',
  code: () => /* wgsl */ `${PRELUDE}
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<storage, read> params: array<u32>;
@group(0) @binding(4) var<storage, read> scalars: array<f32>;
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= params[0]) { return; }
  output[i] = y[i] - scalars[0] * x[i];
}`,
};

/** out = y − s·x (s rounded to float32 on upload); `out` may be y or x. */
export function subScaled(context: GpuContext, y: GpuInput, x: GpuInput, s: number, out: GpuArray): void {
  context.run(SUB_SCALED, { inputs: [y, x], outputs: [out], ints: [out.length], floats: [s], threads: out.length });
}
