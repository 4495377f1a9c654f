/**
 * The ops grid: single ops of the architectures beyond the MLP, each framework on its own
 * tensors, in GFLOP/s. Not part of BENCH-PROTOCOL's tasks (T1–T4 train whole networks); these
 * time the kernels a CNN or a transformer spends its step in:
 *
 * - batched matmul, attention-shaped: [8,4,64,32]·[8,4,32,64] (batch 8, 4 heads, 64 tokens, head dim 32)
 * - conv2d forward + backward (y = conv(x, w), then ∂⟨y, r⟩/∂x and /∂w for a fixed cotangent r),
 *   at LeNet-5's first two layers (batch 64) and a ResNet-ish 3×3 64→64 layer at 32×32 (batch 32)
 *
 * Operands are uniform in [−1, 1) from mulberry32, in PyTorch's layouts (NCHW images, OIHW
 * kernels); a framework with another native layout (TF.js: NHWC, HWIO) converts once, outside
 * the timed region, and converts its results back for the check.
 */
import { mulberry32 } from './protocol.js';

export type OpCase =
  | { kind: 'bmm'; id: string; label: string; a: number[]; b: number[] }
  | {
    kind: 'conv2d'; id: string; label: string; x: [number, number, number, number]; w: [number, number, number, number]; stride: number; padding: number;
    /** forward only (y), or forward and both gradients (y, dx, dw) */
    backward: boolean;
  };

/**
 * A convolution forward + backward (what training costs) and forward alone (inference; and
 * the only pass TF.js's wasm backend has: it registers no Conv2DBackpropFilter kernel).
 */
function convCases(id: string, what: string, x: [number, number, number, number], w: [number, number, number, number], padding: number): OpCase[] {
  const label = `${what} ${x.join('×')} * ${w.join('×')}${padding ? ` pad ${padding}` : ''}`;
  return [
    { kind: 'conv2d', id: `conv-${id} f+b`, label: `${label}, forward + backward`, x, w, stride: 1, padding, backward: true },
    { kind: 'conv2d', id: `conv-${id} fwd`, label: `${label}, forward`, x, w, stride: 1, padding, backward: false },
  ];
}

export const OP_CASES: readonly OpCase[] = [
  { kind: 'bmm', id: 'bmm-attention', label: 'bmm [8,4,64,32]·[8,4,32,64]', a: [8, 4, 64, 32], b: [8, 4, 32, 64] },
  ...convCases('lenet1', 'LeNet conv1', [64, 1, 28, 28], [6, 1, 5, 5], 2),
  ...convCases('lenet2', 'LeNet conv2', [64, 6, 14, 14], [16, 6, 5, 5], 0),
  ...convCases('resnet', 'ResNet-ish 3×3', [32, 64, 32, 32], [64, 64, 3, 3], 1),
];

export const TINY_OP_CASES: readonly OpCase[] = [
  { kind: 'bmm', id: 'bmm-tiny', label: 'bmm [2,2,8,4]·[2,2,4,8]', a: [2, 2, 8, 4], b: [2, 2, 4, 8] },
  ...convCases('tiny', 'conv', [2, 3, 8, 8], [4, 3, 3, 3], 1),
];

const size = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

export function convOutShape(c: Extract<OpCase, { kind: 'conv2d' }>): [number, number, number, number] {
  const [n, , h, w] = c.x;
  const [o, , kh, kw] = c.w;
  return [n, o, Math.floor((h + 2 * c.padding - kh) / c.stride) + 1, Math.floor((w + 2 * c.padding - kw) / c.stride) + 1];
}

/** Floating-point operations: 2mkn per product; a convolution's forward, dX and dW each cost 2·N·O·oH·oW·C·kH·kW. */
export function opFlops(c: OpCase): number {
  if (c.kind === 'bmm') {
    const m = c.a[c.a.length - 2], k = c.a[c.a.length - 1], n = c.b[c.b.length - 1];
    return 2 * size(c.a.slice(0, -2)) * m * k * n;
  }
  const [, o, oh, ow] = convOutShape(c);
  const [, ci, kh, kw] = c.w;
  return (c.backward ? 3 : 1) * 2 * c.x[0] * o * oh * ow * ci * kh * kw;
}

/** The case's inputs: bmm [a, b]; conv2d [x, w, r] with r the cotangent of y. */
export function opOperands(c: OpCase): Float32Array[] {
  const shapes = c.kind === 'bmm' ? [c.a, c.b] : [c.x, c.w, convOutShape(c)];
  const rng = mulberry32(11 + shapes.flat().reduce((p, d) => p * 7 + d, 0) % 100_000);
  return shapes.map((s) => {
    const out = new Float32Array(size(s));
    for (let i = 0; i < out.length; i++) out[i] = 2 * rng() - 1;
    return out;
  });
}

/**
 * The shapes of a case's outputs, in the order result() returns them: bmm [c]; conv2d
 * [y, dx, dw] (y too, so a framework that could drop the forward pass — the gradients of
 * ⟨y, r⟩ do not need y — must still compute it).
 */
export function opOutputShapes(c: OpCase): number[][] {
  if (c.kind === 'bmm') {
    const batch = c.a.slice(0, -2);
    return [[...batch, c.a[c.a.length - 2], c.b[c.b.length - 1]]];
  }
  return c.backward ? [convOutShape(c), [...c.x], [...c.w]] : [convOutShape(c)];
}

/**
 * The worst error of a framework's outputs against the float64 reference: max |got − ref|
 * over each output, relative to that output's max |ref| (float32 sums of up to 32k terms
 * stay below 1e-4 of it; a wrong kernel is off by order 1).
 */
export function opError(got: readonly ArrayLike<number>[], reference: readonly ArrayLike<number>[]): number {
  let worst = 0;
  reference.forEach((ref, i) => {
    const out = got[i];
    if (!out || out.length !== ref.length) {
      worst = Infinity;
      return;
    }
    let scale = 0, diff = 0;
    for (let j = 0; j < ref.length; j++) {
      scale = Math.max(scale, Math.abs(ref[j]));
      diff = Math.max(diff, Math.abs(out[j] - ref[j]));
    }
    worst = Math.max(worst, Number.isNaN(diff) ? Infinity : diff / Math.max(scale, 1e-30));
  });
  return worst;
}
