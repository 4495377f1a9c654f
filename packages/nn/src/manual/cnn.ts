import {
  type Backend, type DType, type Padding2, type Size2, type Tensor, type TypedArray, ShapeError, ValueError, getBackend, Tensor as TensorClass,
} from '@tapegrad/core';
import { GELU, ReLU, Sigmoid, Tanh } from '../layers/activation.js';
import { Conv2d } from '../layers/conv.js';
import { Dense } from '../layers/dense.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import { AvgPool2d, MaxPool2d } from '../layers/pool.js';
import type { LossName } from '../losses.js';
import type { Module } from '../module.js';
import type { Sequential } from '../sequential.js';
import {
  type ManualBackpropOptions, type ManualBackpropResult, type ManualLayerGradients, type Matrix,
  alloc, applyActivationVjp, denseBackward, denseForward, outputError, toTensor,
} from './backprop.js';

/**
 * Backpropagation through a convolutional network, by hand: the classic CNN equations on
 * plain typed-array loops and no tape, to hold the tape against, layer by layer. The dense
 * head after Flatten runs BP1–BP4 of manual/backprop.ts unchanged.
 *
 * Images put examples first, as PyTorch: Aˡ⁻¹ ∈ R^{M×C×H×W}, kernel Kˡ ∈ R^{O×C×kH×kW}, bias
 * bˡ ∈ R^O; stride s, padding P, dilation d, written for the rows (the columns alike, with
 * j, q, W). A is read as 0 outside the image (in the padding).
 *
 *   forward     Zˡ[m,o,i,j] = bˡ[o] + Σ_c Σ_p Σ_q Kˡ[o,c,p,q] · Aˡ⁻¹[m, c, s·i − P + d·p, s·j − P + d·q]
 *   error       Δˡ := ∂C/∂Zˡ, the shape of Zˡ
 *
 *   BP2-act     ∂C/∂Z = ∂C/∂A ⊙ f′(Z)                          an activation layer A = f(Z): BP2's Hadamard half
 *   BP2-conv    ∂C/∂Aˡ⁻¹ = Δ̃ˡ ⊛ rot180(Kˡ), a full convolution:
 *               ∂C/∂Aˡ⁻¹[m,c,h,w] = Σ_o Σ_p Σ_q Kˡ[o, c, kH−1−p, kW−1−q] · Δ̃ˡ[m, o, h + P − d·(kH−1) + d·p, …]
 *               where Δ̃ˡ is Δˡ dilated by the stride (s − 1 zeros between neighbours), read as 0
 *               outside: the full convolution pads it by d·(kH−1) − P
 *   BP3-conv    ∂C/∂Kˡ[o,c,p,q] = Σ_m Σ_i Σ_j Δˡ[m,o,i,j] · Aˡ⁻¹[m, c, s·i − P + d·p, s·j − P + d·q]
 *               (a correlation of the input with the error)
 *   BP4-conv    ∂C/∂bˡ[o] = Σ_m Σ_i Σ_j Δˡ[m,o,i,j]
 *   max pool    ∂C/∂A[m,c,h,w] = Σ over the windows (i,j) whose maximum A[m,c,h,w] is: ∂C/∂Y[m,c,i,j] / tᵢⱼ,
 *               tᵢⱼ the number of elements of window (i,j) equal to its maximum (ties share, as
 *               core's maxPool2d; padding reads −∞ and never wins)
 *   avg pool    ∂C/∂A[m,c,h,w] = Σ over the windows (i,j) holding (h,w): ∂C/∂Y[m,c,i,j] / nᵢⱼ,
 *               nᵢⱼ = kH·kW (countIncludePad, the default) or the window's elements inside the image
 *   Flatten     ∂C/∂A[m,c,h,w] = ∂C/∂F[(c·H + h)·W + w, m]           a reshape: nothing to compute
 *   Dense head  BP1–BP4; into Flatten, BP2 stops at (Wˡ⁺¹)ᵀΔˡ⁺¹ (Flatten has no f′)
 *
 * With groups G, o and c run over the same group and K's second index is c's place in it.
 */

/** The layer kinds the hand derivation covers, named as their classes. */
export type ManualStageKind = 'Dense' | 'Conv2d' | 'MaxPool2d' | 'AvgPool2d' | 'Flatten' | 'ReLU' | 'Tanh' | 'Sigmoid' | 'GELU' | 'Dropout';

interface StageCommon {
  /** 0-based position of the layer in the model. */
  index: number;
  /** Its name in the model (its index, or its key when built from an object). */
  name: string;
  /** The layer's output as the next layer sees it (Aˡ for Dense, Zˡ for Conv2d). */
  output: Tensor;
  /**
   * The layer's error: ∂C/∂Zˡ for Dense and Conv2d (before the activation, whose own layer
   * follows a Conv2d), ∂C/∂(output) for pools, Flatten and activation layers.
   */
  delta: Tensor;
}

/** A Dense layer: Zˡ, Aˡ, Δˡ and BP3/BP4's ∂C/∂Wˡ and ∂C/∂bˡ. */
export interface ManualDenseStage extends StageCommon, ManualLayerGradients {
  kind: 'Dense';
}

/** A Conv2d layer: Zˡ [M, O, outH, outW], Δˡ, BP3-conv's ∂C/∂Kˡ [O, C/G, kH, kW] and BP4-conv's ∂C/∂bˡ [O] (null without bias). */
export interface ManualConvStage extends StageCommon {
  kind: 'Conv2d';
  z: Tensor;
  dK: Tensor;
  db: Tensor | null;
}

/** A layer without parameters: pools, Flatten, activation layers, Dropout in evaluation mode. */
export interface ManualPassStage extends StageCommon {
  kind: Exclude<ManualStageKind, 'Dense' | 'Conv2d'>;
}

/** One layer of the hand derivation, with what it computed: a Dense, Conv2d or pass-through stage. */
export type ManualStage = ManualDenseStage | ManualConvStage | ManualPassStage;

/** A layer the hand derivation does not cover (BatchNorm, attention, Dropout in training mode, …). */
export class UnsupportedLayerError extends ValueError {
  /** The layer's name in the model. */
  readonly layer: string;
  constructor(layer: string, detail: string) {
    super('manualBackprop', `layer '${layer}' ${detail}`);
    this.layer = layer;
  }
}

/** A buffer and its shape: images [M, C, H, W] or matrices [rows, columns]. */
interface Block {
  data: TypedArray;
  shape: number[];
}

function block(dtype: DType, shape: number[]): Block {
  const size = shape.reduce((a, b) => a * b, 1);
  return { data: dtype === 'float64' ? new Float64Array(size) : new Float32Array(size), shape };
}

const asMatrix = (b: Block): Matrix => ({ data: b.data, rows: b.shape[0], cols: b.shape[1] });
const asBlock = (m: Matrix): Block => ({ data: m.data, shape: [m.rows, m.cols] });
const tensorOf = (b: Block, dtype: DType): Tensor => new TensorClass(b.data, b.shape, dtype);
const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

// ---- window geometry, resolved as core's conv2d and pools resolve it -------------------

/** Where the windows of a conv or pool fall: one row of numbers per axis. */
interface Window {
  kH: number; kW: number;
  strideH: number; strideW: number;
  /** Padding before the first row / column ('same' may pad one more after the last). */
  padH: number; padW: number;
  dilationH: number; dilationW: number;
  outH: number; outW: number;
}

function pairOf(v: Size2 | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

function windowOf(layer: string, kernel: [number, number], stride: Size2 | undefined, padding: Padding2 | undefined, dilation: Size2 | undefined, [H, W]: [number, number]): Window {
  const [kH, kW] = kernel;
  const [strideH, strideW] = pairOf(stride, NaN);
  const [dilationH, dilationW] = pairOf(dilation, 1);
  const extentH = dilationH * (kH - 1) + 1, extentW = dilationW * (kW - 1) + 1;
  let padH: number, padW: number, outH: number, outW: number;
  if (padding === 'same') {
    if (strideH !== 1 || strideW !== 1) throw new ValueError('manualBackprop', `layer '${layer}': padding 'same' needs stride 1, got stride [${strideH},${strideW}]`);
    // the odd pixel of an even extent goes after the last row, as core (and PyTorch) do
    [padH, padW] = [Math.floor((extentH - 1) / 2), Math.floor((extentW - 1) / 2)];
    [outH, outW] = [H, W];
  } else {
    [padH, padW] = padding === 'valid' ? [0, 0] : pairOf(padding, 0);
    outH = Math.floor((H + 2 * padH - extentH) / strideH) + 1;
    outW = Math.floor((W + 2 * padW - extentW) / strideW) + 1;
  }
  if (!(outH >= 1 && outW >= 1)) throw new ShapeError('manualBackprop', `layer '${layer}': the window ${kH}×${kW} does not fit the padded input ${H + 2 * padH}×${W + 2 * padW}`);
  return { kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW };
}

// ---- Conv2d ----------------------------------------------------------------------------

/** Z = K ⋆ A + b, the forward equation term by term. */
function convForward(layer: Conv2d, A: Block, win: Window, dtype: DType): Block {
  const [M, C, H, W] = A.shape;
  const O = layer.outChannels, G = layer.groups, Cg = C / G, Og = O / G;
  const { kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = win;
  const K = layer.W.data, b = layer.b?.data, a = A.data;
  const Z = block(dtype, [M, O, outH, outW]);
  for (let m = 0; m < M; m++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let i = 0; i < outH; i++) {
        for (let j = 0; j < outW; j++) {
          let z = b ? b[o] : 0;
          for (let cl = 0; cl < Cg; cl++) {
            const c = g * Cg + cl;
            for (let p = 0; p < kH; p++) {
              const h = i * strideH - padH + p * dilationH;
              if (h < 0 || h >= H) continue; // padding reads 0
              for (let q = 0; q < kW; q++) {
                const w = j * strideW - padW + q * dilationW;
                if (w < 0 || w >= W) continue;
                z += K[((o * Cg + cl) * kH + p) * kW + q] * a[((m * C + c) * H + h) * W + w];
              }
            }
          }
          Z.data[((m * O + o) * outH + i) * outW + j] = z;
        }
      }
    }
  }
  return Z;
}

/** Δ̃: Δ with s − 1 zeros between neighbouring entries, so a stride-s layer's error lines up with its input. */
function dilateByStride(delta: Block, strideH: number, strideW: number, dtype: DType): Block {
  const [M, O, outH, outW] = delta.shape;
  const tallH = (outH - 1) * strideH + 1, tallW = (outW - 1) * strideW + 1;
  const dilated = block(dtype, [M, O, tallH, tallW]);
  for (let mo = 0; mo < M * O; mo++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) dilated.data[(mo * tallH + i * strideH) * tallW + j * strideW] = delta.data[(mo * outH + i) * outW + j];
    }
  }
  return dilated;
}

/** BP2-conv: ∂C/∂Aˡ⁻¹ = full convolution of the stride-dilated error Δ̃ with the flipped kernel. */
function convInputError(layer: Conv2d, delta: Block, inputShape: number[], win: Window, dtype: DType): Block {
  const [M, C, H, W] = inputShape;
  const O = layer.outChannels, G = layer.groups, Cg = C / G, Og = O / G;
  const { kH, kW, padH, padW, dilationH, dilationW } = win;
  const tilde = dilateByStride(delta, win.strideH, win.strideW, dtype);
  const [, , tallH, tallW] = tilde.shape;
  // "full": Δ̃ is padded by d·(k − 1) − P, so the flipped kernel's first tap lands there
  const offsetH = dilationH * (kH - 1) - padH, offsetW = dilationW * (kW - 1) - padW;
  const K = layer.W.data;
  const dA = block(dtype, inputShape);
  for (let m = 0; m < M; m++) {
    for (let c = 0; c < C; c++) {
      const g = Math.floor(c / Cg), cl = c - g * Cg;
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          let sum = 0;
          for (let o = g * Og; o < (g + 1) * Og; o++) {
            for (let p = 0; p < kH; p++) {
              const t = h - offsetH + p * dilationH;
              if (t < 0 || t >= tallH) continue;
              for (let q = 0; q < kW; q++) {
                const u = w - offsetW + q * dilationW;
                if (u < 0 || u >= tallW) continue;
                const flipped = K[((o * Cg + cl) * kH + (kH - 1 - p)) * kW + (kW - 1 - q)]; // rot180(K)[o,c,p,q]
                sum += flipped * tilde.data[((m * O + o) * tallH + t) * tallW + u];
              }
            }
          }
          dA.data[((m * C + c) * H + h) * W + w] = sum;
        }
      }
    }
  }
  return dA;
}

/** BP3-conv and BP4-conv: ∂C/∂K as a correlation of the input with the error, ∂C/∂b as Δ summed over examples and positions. */
function convParameterGradients(layer: Conv2d, delta: Block, A: Block, win: Window, dtype: DType, l2: number | undefined): { dK: Block; db: Block | null } {
  const [M, C, H, W] = A.shape;
  const O = layer.outChannels, G = layer.groups, Cg = C / G, Og = O / G;
  const { kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = win;
  const dK = block(dtype, [O, Cg, kH, kW]);
  for (let o = 0; o < O; o++) {
    const g = Math.floor(o / Og);
    for (let cl = 0; cl < Cg; cl++) {
      const c = g * Cg + cl;
      for (let p = 0; p < kH; p++) {
        for (let q = 0; q < kW; q++) {
          let sum = 0;
          for (let m = 0; m < M; m++) {
            for (let i = 0; i < outH; i++) {
              const h = i * strideH - padH + p * dilationH;
              if (h < 0 || h >= H) continue;
              for (let j = 0; j < outW; j++) {
                const w = j * strideW - padW + q * dilationW;
                if (w < 0 || w >= W) continue;
                sum += delta.data[((m * O + o) * outH + i) * outW + j] * A.data[((m * C + c) * H + h) * W + w];
              }
            }
          }
          const k = ((o * Cg + cl) * kH + p) * kW + q;
          dK.data[k] = l2 ? sum + l2 * layer.W.data[k] : sum;
        }
      }
    }
  }
  if (layer.b === null) return { dK, db: null };
  const db = block(dtype, [O]);
  for (let o = 0; o < O; o++) {
    let sum = 0;
    for (let m = 0; m < M; m++) for (let ij = 0; ij < outH * outW; ij++) sum += delta.data[(m * O + o) * outH * outW + ij];
    db.data[o] = sum;
  }
  return { dK, db };
}

// ---- pools -----------------------------------------------------------------------------

/**
 * Calls visit(n, i, j, inputIndex) for every image-channel n = m·C + c, output (i, j) and
 * element of its window that lies inside the image (the padding is skipped).
 */
function forEachWindowElement(shape: number[], win: Window, visit: (out: number, input: number) => void, windowDone?: (out: number) => void): void {
  const [M, C, H, W] = shape;
  const { kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = win;
  for (let n = 0; n < M * C; n++) {
    for (let i = 0; i < outH; i++) {
      for (let j = 0; j < outW; j++) {
        const out = (n * outH + i) * outW + j;
        for (let p = 0; p < kH; p++) {
          const h = i * strideH - padH + p * dilationH;
          if (h < 0 || h >= H) continue;
          for (let q = 0; q < kW; q++) {
            const w = j * strideW - padW + q * dilationW;
            if (w >= 0 && w < W) visit(out, (n * H + h) * W + w);
          }
        }
        windowDone?.(out);
      }
    }
  }
}

function pooledShape(A: Block, win: Window): number[] {
  return [A.shape[0], A.shape[1], win.outH, win.outW];
}

function maxPoolForward(A: Block, win: Window, dtype: DType): Block {
  const Y = block(dtype, pooledShape(A, win));
  Y.data.fill(-Infinity); // padding reads −∞
  forEachWindowElement(A.shape, win, (out, input) => {
    const v = A.data[input];
    if (!Number.isNaN(Y.data[out]) && !(v <= Y.data[out])) Y.data[out] = v; // NaN propagates, as core's max
  });
  return Y;
}

/** Max pool: each window's error goes to its maximum, shared equally among tied maxima. */
function maxPoolInputError(A: Block, Y: Block, dY: Block, win: Window, dtype: DType): Block {
  const ties = new Float64Array(Y.data.length);
  forEachWindowElement(A.shape, win, (out, input) => {
    if (A.data[input] === Y.data[out]) ties[out]++;
  });
  const dA = block(dtype, A.shape);
  forEachWindowElement(A.shape, win, (out, input) => {
    if (A.data[input] === Y.data[out]) dA.data[input] += dY.data[out] / ties[out];
  });
  return dA;
}

/** nᵢⱼ: kH·kW with countIncludePad (padding counts), else the window's elements inside the image. */
function averageDivisors(A: Block, win: Window, countIncludePad: boolean): Float64Array {
  const n = new Float64Array(A.shape[0] * A.shape[1] * win.outH * win.outW);
  if (countIncludePad) n.fill(win.kH * win.kW);
  else forEachWindowElement(A.shape, win, (out) => n[out]++);
  return n;
}

function avgPoolForward(A: Block, win: Window, divisors: Float64Array, dtype: DType): Block {
  const sums = new Float64Array(divisors.length);
  forEachWindowElement(A.shape, win, (out, input) => {
    sums[out] += A.data[input];
  });
  const Y = block(dtype, pooledShape(A, win));
  for (let k = 0; k < sums.length; k++) Y.data[k] = sums[k] / divisors[k];
  return Y;
}

/** Average pool: each window's error spread evenly, 1/nᵢⱼ to every element inside it. */
function avgPoolInputError(A: Block, dY: Block, win: Window, divisors: Float64Array, dtype: DType): Block {
  const dA = block(dtype, A.shape);
  forEachWindowElement(A.shape, win, (out, input) => {
    dA.data[input] += dY.data[out] / divisors[out];
  });
  return dA;
}

// ---- Flatten and activation layers -----------------------------------------------------

/** [M, C, H, W] → [C·H·W, M] (example m's column is x[m] flattened), and back for the error. */
function flattenForward(A: Block, dtype: DType): Block {
  const M = A.shape[0], F = A.data.length / M;
  const out = block(dtype, [F, M]);
  for (let m = 0; m < M; m++) for (let f = 0; f < F; f++) out.data[f * M + m] = A.data[m * F + f];
  return out;
}

function flattenInputError(dF: Block, inputShape: number[], dtype: DType): Block {
  const [F, M] = dF.shape;
  const dA = block(dtype, inputShape);
  for (let m = 0; m < M; m++) for (let f = 0; f < F; f++) dA.data[m * F + f] = dF.data[f * M + m];
  return dA;
}

type ActivationKind = 'ReLU' | 'Tanh' | 'Sigmoid' | 'GELU';

function activationForward(kernels: Backend, kind: ActivationKind, Z: Block, dtype: DType): Block {
  const A = block(dtype, Z.shape);
  switch (kind) {
    case 'ReLU': kernels.unary('relu', Z.data, A.data, 0); break;
    case 'Tanh': kernels.unary('tanh', Z.data, A.data, 0); break;
    case 'Sigmoid': kernels.unary('sigmoid', Z.data, A.data, 0); break;
    case 'GELU': {
      // exact GELU, z·Φ(z) with Φ(z) = ½(1 + erf(z/√2)), as core's gelu
      const erf = erfOfScaled(kernels, Z, dtype);
      for (let k = 0; k < A.data.length; k++) A.data[k] = Z.data[k] * 0.5 * (erf[k] + 1);
      break;
    }
  }
  return A;
}

function erfOfScaled(kernels: Backend, Z: Block, dtype: DType): TypedArray {
  const scaled = block(dtype, Z.shape);
  for (let k = 0; k < Z.data.length; k++) scaled.data[k] = Z.data[k] * Math.SQRT1_2;
  kernels.unary('erf', scaled.data, scaled.data, 0);
  return scaled.data;
}

/** BP2-act: ∂C/∂Z = ∂C/∂A ⊙ f′(Z), f′ from what the forward pass kept (BACKPROP.md's table; GELU′ = Φ(z) + z·φ(z)). */
function activationInputError(kernels: Backend, kind: ActivationKind, Z: Block, A: Block, dA: Block, dtype: DType): Block {
  const dZ = block(dtype, Z.shape);
  const n = dZ.data.length;
  switch (kind) {
    // relu′(0) = 0, as in core's relu
    case 'ReLU': for (let k = 0; k < n; k++) dZ.data[k] = Z.data[k] > 0 ? dA.data[k] : 0; break;
    case 'Tanh': for (let k = 0; k < n; k++) dZ.data[k] = dA.data[k] * (1 - A.data[k] * A.data[k]); break;
    case 'Sigmoid': for (let k = 0; k < n; k++) dZ.data[k] = dA.data[k] * A.data[k] * (1 - A.data[k]); break;
    case 'GELU': {
      const erf = erfOfScaled(kernels, Z, dtype);
      const density = 1 / Math.sqrt(2 * Math.PI);
      for (let k = 0; k < n; k++) {
        const z = Z.data[k];
        dZ.data[k] = dA.data[k] * (0.5 * (erf[k] + 1) + z * density * Math.exp(-0.5 * z * z));
      }
      break;
    }
  }
  return dZ;
}

// ---- the network -----------------------------------------------------------------------

/** One layer, classified, with what its backward equation needs from the forward pass. */
type Step =
  | { kind: 'Dense'; layer: Dense; z?: Matrix }
  | { kind: 'Conv2d'; layer: Conv2d; win?: Window }
  | { kind: 'MaxPool2d'; layer: MaxPool2d; win?: Window }
  | { kind: 'AvgPool2d'; layer: AvgPool2d; win?: Window; divisors?: Float64Array }
  | { kind: 'Flatten' | 'Dropout' }
  | { kind: ActivationKind };

const SUPPORTED = 'Conv2d, MaxPool2d, AvgPool2d, Flatten, Dense, ReLU, Tanh, Sigmoid, GELU and Dropout in evaluation mode';

function classify(layer: Module, name: string): Step {
  if (layer instanceof Dense) return { kind: 'Dense', layer };
  if (layer instanceof Conv2d) return { kind: 'Conv2d', layer };
  if (layer instanceof MaxPool2d) return { kind: 'MaxPool2d', layer };
  if (layer instanceof AvgPool2d) return { kind: 'AvgPool2d', layer };
  if (layer instanceof Flatten) return { kind: 'Flatten' };
  if (layer instanceof ReLU) return { kind: 'ReLU' };
  if (layer instanceof Tanh) return { kind: 'Tanh' };
  if (layer instanceof Sigmoid) return { kind: 'Sigmoid' };
  if (layer instanceof GELU) return { kind: 'GELU' };
  if (layer instanceof Dropout) {
    if (layer.training && layer.p > 0) throw new UnsupportedLayerError(name, `(Dropout, p = ${layer.p}) is in training mode: its random mask is not part of the hand derivation; call model.eval() first`);
    return { kind: 'Dropout' };
  }
  const type = (layer as { constructor?: { name?: string } }).constructor?.name ?? 'Module';
  throw new UnsupportedLayerError(name, `(${type}) has no hand-derived backprop; supported: ${SUPPORTED}`);
}

function expectImages(step: Step, name: string, A: Block, channels?: number): [number, number] {
  if (A.shape.length !== 4 || (channels !== undefined && A.shape[1] !== channels)) {
    throw new ShapeError('manualBackprop', `layer '${name}' (${step.kind}) expects images [M, ${channels ?? 'C'}, H, W], got ${fmt(A.shape)}`);
  }
  return [A.shape[2], A.shape[3]];
}

/** The pool's kernel as a pair, with core's (PyTorch's) bound: padding at most half the kernel. */
function checkPoolPadding(name: string, kernelSize: Size2, padding: Size2 | undefined): [number, number] {
  const [kH, kW] = pairOf(kernelSize, NaN);
  const [padH, padW] = pairOf(padding, 0);
  if (2 * padH > kH || 2 * padW > kW) throw new ValueError('manualBackprop', `layer '${name}': padding [${padH},${padW}] must be at most half the kernel size [${kH},${kW}]`);
  return [kH, kW];
}

/** The forward pass of one layer, filling in the step's geometry (what its backward needs). */
function forwardStep(kernels: Backend, step: Step, name: string, A: Block, dtype: DType): Block {
  switch (step.kind) {
    case 'Dense': {
      if (A.shape.length !== 2 || A.shape[0] !== step.layer.inFeatures) {
        throw new ShapeError('manualBackprop', `layer '${name}' (Dense) expects [${step.layer.inFeatures}, M] (features × examples; a Flatten before it turns images into that), got ${fmt(A.shape)}`);
      }
      const { z, a } = denseForward(kernels, step.layer, asMatrix(A), dtype);
      step.z = z;
      return asBlock(a);
    }
    case 'Conv2d': {
      const { layer } = step;
      const size = expectImages(step, name, A, layer.inChannels);
      step.win = windowOf(name, [layer.kernelSize[0], layer.kernelSize[1]], layer.stride, layer.padding, layer.dilation, size);
      return convForward(layer, A, step.win, dtype);
    }
    case 'MaxPool2d': {
      const { kernelSize, options } = step.layer;
      const kernel = checkPoolPadding(name, kernelSize, options.padding);
      step.win = windowOf(name, kernel, options.stride ?? kernelSize, options.padding, options.dilation, expectImages(step, name, A));
      return maxPoolForward(A, step.win, dtype);
    }
    case 'AvgPool2d': {
      const { kernelSize, options } = step.layer;
      step.win = windowOf(name, checkPoolPadding(name, kernelSize, options.padding), options.stride ?? kernelSize, options.padding, 1, expectImages(step, name, A));
      step.divisors = averageDivisors(A, step.win, options.countIncludePad ?? true);
      return avgPoolForward(A, step.win, step.divisors, dtype);
    }
    case 'Flatten':
      if (A.shape.length < 2) throw new ShapeError('manualBackprop', `layer '${name}' (Flatten) expects a batch [M, …], got ${fmt(A.shape)}`);
      return flattenForward(A, dtype);
    case 'Dropout':
      return A;
    default:
      return activationForward(kernels, step.kind, A, dtype);
  }
}

/** What the forward pass kept: each layer's step (with its geometry), input and output. */
interface ForwardPass {
  steps: Step[];
  names: readonly string[];
  /** inputs[l] = Aˡ⁻¹ (inputs[0] = X); outputs[l] = the output of layer l. */
  inputs: Block[];
  outputs: Block[];
  /** The cost C (its data term, before weight decay, times M) and its BP1 error at the output. */
  total: number;
  outputDelta: Matrix;
  bp1: ManualBackpropResult['bp1'];
  M: number;
}

function runForward(kernels: Backend, model: Sequential, X: Tensor, Y: Tensor, loss: LossName, bp1Form: ManualBackpropOptions['bp1']): ForwardPass {
  const dtype = X.dtype;
  const names = model.names;
  const steps = model.layers.map((layer, l) => classify(layer, names[l]));
  for (const [name, p] of Object.entries(model.parameters())) {
    if (p.dtype !== dtype) throw new ValueError('manualBackprop', `X is ${dtype} but parameter '${name}' is ${p.dtype}`);
  }
  if (Y.rank !== 2) throw new ShapeError('manualBackprop', `Y must be a matrix [units, examples], got ${fmt(Y.shape)}`);
  const inputs: Block[] = [];
  const outputs: Block[] = [];
  let a: Block = { data: X.data, shape: [...X.shape] };
  steps.forEach((step, l) => {
    inputs.push(a);
    a = forwardStep(kernels, step, names[l], a, dtype);
    outputs.push(a);
  });
  const M = Y.shape[1];
  if (a.shape.length !== 2 || a.shape[0] !== Y.shape[0] || a.shape[1] !== M) throw new ShapeError('manualBackprop', `Y is ${fmt(Y.shape)} but the output is ${fmt(a.shape)}`);
  // BP1: a Dense output pairs its activation with the loss (closed forms); any other last
  // layer is scored as it is, as fit and cost do
  const last = steps[steps.length - 1];
  const y: Matrix = { data: Y.data, rows: Y.shape[0], cols: M };
  const { total, delta, bp1 } = last.kind === 'Dense'
    ? outputError(kernels, loss, last.layer.activation, last.z!, asMatrix(a), y, dtype, bp1Form)
    : outputError(kernels, loss, 'identity', asMatrix(a), asMatrix(a), y, dtype, bp1Form);
  return { steps, names, inputs, outputs, total, outputDelta: delta, bp1, M };
}

/** The weights weight decay acts on: Dense's W and Conv2d's kernel (fit's L2 decays both; biases not). */
function decayedWeights(steps: readonly Step[]): Tensor[] {
  return steps.flatMap((s) => (s.kind === 'Dense' || s.kind === 'Conv2d' ? [s.layer.W] : []));
}

function costOf(pass: ForwardPass, l2: number | undefined): number {
  let cost = pass.total / pass.M;
  if (l2) {
    let squares = 0;
    for (const w of decayedWeights(pass.steps)) for (const v of w.data) squares += v * v;
    cost += (l2 / 2) * squares;
  }
  return cost;
}

/**
 * The hand-derived backward pass for any Sequential of the supported layers (manualBackprop
 * sends plain MLPs to backprop.ts's BP1–BP4, which this reproduces for them). X is a batch of
 * images [M, C, H, W] (or a matrix [features, M] when the model starts with Dense), Y the
 * targets [units, M].
 */
export function cnnBackprop(model: Sequential, X: Tensor, Y: Tensor, loss: LossName, options: ManualBackpropOptions = {}): ManualBackpropResult {
  const kernels = getBackend();
  const dtype = X.dtype;
  const pass = runForward(kernels, model, X, Y, loss, options.bp1);
  const { steps, names, inputs, outputs } = pass;
  const L = steps.length;
  const stages: ManualStage[] = new Array(L);
  // the error arriving from above: ∂C/∂(output of layer l); at the top, BP1's
  let error: Block = asBlock(pass.outputDelta);
  for (let l = L - 1; l >= 0; l--) {
    const step = steps[l];
    const A = inputs[l];
    const common = { index: l, name: names[l], output: tensorOf(outputs[l], dtype) };
    let down: Block;
    switch (step.kind) {
      case 'Dense': {
        // BP1 already gave the output layer's Δᴸ = ∂C/∂Zᴸ; below it, BP2's Hadamard half
        const delta = l === L - 1 ? asMatrix(error) : applyActivationVjp(kernels, step.layer.activation, asMatrix(error), step.z!, asMatrix(outputs[l]), dtype);
        const { dW, db, back } = denseBackward(kernels, step.layer, delta, asMatrix(A), dtype, options.l2);
        const gradients: ManualLayerGradients = { z: toTensor(step.z!, dtype), a: common.output, delta: toTensor(delta, dtype), dW: toTensor(dW, dtype), db: toTensor(db, dtype) };
        stages[l] = { kind: 'Dense', ...common, ...gradients };
        down = asBlock(back);
        break;
      }
      case 'Conv2d': {
        // Δˡ = ∂C/∂Zˡ is the error arriving: the activation after a conv is its own layer
        const { dK, db } = convParameterGradients(step.layer, error, A, step.win!, dtype, options.l2);
        stages[l] = { kind: 'Conv2d', ...common, z: common.output, delta: tensorOf(error, dtype), dK: tensorOf(dK, dtype), db: db && tensorOf(db, dtype) };
        down = convInputError(step.layer, error, A.shape, step.win!, dtype);
        break;
      }
      case 'MaxPool2d':
        stages[l] = { kind: step.kind, ...common, delta: tensorOf(error, dtype) };
        down = maxPoolInputError(A, outputs[l], error, step.win!, dtype);
        break;
      case 'AvgPool2d':
        stages[l] = { kind: step.kind, ...common, delta: tensorOf(error, dtype) };
        down = avgPoolInputError(A, error, step.win!, step.divisors!, dtype);
        break;
      case 'Flatten':
        stages[l] = { kind: step.kind, ...common, delta: tensorOf(error, dtype) };
        down = flattenInputError(error, A.shape, dtype);
        break;
      case 'Dropout':
        stages[l] = { kind: step.kind, ...common, delta: tensorOf(error, dtype) };
        down = error;
        break;
      default:
        stages[l] = { kind: step.kind, ...common, delta: tensorOf(error, dtype) };
        down = activationInputError(kernels, step.kind, A, outputs[l], error, dtype);
    }
    error = down;
  }
  const layers = stages.filter((s): s is ManualDenseStage => s.kind === 'Dense').map(({ z, a, delta, dW, db }) => ({ z, a, delta, dW, db }));
  return { cost: costOf(pass, options.l2), layers, stages, dX: tensorOf(error, dtype), bp1: pass.bp1 };
}

/**
 * The cost alone (no backward pass) and a signature of the network's kinks at this point:
 * which relu units are on and which elements win each max-pool window. checkBackprop's finite
 * differences skip an entry whose ±ε step changes the signature (the quotient then blends two slopes).
 */
export function manualCostAndKinks(model: Sequential, X: Tensor, Y: Tensor, loss: LossName): { cost: number; kinks: string } {
  const pass = runForward(getBackend(), model, X, Y, loss, undefined);
  const parts = pass.steps.map((step, l) => {
    const A = pass.inputs[l];
    switch (step.kind) {
      case 'Dense': return step.layer.activation === 'relu' ? Array.from(step.z!.data, (z) => (z > 0 ? 1 : 0)).join('') : '';
      case 'ReLU': return Array.from(A.data, (z) => (z > 0 ? 1 : 0)).join('');
      case 'MaxPool2d': {
        const winners: number[] = [];
        forEachWindowElement(A.shape, step.win!, (out, input) => {
          if (A.data[input] === pass.outputs[l].data[out]) winners.push(input);
        }, () => winners.push(-1));
        return winners.join(',');
      }
      default: return '';
    }
  });
  return { cost: costOf(pass, undefined), kinks: parts.join('|') };
}
