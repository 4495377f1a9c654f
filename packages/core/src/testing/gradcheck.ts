import { getBackend } from '../backend/index.js';
import { tensor } from '../creation.js';
import { DTypeError, DeviceTensorError, TapegradError, ValueError, fmt } from '../errors.js';
import { add } from '../ops/arithmetic.js';
import { mul } from '../ops/arithmetic.js';
import { sum } from '../ops/reduce.js';
import { createRng } from '../random.js';
import { noGrad } from '../recording.js';
import { stridesOf } from '../shape.js';
import { vjp } from '../tape.js';
import { Tensor } from '../tensor.js';

/** Options of gradcheck: step, tolerances, order, the cotangent's seed, whether to throw. */
export interface GradcheckOptions {
  /** Central-difference step. Default 1e-6. */
  eps?: number;
  /** Absolute tolerance. Default 1e-5. */
  atol?: number;
  /** Relative tolerance (of the numeric value). Default 1e-3. */
  rtol?: number;
  /** 1 checks first derivatives; 2 also checks the backward pass itself (Hessian-vector products). Default 1. */
  order?: 1 | 2;
  /** Seeds the random output cotangent (and, for order 2, the random direction). Default 0. */
  seed?: number;
  /** Throw a GradcheckError on failure (default) or return the report. */
  raise?: boolean;
}

/** The element where analytic and numeric derivatives disagree most, relative to the tolerance. */
export interface GradcheckMismatch {
  /** Which argument of f. */
  input: number;
  /** The argument's shape. */
  shape: readonly number[];
  /** The element's multi-index inside that argument. */
  index: number[];
  analytic: number;
  numeric: number;
  absError: number;
  relError: number;
  /** Which derivative disagreed: 1 for ∂f, 2 for the derivative of the backward pass. */
  order: 1 | 2;
}

/** What gradcheck found: whether the tape agrees with finite differences, and the worst element if not. */
export interface GradcheckReport {
  ok: boolean;
  /** How many (input, element) derivatives were compared. */
  checked: number;
  /** The worst element seen, failing or not; null when there was nothing to check. */
  worst: GradcheckMismatch | null;
  /** A VJP that ignored its output gradient: a zero cotangent must give zero gradients. */
  zeroCotangentViolation: string | null;
  message: string;
}

export class GradcheckError extends TapegradError {
  readonly report: GradcheckReport;
  constructor(report: GradcheckReport) {
    super('gradcheck', report.message);
    this.report = report;
  }
}

function unravel(flat: number, shape: readonly number[]): number[] {
  return stridesOf(shape).map((s, i) => Math.floor(flat / s) % Math.max(shape[i], 1));
}

function describeMismatch(m: GradcheckMismatch, atol: number, rtol: number): string {
  const what = m.order === 1 ? 'gradient' : 'second derivative (Hessian-vector product)';
  return `${what} mismatch for input ${m.input} ${fmt(m.shape)} at [${m.index.join(',')}]: ` +
    `analytic ${m.analytic} vs numeric ${m.numeric} (abs error ${m.absError.toExponential(3)}, ` +
    `rel error ${m.relError.toExponential(3)}; atol ${atol}, rtol ${rtol})`;
}

/**
 * Compares the tape's gradient of f with central finite differences, in float64.
 *
 * For a non-scalar output, it checks the gradient of ⟨f(θ), r⟩ for a random (seeded)
 * cotangent r: one backward pass instead of one per output element, and any wrong
 * Jacobian entry shows up with probability 1. Each input element costs two evaluations of f.
 * It also checks, as PyTorch does, that a zero cotangent gives zero gradients.
 *
 * On failure it throws (or with `raise: false` returns) the worst element: which input,
 * which index, analytic vs numeric, so the failure explains itself.
 */
export function gradcheck(f: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckReport {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-3, order = 1, seed = 0, raise = true } = options;
  if (!Array.isArray(inputs) || inputs.length === 0) throw new ValueError('gradcheck', 'needs a non-empty array of input tensors');
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new ValueError('gradcheck', `input ${i} is ${typeof t}, not a Tensor`);
    if (t.dtype !== 'float64') {
      throw new DTypeError('gradcheck', `input ${i} ${fmt(t.shape)} is ${t.dtype}: finite differences need float64 (cast it, or create it with { dtype: 'float64' })`);
    }
    if (t.device !== 'cpu') throw new DeviceTensorError('gradcheck', `input ${i} ${fmt(t.shape)} lives on the '${t.device}' device: finite differences perturb and read values synchronously, on the CPU`);
  });
  const backend = getBackend();
  if (backend.memory !== undefined) {
    throw new DeviceTensorError('gradcheck', `the active backend '${backend.name}' keeps values on its device, and finite differences read every value synchronously; run gradcheck on a CPU backend (setBackend('js'))`);
  }
  const rng = createRng(seed);
  const probe = noGrad(() => f(...inputs));
  if (!(probe instanceof Tensor)) throw new ValueError('gradcheck', `f must return a Tensor, got ${typeof probe}`);
  if (probe.dtype !== 'float64') throw new DTypeError('gradcheck', `f returned ${probe.dtype}; keep the computation in float64`);
  const cotangent = probe.size === 1
    ? tensor(new Float64Array(1).fill(1), { shape: probe.shape })
    : tensor(Float64Array.from({ length: probe.size }, () => rng.normal()), { shape: probe.shape });
  const projected = (...xs: Tensor[]) => sum(mul(f(...xs), cotangent));

  const firstOrder = compare(projected, inputs, 1, eps, atol, rtol);

  // a VJP must scale with its cotangent: zero in, zero out
  const [, pullback] = vjp(f, ...inputs);
  let zeroCotangentViolation: string | null = null;
  pullback(tensor(new Float64Array(probe.size), { shape: probe.shape })).forEach((g, i) => {
    const bad = g.data.findIndex((v) => v !== 0);
    if (bad >= 0 && zeroCotangentViolation === null) {
      zeroCotangentViolation = `a zero output gradient gave a non-zero gradient for input ${i} ${fmt(inputs[i].shape)} at [${unravel(bad, inputs[i].shape).join(',')}] (${g.data[bad]})`;
    }
  });

  let secondOrder: ReturnType<typeof compare> | null = null;
  if (order === 2) {
    // h(θ) = Σᵢ ⟨∂⟨f, r⟩/∂θᵢ, uᵢ⟩; its gradient is H·u, so checking h checks the backward pass
    const directions = inputs.map((t) => tensor(Float64Array.from({ length: t.size }, () => rng.normal()), { shape: t.shape }));
    const h = (...xs: Tensor[]) => {
      const [, pull] = vjp(projected, ...xs);
      const grads = pull(tensor(new Float64Array(1).fill(1), { shape: [] }));
      return grads.map((g, i) => sum(mul(g, directions[i]))).reduce((acc, term) => add(acc, term));
    };
    secondOrder = compare(h, inputs, 2, eps * 10, atol * 10, rtol * 10);
  }

  const failures = [firstOrder, secondOrder].filter((c): c is NonNullable<typeof c> => c !== null && !c.ok);
  const worst = failures[0]?.worst ?? firstOrder.worst;
  const ok = failures.length === 0 && zeroCotangentViolation === null;
  const checked = firstOrder.checked + (secondOrder?.checked ?? 0);
  const message = ok
    ? `ok: ${checked} derivatives agree${worst ? ` (worst: input ${worst.input} at [${worst.index.join(',')}], abs error ${worst.absError.toExponential(2)})` : ''}`
    : failures.length > 0
      ? describeMismatch(worst!, failures[0].atol, failures[0].rtol)
      : zeroCotangentViolation!;
  const report: GradcheckReport = { ok, checked, worst, zeroCotangentViolation, message };
  if (!ok && raise) throw new GradcheckError(report);
  return report;
}

function compare(
  scalarFn: (...xs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  order: 1 | 2,
  eps: number,
  atol: number,
  rtol: number,
): { ok: boolean; checked: number; worst: GradcheckMismatch | null; atol: number; rtol: number } {
  const [, pullback] = vjp(scalarFn, ...inputs);
  const analytic = pullback(tensor(new Float64Array(1).fill(1), { shape: [] }));
  // perturb copies, never the caller's tensors
  const copies = inputs.map((t) => t.detach());
  const evaluate = () => noGrad(() => scalarFn(...copies).item());
  let worst: GradcheckMismatch | null = null;
  let worstScore = -1;
  let ok = true;
  let checked = 0;
  copies.forEach((copy, i) => {
    const data = copy.data;
    for (let j = 0; j < data.length; j++) {
      const original = data[j];
      data[j] = original + eps;
      const plus = evaluate();
      data[j] = original - eps;
      const minus = evaluate();
      data[j] = original;
      const numeric = (plus - minus) / (2 * eps);
      const a = analytic[i].data[j];
      const absError = Math.abs(a - numeric);
      const tolerance = atol + rtol * Math.abs(numeric);
      const score = Number.isNaN(absError) ? Infinity : absError / tolerance;
      if (!(absError <= tolerance)) ok = false;
      if (score > worstScore) {
        worstScore = score;
        worst = {
          input: i, shape: copy.shape, index: unravel(j, copy.shape), analytic: a, numeric,
          absError, relError: absError / Math.max(Math.abs(numeric), Number.MIN_VALUE), order,
        };
      }
      checked++;
    }
  });
  return { ok, checked, worst, atol, rtol };
}
