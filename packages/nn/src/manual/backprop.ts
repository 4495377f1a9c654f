import {
  type Backend, type DType, type Tensor, type TypedArray, ShapeError, ValueError, getBackend, Tensor as TensorClass,
} from '@tapegrad/core';
import type { Activation } from '../activations.js';
import type { Dense } from '../layers/dense.js';
import type { LossName } from '../losses.js';
import type { ManualStage } from './cnn.js';

/**
 * Backpropagation written out by hand, BP1–BP4 of BACKPROP.md, on the backend's matrix
 * kernels and no tape: the derivation of the seeds made executable, to compare the tape
 * against. Examples are columns; M is the batch size.
 *
 *   forward   Zˡ = Wˡ Aˡ⁻¹ + bˡ,  Aˡ = fₗ(Zˡ)
 *   BP1       Δᴸ = (1/M) ∂L/∂Aᴸ ⊙ f′ᴸ(Zᴸ)     (closed forms below where f and L pair up)
 *   BP2       Δˡ = ((Wˡ⁺¹)ᵀ Δˡ⁺¹) ⊙ f′ₗ(Zˡ)
 *   BP3       ∂C/∂Wˡ = Δˡ (Aˡ⁻¹)ᵀ
 *   BP4       ∂C/∂bˡ = Δˡ 𝟙
 *
 * This (with its convolutional half, manual/cnn.ts) is the one place in @tapegrad/nn with
 * gradient math, on purpose.
 */

export interface ManualLayerGradients {
  /** Zˡ and Aˡ of the forward pass. */
  z: Tensor;
  a: Tensor;
  /** Δˡ = ∂C/∂Zˡ, from BP1 (output layer) or BP2. */
  delta: Tensor;
  /** ∂C/∂Wˡ (BP3) and ∂C/∂bˡ (BP4). */
  dW: Tensor;
  db: Tensor;
}

/** What manualBackprop returns: the cost and, per layer, Δˡ and the gradients from BP1–BP4. */
export interface ManualBackpropResult {
  /** The cost C, computed by hand too (the third witness, finite differences, needs it). */
  cost: number;
  /** One entry per Dense layer, l = 1..L (for a CNN: its dense head, in order). */
  layers: ManualLayerGradients[];
  /**
   * One entry per layer of the model, in order, whatever its kind (Conv2d, pools, Flatten,
   * activation layers, Dense), each with its Δ and its parameters' gradients: see manual/cnn.ts.
   */
  stages: ManualStage[];
  /** ∂C/∂X, the error handed down to the input itself (X's shape; for images, a saliency map). */
  dX: Tensor;
  /** Which BP1 was used: a closed form of BACKPROP.md, or the general Hadamard (Jacobian) form. */
  bp1: 'sigmoid+bce' | 'softmax+cce' | 'mse' | 'general';
}

/** Options of manualBackprop: an L2 penalty, and BP1's closed or general form. */
export interface ManualBackpropOptions {
  /** Weight decay λ of `l2Penalty` (applied to the weights W and kernels K, not the biases): adds λWˡ to BP3 (λK to ∂C/∂K). */
  l2?: number;
  /** Force the general form of BP1 even where a closed form applies (to test one against the other). */
  bp1?: 'closed' | 'general';
}

/** Buffers plus the one shape they carry: [rows, columns]. */
export interface Matrix {
  data: TypedArray;
  rows: number;
  cols: number;
}

export function alloc(dtype: DType, rows: number, cols: number): Matrix {
  return { data: dtype === 'float64' ? new Float64Array(rows * cols) : new Float32Array(rows * cols), rows, cols };
}

export function toTensor(m: Matrix, dtype: DType): Tensor {
  return new TensorClass(m.data, [m.rows, m.cols], dtype);
}

/** f′(Z) from what the forward pass kept (BACKPROP.md's table). Softmax is not element-wise: see applyActivationVjp. */
function derivative(kernels: Backend, f: Activation, z: Matrix, a: Matrix, dtype: DType): Matrix {
  const out = alloc(dtype, z.rows, z.cols);
  const n = out.data.length;
  switch (f) {
    case 'sigmoid': for (let i = 0; i < n; i++) out.data[i] = a.data[i] * (1 - a.data[i]); break;
    case 'tanh': for (let i = 0; i < n; i++) out.data[i] = 1 - a.data[i] * a.data[i]; break;
    // relu′(0) = 0, as in core's relu
    case 'relu': kernels.unary('step', z.data, out.data, 0); break;
    case 'identity': out.data.fill(1); break;
    case 'softmax': throw new ValueError('manualBackprop', 'softmax has no element-wise derivative');
  }
  return out;
}

/**
 * Δ = Jᵀ g column by column, for the activation's Jacobian J at the layer: the Hadamard
 * product g ⊙ f′(Z) for element-wise f; for softmax (one column's units couple) the
 * product with diag(s) − s sᵀ, i.e. s ⊙ (g − ⟨s, g⟩).
 */
export function applyActivationVjp(kernels: Backend, f: Activation, g: Matrix, z: Matrix, a: Matrix, dtype: DType): Matrix {
  const out = alloc(dtype, g.rows, g.cols);
  if (f !== 'softmax') {
    kernels.binary('mul', g.data, [g.rows, g.cols], derivative(kernels, f, z, a, dtype).data, [g.rows, g.cols], out.data, [g.rows, g.cols]);
    return out;
  }
  const { rows, cols } = g;
  for (let m = 0; m < cols; m++) {
    let dot = 0;
    for (let i = 0; i < rows; i++) dot += a.data[i * cols + m] * g.data[i * cols + m];
    for (let i = 0; i < rows; i++) out.data[i * cols + m] = a.data[i * cols + m] * (g.data[i * cols + m] - dot);
  }
  return out;
}

export function forwardActivation(kernels: Backend, f: Activation, z: Matrix, dtype: DType): Matrix {
  const a = alloc(dtype, z.rows, z.cols);
  switch (f) {
    case 'sigmoid': case 'relu': case 'tanh': kernels.unary(f, z.data, a.data, 0); break;
    case 'identity': a.data.set(z.data); break;
    case 'softmax': {
      const { rows, cols } = z;
      for (let m = 0; m < cols; m++) {
        let max = -Infinity;
        for (let i = 0; i < rows; i++) max = Math.max(max, z.data[i * cols + m]);
        let total = 0;
        for (let i = 0; i < rows; i++) total += (a.data[i * cols + m] = Math.exp(z.data[i * cols + m] - max));
        for (let i = 0; i < rows; i++) a.data[i * cols + m] /= total;
      }
      break;
    }
  }
  return a;
}

/** Same ε as the tape's losses, so both clip at the same points. */
const epsilonOf = (dtype: DType) => (dtype === 'float64' ? 1e-12 : 1e-7);

/**
 * The per-example loss summed over the batch (C·M), and ∂L/∂A for the general BP1 (the sum
 * over examples of ∂Lᵐ/∂aᵐ, not yet divided by M).
 */
export function lossAndGradient(loss: LossName, output: Activation, z: Matrix, a: Matrix, y: Matrix, dtype: DType): { total: number; dA: Matrix } {
  const dA = alloc(dtype, a.rows, a.cols);
  const eps = epsilonOf(dtype);
  let total = 0;
  const n = a.data.length;
  for (let i = 0; i < n; i++) {
    const p = a.data[i];
    const t = y.data[i];
    switch (loss) {
      case 'mse':
        total += 0.5 * (t - p) * (t - p);
        dA.data[i] = p - t;
        break;
      case 'bce': {
        if (output === 'sigmoid') {
          // the cost the tape computes from the logits: softplus(z) − y·z
          const zi = z.data[i];
          total += Math.max(zi, 0) + Math.log1p(Math.exp(-Math.abs(zi))) - t * zi;
        } else {
          const q = Math.min(Math.max(p, eps), 1 - eps);
          total += -(t * Math.log(q) + (1 - t) * Math.log(1 - q));
        }
        const clipped = p < eps || p > 1 - eps;
        dA.data[i] = clipped ? 0 : -t / p + (1 - t) / (1 - p);
        break;
      }
      case 'cce': {
        if (output !== 'softmax') {
          const q = Math.min(Math.max(p, eps), 1);
          total += -t * Math.log(q);
        }
        dA.data[i] = p < eps || p > 1 ? 0 : -t / p;
        break;
      }
    }
  }
  if (loss === 'cce' && output === 'softmax') {
    // −Σ y log softmax(z), through the stable log-softmax the tape uses
    const { rows, cols } = z;
    for (let m = 0; m < cols; m++) {
      let max = -Infinity;
      for (let i = 0; i < rows; i++) max = Math.max(max, z.data[i * cols + m]);
      let sumExp = 0;
      for (let i = 0; i < rows; i++) sumExp += Math.exp(z.data[i * cols + m] - max);
      const lse = max + Math.log(sumExp);
      for (let i = 0; i < rows; i++) total += -y.data[i * cols + m] * (z.data[i * cols + m] - lse);
    }
  }
  return { total, dA };
}

export function matrixOf(t: Tensor, what: string): Matrix {
  if (t.rank !== 2) throw new ShapeError('manualBackprop', `${what} must be a matrix, got [${t.shape.join(',')}]`);
  return { data: t.data, rows: t.shape[0], cols: t.shape[1] };
}

/** The forward pass of one Dense layer: Zˡ = Wˡ Aˡ⁻¹ + bˡ, Aˡ = fₗ(Zˡ). */
export function denseForward(kernels: Backend, layer: Dense, prev: Matrix, dtype: DType): { z: Matrix; a: Matrix } {
  const M = prev.cols;
  const z = alloc(dtype, layer.outFeatures, M);
  kernels.matmul(layer.W.data, prev.data, z.data, layer.outFeatures, layer.inFeatures, M, false, false);
  kernels.binary('add', z.data, [z.rows, M], layer.b.data, [layer.outFeatures, 1], z.data, [z.rows, M]);
  return { z, a: forwardActivation(kernels, layer.activation, z, dtype) };
}

export type Bp1Form = ManualBackpropResult['bp1'];

/**
 * BP1: the output layer's error Δᴸ from its Zᴸ and Aᴸ (activation f), and the per-example
 * losses summed over the batch (C·M).
 */
export function outputError(kernels: Backend, loss: LossName, f: Activation, zL: Matrix, aL: Matrix, y: Matrix, dtype: DType, form: ManualBackpropOptions['bp1']): { total: number; delta: Matrix; bp1: Bp1Form } {
  const M = zL.cols;
  const { total, dA } = lossAndGradient(loss, f, zL, aL, y, dtype);
  const closed = form !== 'general';
  if (closed && ((f === 'sigmoid' && loss === 'bce') || (f === 'softmax' && loss === 'cce'))) {
    // f′ cancels against ∂L/∂A: Δᴸ = (Aᴸ − Y)/M
    const delta = alloc(dtype, zL.rows, M);
    for (let i = 0; i < delta.data.length; i++) delta.data[i] = (aL.data[i] - y.data[i]) / M;
    return { total, delta, bp1: f === 'sigmoid' ? 'sigmoid+bce' : 'softmax+cce' };
  }
  // general form: Δᴸ = (1/M) Jᵀ ∂L/∂Aᴸ, the Hadamard product for element-wise f
  // (for MSE this is BACKPROP.md's closed form (Aᴸ − Y) ⊙ f′(Zᴸ)/M)
  for (let i = 0; i < dA.data.length; i++) dA.data[i] /= M;
  const delta = applyActivationVjp(kernels, f, dA, zL, aL, dtype);
  return { total, delta, bp1: loss === 'mse' && f !== 'softmax' && closed ? 'mse' : 'general' };
}

/**
 * BP3 and BP4 at one Dense layer from its Δˡ and input Aˡ⁻¹ (plus λWˡ for weight decay), and
 * (Wˡ)ᵀ Δˡ = ∂C/∂Aˡ⁻¹, the error handed down before BP2's Hadamard product with f′ₗ₋₁.
 */
export function denseBackward(kernels: Backend, layer: Dense, delta: Matrix, prev: Matrix, dtype: DType, l2: number | undefined): { dW: Matrix; db: Matrix; back: Matrix } {
  const M = delta.cols;
  const dW = alloc(dtype, layer.outFeatures, layer.inFeatures);
  kernels.matmul(delta.data, prev.data, dW.data, layer.outFeatures, M, layer.inFeatures, false, true); // BP3: Δˡ (Aˡ⁻¹)ᵀ
  if (l2) for (let i = 0; i < dW.data.length; i++) dW.data[i] += l2 * layer.W.data[i];
  const db = alloc(dtype, layer.outFeatures, 1);
  kernels.reduce('sum', delta.data, [layer.outFeatures, M], [1], db.data); // BP4: Δˡ 𝟙
  const back = alloc(dtype, layer.inFeatures, M);
  kernels.matmul(layer.W.data, delta.data, back.data, layer.inFeatures, layer.outFeatures, M, true, false); // (Wˡ)ᵀ Δˡ
  return { dW, db, back };
}

/**
 * BP1–BP4 for a plain MLP (Dense layers only), on input X ∈ R^{d₀×M} and targets
 * Y ∈ R^{d_L×M}: every layer's Δˡ, ∂C/∂Wˡ and ∂C/∂bˡ, with no tape involved.
 * `manualBackprop` (manual/index.ts) sends every other Sequential to manual/cnn.ts.
 */
export function denseBackprop(layers: readonly Dense[], names: readonly string[], X: Tensor, Y: Tensor, loss: LossName, options: ManualBackpropOptions = {}): ManualBackpropResult {
  const kernels = getBackend();
  const dtype = X.dtype;
  const M = X.shape[1];
  const x = matrixOf(X, 'X');
  const y = matrixOf(Y, 'Y');
  if (x.rows !== layers[0].inFeatures) throw new ShapeError('manualBackprop', `X has ${x.rows} rows but the first layer expects ${layers[0].inFeatures} features`);
  const last = layers[layers.length - 1];
  if (y.rows !== last.outFeatures || y.cols !== M) throw new ShapeError('manualBackprop', `Y is [${y.rows},${y.cols}] but the output is [${last.outFeatures},${M}]`);
  for (const layer of layers) {
    if (layer.W.dtype !== dtype) throw new ValueError('manualBackprop', `X is ${dtype} but a layer's weights are ${layer.W.dtype}`);
  }

  // forward pass: keep every Zˡ and Aˡ
  const zs: Matrix[] = [];
  const as: Matrix[] = [x];
  for (const layer of layers) {
    const { z, a } = denseForward(kernels, layer, as[as.length - 1], dtype);
    zs.push(z);
    as.push(a);
  }

  // BP1: the output layer's error
  const L = layers.length;
  const { total, delta: deltaL, bp1 } = outputError(kernels, loss, last.activation, zs[L - 1], as[L], y, dtype, options.bp1);
  let delta = deltaL;
  let dX: Matrix = x;

  // BP2 down the layers, BP3 and BP4 at each
  const result: ManualLayerGradients[] = new Array(L);
  for (let l = L - 1; l >= 0; l--) {
    const { dW, db, back } = denseBackward(kernels, layers[l], delta, as[l], dtype, options.l2);
    result[l] = { z: toTensor(zs[l], dtype), a: toTensor(as[l + 1], dtype), delta: toTensor(delta, dtype), dW: toTensor(dW, dtype), db: toTensor(db, dtype) };
    if (l > 0) delta = applyActivationVjp(kernels, layers[l - 1].activation, back, zs[l - 1], as[l], dtype); // BP2
    else dX = back;
  }

  let cost = total / M;
  if (options.l2) {
    let squares = 0;
    for (const layer of layers) for (const w of layer.W.data) squares += w * w;
    cost += (options.l2 / 2) * squares;
  }
  const stages: ManualStage[] = result.map((r, l) => ({ kind: 'Dense', index: l, name: names[l], output: r.a, ...r }));
  return { cost, layers: result, stages, dX: toTensor(dX, dtype), bp1 };
}
