import { getBackend } from './backend/index.js';
import { placedTensor, zeros, zerosLike } from './creation.js';
import { ShapeError, ValueError, fmt } from './errors.js';
import { add, mul } from './ops/arithmetic.js';
import { reshape, stack } from './ops/layout.js';
import { sum } from './ops/reduce.js';
import { sameShape } from './shape.js';
import { stagingBuffer } from './storage.js';
import { Tape, gradientOfRecording, grad as reverseGrad } from './tape.js';
import { Tensor } from './tensor.js';

/**
 * Forward mode beside the reverse mode it mirrors (tape.ts), by linearise-and-transpose
 * rather than a second set of per-op rules: every op's VJP u ↦ Jᵀu is linear in the
 * cotangent u and is itself recorded in tape ops, so differentiating ⟨Jᵀu, v⟩ with respect
 * to u gives J·v. Every op with a VJP therefore has a JVP, with no rule to keep in step.
 *
 * Cost: one forward pass, one backward pass recorded on an outer tape (the linearisation),
 * then one reverse pass over that recorded backward per tangent — about 2–3 reverse passes
 * for a single jvp, and one more reverse pass for each further tangent through `linearize`.
 */

function checkTangents(op: string, primals: readonly Tensor[], tangents: readonly Tensor[]): void {
  if (primals.length !== tangents.length) throw new ValueError(op, `${tangents.length} tangents for ${primals.length} primals`);
  primals.forEach((p, i) => {
    const t = tangents[i];
    if (!(p instanceof Tensor) || !(t instanceof Tensor)) throw new ValueError(op, `primal ${i} and tangent ${i} must be Tensors`);
    if (!sameShape(p.shape, t.shape)) throw new ShapeError(op, `tangent ${i} has shape ${fmt(t.shape)} but primal ${i} has shape ${fmt(p.shape)}`);
    if (p.dtype !== t.dtype) throw new ValueError(op, `tangent ${i} is ${t.dtype} but primal ${i} is ${p.dtype}`);
  });
}

/**
 * Linearises f at primals: returns f(primals) and the function v ↦ J·v (the Jacobian of f
 * times one tangent per primal, shaped like the output). The forward and backward pass run
 * once; each call of the returned function costs one reverse pass over the recorded
 * backward pass. Use it to push many tangents through one point (a forward-mode Jacobian).
 */
export function linearize(f: (...xs: Tensor[]) => Tensor, primals: readonly Tensor[]): [Tensor, (tangents: readonly Tensor[]) => Tensor] {
  primals.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new ValueError('linearize', `primal ${i} is ${typeof p}, not a Tensor`);
  });
  const outer = new Tape({ persistent: true });
  let output: Tensor | undefined;
  let cotangent: Tensor | undefined;
  // Jᵀu as a recorded function of the placeholder cotangent u (its value is irrelevant: the map is linear)
  const transposed = outer.record(() => {
    const inner = new Tape();
    const y = inner.record(() => f(...primals));
    if (!(y instanceof Tensor)) throw new ValueError('jvp', `the function must return a Tensor, got ${typeof y}`);
    output = y;
    cotangent = zerosLike(y);
    return gradientOfRecording(inner, y, [...primals], cotangent);
  });
  const u = cotangent!;
  const push = (tangents: readonly Tensor[]): Tensor => {
    checkTangents('jvp', primals, tangents);
    const pairing = outer.record(() => transposed.map((g, i) => sum(mul(g, tangents[i]))).reduce((a, b) => add(a, b)));
    return gradientOfRecording(outer, pairing, [u])[0];
  };
  return [output!, push];
}

/**
 * Jacobian-vector product (forward mode): `jvp(f, primals, tangents)` returns
 * `[f(...primals), J·tangents]`, the directional derivative of f along the tangents (one per
 * primal, each shaped like it). Works for every op that has a VJP (linearise-and-transpose,
 * see linearize); about 2–3 reverse passes. Results are recorded like any op, so jvp
 * composes with grad (forward-over-reverse Hessian-vector products, for instance).
 */
export function jvp(f: (...xs: Tensor[]) => Tensor, primals: readonly Tensor[], tangents: readonly Tensor[]): [Tensor, Tensor] {
  checkTangents('jvp', primals, tangents);
  const [output, push] = linearize(f, primals);
  return [output, push(tangents)];
}

/** Options of jacobian: reverse or forward mode. */
export interface JacobianOptions {
  /**
   * 'rev' (default): one reverse pass per output element, the cheaper choice when the
   * output is smaller than the input. 'fwd': one forward-mode product per input element
   * (after one linearisation), cheaper when the input is smaller.
   */
  mode?: 'rev' | 'fwd';
}

function oneHotLike(like: Tensor, position: number): Tensor {
  // set on the CPU, then placed as zerosLike would be (on the device, if the backend has one)
  const data = stagingBuffer(getBackend(), like.dtype, like.size);
  data[position] = 1;
  return placedTensor(data, like.shape, like.dtype);
}

/**
 * The Jacobian of f at x, shaped `[...f(x).shape, ...x.shape]` (PyTorch's
 * torch.autograd.functional.jacobian layout): entry [i…, j…] is ∂f(x)[i…]/∂x[j…].
 */
export function jacobian(f: (x: Tensor) => Tensor, x: Tensor, options: JacobianOptions = {}): Tensor {
  if (!(x instanceof Tensor)) throw new ValueError('jacobian', `x is ${typeof x}, not a Tensor`);
  const mode = options.mode ?? 'rev';
  if (mode !== 'rev' && mode !== 'fwd') throw new ValueError('jacobian', `mode must be 'rev' or 'fwd', got '${String(mode)}'`);
  if (mode === 'fwd') {
    const [y, push] = linearize((v) => f(v), [x]);
    // column j of the Jacobian is J·e_j, shaped like y
    const columns = Array.from({ length: x.size }, (_, j) => push([oneHotLike(x, j)]));
    if (columns.length === 0) return zerosOf([...y.shape, ...x.shape], x);
    return reshape(stack(columns, y.rank), [...y.shape, ...x.shape]);
  }
  const tape = new Tape({ persistent: true });
  const y = tape.record(() => f(x));
  if (!(y instanceof Tensor)) throw new ValueError('jacobian', `the function must return a Tensor, got ${typeof y}`);
  // row i of the Jacobian is e_iᵀJ, shaped like x
  const rows = Array.from({ length: y.size }, (_, i) => gradientOfRecording(tape, y, [x], oneHotLike(y, i))[0]);
  if (rows.length === 0) return zerosOf([...y.shape, ...x.shape], x);
  return reshape(stack(rows, 0), [...y.shape, ...x.shape]);
}

function zerosOf(shape: number[], like: Tensor): Tensor {
  return zeros(shape, { dtype: like.dtype });
}

/**
 * The Hessian of a scalar function at x, shaped `[...x.shape, ...x.shape]`: the reverse-mode
 * Jacobian of the gradient (one Hessian-vector product per element of x). For products with
 * a few directions, hvp costs far less than forming it.
 */
export function hessian(f: (x: Tensor) => Tensor, x: Tensor): Tensor {
  if (!(x instanceof Tensor)) throw new ValueError('hessian', `x is ${typeof x}, not a Tensor`);
  return jacobian(reverseGrad((v: Tensor) => f(v)), x, { mode: 'rev' });
}
