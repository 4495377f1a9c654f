/**
 * First order against second order, on a problem small enough to solve exactly: logistic
 * regression on two moons with cubic features (9 monomials of the two coordinates and a
 * bias, 10 parameters), binary cross-entropy plus a small L2 penalty, float64. The cost is
 * strictly convex, so it has one minimum C*; we find it once with Newton-CG, then count how
 * many iterations each method needs to come within --tolerance of it from θ = 0:
 *
 * - gradient descent (nn's SGD on the full batch) with the largest step that is safe
 *   everywhere, 1/L, where L bounds the Hessian's eigenvalues (found with `hvp`, below);
 * - L-BFGS, which builds a model of the inverse Hessian from the gradients it has seen;
 * - Newton-CG, which solves H·p = −∇C by conjugate gradients, each CG iteration one
 *   Hessian-vector product from core's `hvp` (reverse over reverse: no Hessian is ever formed).
 *
 * Monomials such as u and u³ are strongly correlated, so the cost's valleys are long and
 * narrow (the Hessian is ill-conditioned): gradient descent zigzags down them, one small step
 * at a time, while the second-order methods rescale the directions by the curvature.
 *
 *   pnpm exec tsx examples/second-order/main.ts [--tolerance 1e-6] [--max-iterations 100000] [--points 200]
 */
import { type Tensor, Tape, add, createRng, hvp, matmul, noGrad, stack, tensor, zeros } from '@tapegrad/core';
import { LBFGS, NewtonCG, type Optimizer, SGD, binaryCrossEntropyFromLogits, l2Penalty } from '@tapegrad/nn';
import { moons } from '@tapegrad/datasets';
import { readOptions } from '../shared/options.js';

const { tolerance, 'max-iterations': maxIterations, points } = readOptions({
  tolerance: { kind: 'positive', default: 1e-6, help: 'number > 0' },
  'max-iterations': { kind: 'count', default: 100000, help: 'N ≥ 1' },
  points: { kind: 'count', default: 200, min: 10, help: 'N ≥ 10' },
});

// ---- the problem ----------------------------------------------------------------------

const LAMBDA = 1e-3;
const data = moons(points, { noise: 0.2, seed: 1 });
const [u, v] = [data.x.data.subarray(0, points), data.x.data.subarray(points)];
// features as rows, examples as columns: Φ is [9, points]
const monomials: Array<[string, (a: number, b: number) => number]> = [
  ['u', (a) => a], ['v', (_, b) => b],
  ['u²', (a) => a * a], ['uv', (a, b) => a * b], ['v²', (_, b) => b * b],
  ['u³', (a) => a ** 3], ['u²v', (a, b) => a * a * b], ['uv²', (a, b) => a * b * b], ['v³', (_, b) => b ** 3],
];
const features = stack(monomials.map(([, f]) => tensor(Array.from(u, (a, m) => f(a, v[m])), { dtype: 'float64' })));

/** C(w, b) = BCE(σ(w·Φ + b), y) + (λ/2)‖w‖²: a function of the parameter tensors only, as hvp needs. */
const costAt = (w: Tensor, b: Tensor): Tensor =>
  add(binaryCrossEntropyFromLogits(add(matmul(w, features), b), data.y), l2Penalty([w], LAMBDA));

const w = zeros([1, monomials.length], { dtype: 'float64' });
const b = zeros([1, 1], { dtype: 'float64' });
const params = [w, b];
const objective = () => costAt(w, b);
const size = w.size + b.size;

function setParams(values: ArrayLike<number>): void {
  noGrad(() => {
    w.assign(Array.from(values).slice(0, w.size));
    b.assign(Array.from(values).slice(w.size));
  });
}
const flat = (ts: readonly Tensor[]): number[] => ts.flatMap((t) => Array.from(t.data));
const dot = (a: readonly number[], c: readonly number[]) => a.reduce((s, ai, i) => s + ai * c[i], 0);
const norm = (a: readonly number[]) => Math.sqrt(dot(a, a));
/** H·d at the current θ, d given as one flat vector. */
const hessianTimes = (d: readonly number[]): number[] =>
  flat(hvp(costAt, params, [tensor(d.slice(0, w.size), { shape: w.shape, dtype: 'float64' }), tensor(d.slice(w.size), { shape: b.shape, dtype: 'float64' })]));
function gradientAt(theta: readonly number[]): number[] {
  setParams(theta);
  const tape = new Tape();
  const c = tape.record(objective);
  return flat(tape.gradient(c, params));
}

// ---- 1. one Hessian-vector product, checked against a finite difference of gradients ----
// Hv is the directional derivative of the gradient along v:
//   H·v ≈ (∇C(θ + εv) − ∇C(θ − εv)) / 2ε, with an error of order ε²‖∇³C‖
const rng = createRng(7);
const theta = Array.from({ length: size }, () => rng.normal() * 0.5);
const direction = Array.from({ length: size }, () => rng.normal());
const eps = 1e-5;
setParams(theta);
const exact = hessianTimes(direction);
const plus = gradientAt(theta.map((t, i) => t + eps * direction[i]));
const minus = gradientAt(theta.map((t, i) => t - eps * direction[i]));
const numeric = plus.map((p, i) => (p - minus[i]) / (2 * eps));
const difference = norm(exact.map((h, i) => h - numeric[i])) / norm(numeric);
console.log(`logistic regression on ${points} moons points, features ${monomials.map(([name]) => name).join(' ')} and a bias: ${size} parameters, L2 λ = ${LAMBDA}`);
console.log(`Hessian-vector product at a random θ: ‖Hv‖ = ${norm(exact).toPrecision(6)}, relative difference from central differences of gradients (ε = 1e-5): ${difference.toExponential(2)}`);

// ---- 2. the step size of gradient descent -------------------------------------------------
// σ′(z) = σ(1 − σ) ≤ ¼ with equality at z = 0, so the Hessian (1/M)·Φ̃ᵀdiag(σ′)Φ̃ + λI′ is
// largest at θ = 0: L = λ_max(H(0)) bounds the curvature everywhere, and 1/L is the largest
// constant step with which gradient descent is sure to descend. Power iteration finds it
// from Hessian-vector products alone.
setParams(new Array(size).fill(0));
let eigenvector = Array.from({ length: size }, () => rng.normal());
let L = 0;
for (let i = 0; i < 100; i++) {
  const hv = hessianTimes(eigenvector);
  L = norm(hv) / norm(eigenvector);
  eigenvector = hv;
}
console.log(`largest curvature at θ = 0 (power iteration on hvp): L = ${L.toPrecision(6)}, so gradient descent steps with lr = 1/L = ${(1 / L).toPrecision(4)}`);

// ---- 3. the minimum, and the race to it ---------------------------------------------------

interface Run {
  name: string;
  iterations: number;
  reached: boolean;
  gradients: number;
  hessianVectorProducts: number;
  cost: number;
  milliseconds: number;
}

/**
 * Runs an optimiser from θ = 0 until C ≤ target: each iteration is one gradient on a fresh
 * tape, then one `step`. L-BFGS evaluates more costs and gradients in its line search,
 * Newton-CG takes Hessian-vector products and evaluates the cost for its trust-region ratio
 * test; both report how many.
 */
function race(name: string, optimizer: Optimizer, target: number, limit: number): Run {
  setParams(new Array(size).fill(0));
  const started = performance.now();
  let gradients = 0;
  let cost = NaN;
  let iterations = 0;
  for (; ; iterations++) {
    const tape = new Tape();
    const c = tape.record(objective);
    const grads = tape.gradient(c, params);
    gradients++;
    cost = c.item();
    if (cost <= target || iterations === limit) break;
    optimizer.step(params, grads, objective);
  }
  const extra = optimizer instanceof LBFGS || optimizer instanceof NewtonCG ? optimizer.evaluations : 0;
  const hessianVectorProducts = optimizer instanceof NewtonCG ? optimizer.hessianVectorProducts : 0;
  return { name, iterations, reached: cost <= target, gradients: gradients + extra, hessianVectorProducts, cost, milliseconds: performance.now() - started };
}

// C* itself: Newton-CG with a CG iteration per parameter is Newton's method here, and
// converges quadratically; 50 iterations are far more than it needs to reach rounding level
const reference = race('reference', new NewtonCG({ cgIterations: size, toleranceGrad: 0 }), -Infinity, 50);
const minimum = reference.cost;
const target = minimum + tolerance;
console.log(`minimum C* = ${minimum.toFixed(12)}; target C ≤ C* + ${tolerance}\n`);

const runs = [
  race('gradient descent', new SGD({ lr: 1 / L }), target, maxIterations),
  race('L-BFGS', new LBFGS({ historySize: 10 }), target, maxIterations),
  race('Newton-CG', new NewtonCG({ cgIterations: size }), target, maxIterations),
];
// 'C/∇C evals' counts every evaluation of the objective: one gradient per iteration, plus, for
// L-BFGS, its line search's trial points (each a cost and a gradient) and the cost it starts from,
// and for Newton-CG the costs of its ratio test (at θ and at each trial step)
console.log('method              iterations  C/∇C evals  Hv products  C − C*      ms');
for (const r of runs) {
  const iterations = r.reached ? String(r.iterations) : `>${r.iterations}`;
  console.log(
    `${r.name.padEnd(18)}  ${iterations.padStart(10)}  ${String(r.gradients).padStart(10)}  ${String(r.hessianVectorProducts).padStart(11)}` +
    `  ${(r.cost - minimum).toExponential(2).padStart(9)}  ${r.milliseconds.toFixed(0).padStart(6)}`,
  );
}
const [gd, lbfgs, newton] = runs;
if (gd.reached && lbfgs.reached && newton.reached) {
  console.log(`\ngradient descent needs ${(gd.iterations / lbfgs.iterations).toFixed(0)}× the iterations of L-BFGS and ${(gd.iterations / newton.iterations).toFixed(0)}× those of Newton-CG`);
}
