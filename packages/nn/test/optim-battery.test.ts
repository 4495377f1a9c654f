import { afterAll, describe, expect, it } from 'vitest';
import { Tape, type Tensor, add, matmul, mul, noGrad, square, sub, sum, tensor, zeros } from '@tapegrad/core';
import { NewtonCG, type Objective, type OptimizerName, binaryCrossEntropyFromLogits, cost, mlp, optimizer } from '@tapegrad/nn';
import { moons, xor } from '@tapegrad/datasets';

/**
 * Every optimiser against five problems, from its defaults: a convex quadratic, logistic
 * regression, Rosenbrock's valley and two small tanh nets (moons and XOR, 2-8-1, whose costs
 * are non-convex with indefinite Hessians, where an unguarded Newton step diverges). Each
 * must lower the cost; L-BFGS and Newton-CG must also reach their stated tolerance,
 * max|∂C/∂θ| ≤ toleranceGrad (1e-7 by default), where their `step` stops moving.
 *
 * SGD, Momentum and Nesterov have no default learning rate (no value suits every cost's
 * scale): they get the CLI's default 0.1 where it is stable, which it is not where the
 * cost's largest curvature L exceeds 2/0.1 = 20 (Nesterov's bound is lower still): the
 * quadratic (L ≈ 20.1) gets 0.04, Rosenbrock (L ≈ 1200 at the start) 1e-4.
 */

interface Problem {
  params: Tensor[];
  objective: Objective;
}

const f64 = (data: number[], shape?: number[]) => tensor(data, { dtype: 'float64', shape });

/** ½θᵀAθ − bᵀθ, A SPD with condition number ≈ 90, minimum at θ* = [1, −2, 3, 0.5, −1]. */
function quadratic(): Problem {
  const A = [[20, 1, 0, 0, 0], [1, 8, 1, 0, 0], [0, 1, 6, 1, 0], [0, 0, 1, 4, 1], [0, 0, 0, 1, 0.5]];
  const thetaStar = [1, -2, 3, 0.5, -1];
  const b = A.map((row) => row.reduce((s, a, j) => s + a * thetaStar[j], 0));
  const theta = zeros([5, 1], { dtype: 'float64' });
  const At = f64(A.flat(), [5, 5]);
  const bt = f64(b, [5, 1]);
  return { params: [theta], objective: () => sub(mul(sum(mul(theta, matmul(At, theta))), 0.5), sum(mul(bt, theta))) };
}

/** Logistic regression on noisy moons: overlapping classes, so the minimum is finite. */
function logistic(): Problem {
  const data = moons(200, { noise: 0.3, seed: 3 });
  const w = zeros([1, 2], { dtype: 'float64' });
  const b = zeros([1, 1], { dtype: 'float64' });
  return { params: [w, b], objective: () => binaryCrossEntropyFromLogits(add(matmul(w, data.x), b), data.y) };
}

/** (1 − x)² + 100(y − x²)² from (−1.2, 1). */
function rosenbrock(): Problem {
  const x = f64([-1.2]);
  const y = f64([1]);
  return { params: [x, y], objective: () => add(square(sub(1, x)), mul(square(sub(y, square(x))), 100)) };
}

function net(data: { x: Tensor; y: Tensor }, seed: number): Problem {
  const model = mlp([2, 8, 1], { hidden: 'tanh', output: 'sigmoid', dtype: 'float64', seed });
  return {
    params: Object.values(model.parameters()),
    objective: () => {
      const out = model.trace(data.x).layers.at(-1)!;
      return cost('bce', { z: out.z, a: out.a, activation: 'sigmoid' }, data.y);
    },
  };
}

const PROBLEMS: Record<string, () => Problem> = {
  quadratic,
  logistic,
  rosenbrock,
  // the net of issue 15's report: the old damped Newton-CG went 0.55 → 1.1 → … on this one
  'moons 2-8-1': () => net(moons(100, { noise: 0.1 }), 42),
  'xor 2-8-1': () => net(xor(), 7),
};

const NAMES: readonly OptimizerName[] = ['sgd', 'momentum', 'nesterov', 'adam', 'rprop', 'lbfgs', 'newton-cg'];
const SECOND_ORDER: ReadonlySet<OptimizerName> = new Set(['lbfgs', 'newton-cg']);
const TOLERANCE_GRAD = 1e-7; // both L-BFGS's and Newton-CG's default
const STEPS = 200;

const SGD_LR: Record<string, number> = { quadratic: 0.04, rosenbrock: 1e-4 };

function make(name: OptimizerName, problem: string) {
  if (name === 'sgd' || name === 'momentum' || name === 'nesterov') return optimizer(name, { lr: SGD_LR[problem] ?? 0.1 });
  return optimizer(name);
}

interface Run {
  start: number;
  end: number;
  steps: number;
  gradient: number;
  /** Steps after which the cost was higher than before them. */
  increases: number;
}

function lossAndMaxGradient(p: Problem): [number, Tensor[], number] {
  const tape = new Tape();
  const loss = tape.record(p.objective);
  const grads = tape.gradient(loss, p.params);
  return [loss.item(), grads, Math.max(...grads.flatMap((g) => Array.from(g.data, Math.abs)))];
}

function run(name: OptimizerName, problemName: string): Run {
  const problem = PROBLEMS[problemName]();
  const opt = make(name, problemName);
  const start = noGrad(() => problem.objective().item());
  let previous = start;
  let increases = 0;
  let steps = 0;
  let [loss, grads, gradient] = lossAndMaxGradient(problem);
  for (; steps < STEPS; steps++) {
    if (SECOND_ORDER.has(name) && gradient <= TOLERANCE_GRAD) break;
    opt.step(problem.params, grads, problem.objective);
    [loss, grads, gradient] = lossAndMaxGradient(problem);
    if (loss > previous) increases++;
    previous = loss;
  }
  return { start, end: loss, steps, gradient, increases };
}

const table: string[] = [];
afterAll(() => {
  console.log(['problem      optimiser   start        end          steps  max|g|', ...table].join('\n'));
});

describe('optimiser battery: every optimiser from its defaults', () => {
  for (const problemName of Object.keys(PROBLEMS)) {
    describe(problemName, () => {
      it.each(NAMES)('%s lowers the cost', (name) => {
        const r = run(name, problemName);
        table.push(`${problemName.padEnd(12)} ${name.padEnd(11)} ${r.start.toExponential(4).padEnd(12)} ${r.end.toExponential(4).padEnd(12)} ${String(r.steps).padStart(5)}  ${r.gradient.toExponential(1)}`);
        expect(Number.isFinite(r.end)).toBe(true);
        expect(r.end).toBeLessThan(r.start);
        if (SECOND_ORDER.has(name)) {
          // both stop at their tolerance, and neither ever steps uphill (line search, trust region)
          expect(r.gradient, `${name} max|g| after ${r.steps} steps`).toBeLessThanOrEqual(TOLERANCE_GRAD);
          expect(r.increases).toBe(0);
        }
      });
    });
  }
});

describe('Newton-CG in its trust region', () => {
  it('heads for the minimum, not the saddle Newton points at, where the Hessian is indefinite', () => {
    // f = ½(x² − y²) + y⁴/4: a saddle at (0, 0), minima at (0, ±1) with f = −¼. At (1, 0.1)
    // H = diag(1, −0.97), so Newton's step (x, y) − H⁻¹g lands on the saddle; CG meets the
    // negative curvature along y instead and goes to the edge of the region, downhill
    const x = f64([1]);
    const y = f64([0.1]);
    const problem: Problem = { params: [x, y], objective: () => add(mul(sub(square(x), square(y)), 0.5), mul(square(square(y)), 0.25)) };
    const opt = optimizer('newton-cg');
    for (let k = 0; k < 30; k++) opt.step(problem.params, lossAndMaxGradient(problem)[1], problem.objective);
    expect(x.item()).toBeCloseTo(0, 9);
    expect(y.item()).toBeCloseTo(1, 9);
    expect(noGrad(() => problem.objective().item())).toBeCloseTo(-0.25, 12);
  });

  it('never raises the cost of the moons net, whatever the initial weights', () => {
    const data = moons(100, { noise: 0.1 });
    for (const seed of [1, 7, 1001]) {
      const problem = net(data, seed);
      const opt = optimizer('newton-cg');
      let [loss, grads] = lossAndMaxGradient(problem);
      const start = loss;
      for (let k = 0; k < 10; k++) {
        opt.step(problem.params, grads, problem.objective);
        const before = loss;
        [loss, grads] = lossAndMaxGradient(problem);
        expect(loss, `seed ${seed}, step ${k + 1}`).toBeLessThanOrEqual(before);
      }
      expect(loss).toBeLessThan(start / 10);
    }
  });

  it('the first step takes its own length as the radius; a refused step shrinks it to ¼ of the step', () => {
    // Rosenbrock's first Newton step from (−1.2, 1) is accepted whole; with initialRadius 1e-3
    // it is cut to the boundary and, the model being good that close, the radius doubles
    const first = rosenbrock();
    const opt = new NewtonCG();
    expect(opt.radius).toBeUndefined();
    opt.step(first.params, lossAndMaxGradient(first)[1], first.objective);
    const stepLength = Math.hypot(first.params[0].item() + 1.2, first.params[1].item() - 1);
    expect(opt.radius).toBeGreaterThan(0);
    expect(opt.radius! / stepLength).toBeGreaterThanOrEqual(0.25);

    const small = rosenbrock();
    const cautious = new NewtonCG({ initialRadius: 1e-3 });
    cautious.step(small.params, lossAndMaxGradient(small)[1], small.objective);
    expect(Math.hypot(small.params[0].item() + 1.2, small.params[1].item() - 1)).toBeCloseTo(1e-3, 12);
    expect(cautious.radius).toBeCloseTo(2e-3, 15);
    cautious.reset();
    expect(cautious.radius).toBeUndefined();
  });

  it('refuses radius options that make no sense', () => {
    expect(() => optimizer('newton-cg', { initialRadius: 10, maxRadius: 1 })).toThrow('NewtonCG: initialRadius (10) must be ≤ maxRadius (1)');
    expect(() => optimizer('newton-cg', { maxRadius: 0 })).toThrow('NewtonCG: maxRadius must be > 0, got 0');
    expect(() => optimizer('newton-cg', { toleranceGrad: -1 })).toThrow('NewtonCG: toleranceGrad must be ≥ 0, got -1');
  });
});
