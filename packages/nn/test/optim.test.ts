import { describe, expect, it } from 'vitest';
import {
  DTypeError, ShapeError, Tape, type Tensor, ValueError, add, matmul, mul, noGrad, square, sub, sum, tensor,
} from '@tapegrad/core';
import {
  Adam, LBFGS, Momentum, NewtonCG, type Objective, type Optimizer, OPTIMIZERS, RProp, SGD, cost, mlp, optimizer,
} from '@tapegrad/nn';

const f64 = (data: number[], shape?: number[]) => tensor(data, { dtype: 'float64', shape });

/** The cost and ∂cost/∂params at the parameters' current values. */
function lossAndGrads(objective: Objective, params: readonly Tensor[]): [number, Tensor[]] {
  const tape = new Tape();
  const loss = tape.record(objective);
  return [loss.item(), tape.gradient(loss, params)];
}

function expectValues(t: Tensor, expected: readonly number[], digits = 12): void {
  expect(t.size).toBe(expected.length);
  Array.from(t.data).forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(expected[i], digits));
}

/**
 * f(θ) = ½(θ₀² + 4θ₁²), so ∇f = [θ₀, 4θ₁]: the gradients of the hand-computed steps
 * below come from the tape, and every expected value is the update rule done on paper.
 */
function ellipse(start: readonly number[] = [1, -2]) {
  const theta = f64([...start]);
  const objective = () => mul(sum(mul(f64([1, 4]), square(theta))), 0.5);
  const step = (opt: Optimizer) => {
    const [, grads] = lossAndGrads(objective, [theta]);
    opt.step([theta], grads, objective);
  };
  return { theta, objective, step };
}

describe('first-order steps, by hand', () => {
  it('SGD: θ ← θ − η·g', () => {
    const { theta, step } = ellipse();
    step(new SGD({ lr: 0.1 }));
    // g = [1, −8]
    expectValues(theta, [1 - 0.1 * 1, -2 - 0.1 * -8]);
  });

  it('SGD updates in place with exactly the numbers of sub(θ, mul(g, η)), float32 and float64', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      let seed = 7;
      const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2;
      const values = Array.from({ length: 1001 }, next);
      const gradient = tensor(Array.from({ length: 1001 }, () => next() * 1e3), { dtype, shape: [7, 143] });
      const theta = tensor(values, { dtype, shape: [7, 143] });
      const buffer = theta.data;
      const lr = 0.1;
      const want = noGrad(() => sub(tensor(values, { dtype, shape: [7, 143] }), mul(gradient, lr)));
      new SGD({ lr }).step([theta], [gradient]);
      expect(theta.data).toBe(buffer);
      expect(theta.version).toBe(1);
      expect(Array.from(theta.data)).toEqual(Array.from(want.data));
    }
  });

  it('Momentum: v ← μv + g, θ ← θ − η·v over two steps', () => {
    const { theta, step } = ellipse();
    const opt = new Momentum({ lr: 0.1, momentum: 0.9 });
    step(opt);
    // v₁ = g₁ = [1, −8]; θ₁ = [0.9, −1.2]
    expectValues(theta, [0.9, -1.2]);
    step(opt);
    // g₂ = [0.9, −4.8]; v₂ = 0.9·[1, −8] + g₂ = [1.8, −12]; θ₂ = θ₁ − 0.1·v₂
    expectValues(theta, [0.9 - 0.18, -1.2 + 1.2]);
  });

  it('Nesterov: θ ← θ − η·(g + μv) over two steps', () => {
    const { theta, step } = ellipse();
    const opt = new Momentum({ lr: 0.1, momentum: 0.9, nesterov: true });
    expect(opt.name).toBe('Nesterov');
    step(opt);
    // v₁ = [1, −8]; θ₁ = θ₀ − 0.1·(g₁ + 0.9·v₁) = [1 − 0.19, −2 + 1.52]
    expectValues(theta, [0.81, -0.48]);
    step(opt);
    // g₂ = [0.81, −1.92]; v₂ = 0.9·[1, −8] + g₂ = [1.71, −9.12]
    // g₂ + 0.9·v₂ = [2.349, −10.128]; θ₂ = θ₁ − 0.1·that
    expectValues(theta, [0.81 - 0.2349, -0.48 + 1.0128]);
  });

  it('Adam: bias-corrected moments over two steps', () => {
    const { theta, step } = ellipse();
    const opt = new Adam({ lr: 0.1 });
    step(opt);
    // m̂ = g, v̂ = g², so the step is η·g/(|g| + ε)
    const t1 = [1 - (0.1 * 1) / (1 + 1e-8), -2 - (0.1 * -8) / (8 + 1e-8)];
    expectValues(theta, t1);
    step(opt);
    const g2 = [t1[0], 4 * t1[1]];
    const expected = [0, 1].map((i) => {
      const g1 = [1, -8][i];
      const m = 0.9 * (0.1 * g1) + 0.1 * g2[i];
      const v = 0.999 * (0.001 * g1 * g1) + 0.001 * g2[i] * g2[i];
      const mHat = m / (1 - 0.9 ** 2);
      const vHat = v / (1 - 0.999 ** 2);
      return t1[i] - (0.1 * mHat) / (Math.sqrt(vHat) + 1e-8);
    });
    expectValues(theta, expected);
    // the same, as decimals (g₂ = [0.9, −7.6]): both coordinates move about η again
    expectValues(theta, [0.8004122297, -1.8001664859], 9);
  });

  it('Adam updates float32 parameters in float32', () => {
    const p = tensor([1, -1]);
    new Adam({ lr: 0.5 }).step([p], [tensor([2, -3])]);
    expect(p.dtype).toBe('float32');
    expect(Array.from(p.data)).toEqual([0.5, -0.5]);
  });

  it('reset forgets the velocity: the next step is a first step again', () => {
    const p = f64([0]);
    const opt = new Momentum({ lr: 1, momentum: 0.5 });
    opt.step([p], [f64([1])]);
    opt.step([p], [f64([1])]);
    expectValues(p, [-1 - 1.5]);
    opt.reset();
    opt.step([p], [f64([1])]);
    expectValues(p, [-2.5 - 1]);
  });

  it('state is kept per parameter tensor', () => {
    const a = f64([0]);
    const b = f64([0]);
    const opt = new Momentum({ lr: 1, momentum: 0.5 });
    opt.step([a], [f64([1])]);
    opt.step([b], [f64([1])]); // b's first step: no velocity from a
    expectValues(a, [-1]);
    expectValues(b, [-1]);
  });
});

describe('RProp', () => {
  it('grows Δ while the sign holds, halves it and stands still when the sign flips', () => {
    const p = f64([0, 0]);
    const opt = new RProp({ lr: 0.01 });
    opt.step([p], [f64([1, -2])]);
    // no previous gradient: Δ stays 0.01, θ ← θ − sign(g)·Δ
    expectValues(p, [-0.01, 0.01]);
    expectValues(f64([...opt.stepSizes(p)!]), [0.01, 0.01]);

    opt.step([p], [f64([3, 1])]);
    // element 0 kept its sign: Δ = 0.012, moves; element 1 flipped: Δ = 0.005, no move
    expectValues(f64([...opt.stepSizes(p)!]), [0.01 * 1.2, 0.01 * 0.5]);
    expectValues(p, [-0.01 - 0.012, 0.01]);

    opt.step([p], [f64([1, 1])]);
    // element 0 again: Δ = 0.0144; element 1's stored gradient was zeroed, so Δ stays 0.005
    expectValues(f64([...opt.stepSizes(p)!]), [0.01 * 1.2 * 1.2, 0.005]);
    expectValues(p, [-0.01 - 0.012 - 0.0144, 0.01 - 0.005]);
  });

  it('clamps Δ to [stepMin, stepMax]', () => {
    const p = f64([0, 0]);
    const opt = new RProp({ lr: 1, etaPlus: 3, etaMinus: 0.1, stepMin: 0.5, stepMax: 2 });
    opt.step([p], [f64([1, 1])]);
    opt.step([p], [f64([1, -1])]);
    expectValues(f64([...opt.stepSizes(p)!]), [2, 0.5]);
    expectValues(p, [-1 - 2, -1]);
  });
});

/**
 * f(θ) = ½θᵀAθ − bᵀθ with A SPD (eigenvalues ≈ 0.222 … 20.08, condition number ≈ 90:
 * ill-conditioned enough that gradient descent crawls along the flat direction) and b = Aθ*, so the minimiser is θ* and f(θ) − f* = ½(θ − θ*)ᵀA(θ − θ*).
 */
const A = [
  [20, 1, 0, 0, 0],
  [1, 8, 1, 0, 0],
  [0, 1, 6, 1, 0],
  [0, 0, 1, 4, 1],
  [0, 0, 0, 1, 0.5],
];
const thetaStar = [1, -2, 3, 0.5, -1];
const b = A.map((row) => row.reduce((s, a, j) => s + a * thetaStar[j], 0));

function quadratic() {
  const theta = f64([0, 0, 0, 0, 0], [5, 1]);
  const At = f64(A.flat(), [5, 5]);
  const bt = f64(b, [5, 1]);
  const objective = () => sub(mul(sum(mul(theta, matmul(At, theta))), 0.5), sum(mul(bt, theta)));
  const gap = () => {
    const e = Array.from(theta.data, (v, i) => v - thetaStar[i]);
    return 0.5 * A.reduce((s, row, i) => s + e[i] * row.reduce((r, a, j) => r + a * e[j], 0), 0);
  };
  const error = () => Math.max(...Array.from(theta.data, (v, i) => Math.abs(v - thetaStar[i])));
  return { theta, objective, gap, error };
}

/** Steps until f − f* ≤ target; returns the number of steps (or limit + 1 if never). */
function iterationsToReach(opt: Optimizer, target: number, limit: number) {
  const q = quadratic();
  for (let k = 0; k < limit; k++) {
    if (q.gap() <= target) return { iterations: k, ...q };
    const [, grads] = lossAndGrads(q.objective, [q.theta]);
    opt.step([q.theta], grads, q.objective);
  }
  return { iterations: q.gap() <= target ? limit : limit + 1, ...q };
}

describe('convex quadratic in float64', () => {
  it('the objective has the gradient Aθ − b (sanity check of the problem itself)', () => {
    const q = quadratic();
    noGrad(() => q.theta.assign(thetaStar));
    const [loss, [g]] = lossAndGrads(q.objective, [q.theta]);
    expect(Math.max(...Array.from(g.data, Math.abs))).toBeLessThan(1e-12);
    expect(loss).toBeCloseTo(-0.5 * b.reduce((s, bi, i) => s + bi * thetaStar[i], 0), 12);
  });

  it('Newton-CG lands on A⁻¹b in at most 2 steps', () => {
    const q = quadratic();
    const opt = new NewtonCG();
    const [, g0] = lossAndGrads(q.objective, [q.theta]);
    opt.step([q.theta], g0, q.objective);
    // one step solves Ap = −g (damping 0 by default; with λ > 0 it would be off by |e| ≈ λ/λmin·|e₀|)
    expect(q.error()).toBeLessThan(1e-3);
    const [, g1] = lossAndGrads(q.objective, [q.theta]);
    opt.step([q.theta], g1, q.objective);
    expect(q.error()).toBeLessThan(1e-6);
    // CG in 5 dimensions needs at most 5 products per step
    expect(opt.hessianVectorProducts).toBeLessThanOrEqual(10);
  });

  it('iterations to f − f* ≤ 1e-13: Newton-CG ≤ 2 < L-BFGS ≤ 20 < 1000 < SGD', () => {
    const target = 1e-13;
    // η = 1/λmax, the largest step that converges along every eigenvector; the error along
    // the flattest one then shrinks by only 1 − λmin/λmax ≈ 0.989 per step
    const sgd = iterationsToReach(new SGD({ lr: 1 / 20.1 }), target, 5000);
    const lbfgs = iterationsToReach(new LBFGS(), target, 100);
    // a near-exact line search (small c₂) makes L-BFGS conjugate gradients: |θ| = 5 steps
    const lbfgsExact = iterationsToReach(new LBFGS({ c2: 0.1 }), target, 100);
    const newton = iterationsToReach(new NewtonCG(), target, 100);
    console.log(`iterations to f − f* ≤ ${target}: SGD ${sgd.iterations}, L-BFGS ${lbfgs.iterations} (c2 = 0.1: ${lbfgsExact.iterations}), Newton-CG ${newton.iterations}`);

    expect(newton.iterations).toBeLessThanOrEqual(2);
    expect(lbfgsExact.iterations).toBeLessThanOrEqual(6);
    expect(lbfgs.iterations).toBeGreaterThan(newton.iterations);
    expect(lbfgs.iterations).toBeLessThanOrEqual(20);
    expect(sgd.iterations).toBeGreaterThan(1000);
    expect(sgd.iterations).toBeLessThanOrEqual(5000);
    expect(sgd.iterations).toBeGreaterThan(50 * lbfgs.iterations);
    for (const run of [sgd, lbfgs, lbfgsExact, newton]) expect(run.error()).toBeLessThan(1e-6);
  });

  it('L-BFGS with Armijo backtracking also converges', () => {
    const run = iterationsToReach(new LBFGS({ lineSearch: 'armijo' }), 1e-13, 100);
    expect(run.iterations).toBeLessThan(40);
    expect(run.error()).toBeLessThan(1e-6);
  });

  it('L-BFGS without a line search takes the fixed step and needs no objective', () => {
    const q = quadratic();
    const opt = new LBFGS({ lineSearch: 'none' });
    const [, [g0]] = lossAndGrads(q.objective, [q.theta]);
    opt.step([q.theta], [g0]); // no objective
    // no history yet: θ₁ = θ₀ − min(1, 1/‖g‖₁)·g with g = −b at θ₀ = 0
    const l1 = b.reduce((s, v) => s + Math.abs(v), 0);
    expectValues(q.theta, b.map((v) => v / l1));
    for (let k = 0; k < 60 && q.gap() > 1e-13; k++) {
      const [, grads] = lossAndGrads(q.objective, [q.theta]);
      opt.step([q.theta], grads);
    }
    expect(q.error()).toBeLessThan(1e-6);
  });
});

describe('Rosenbrock', () => {
  it('L-BFGS with the strong Wolfe line search reaches (1, 1) in < 100 iterations', () => {
    // f = (1 − x)² + 100(y − x²)², from the classic start (−1.2, 1); x and y are separate
    // parameters, so the optimiser works on the concatenation of a parameter list
    const x = f64([-1.2]);
    const y = f64([1]);
    const objective = () => add(square(sub(1, x)), mul(square(sub(y, square(x))), 100));
    const opt = new LBFGS();
    let iterations = 0;
    while (iterations < 100 && Math.max(Math.abs(x.item() - 1), Math.abs(y.item() - 1)) >= 1e-4) {
      const [, grads] = lossAndGrads(objective, [x, y]);
      opt.step([x, y], grads, objective);
      iterations++;
    }
    console.log(`Rosenbrock: L-BFGS reached (1, 1) to 1e-4 in ${iterations} iterations, ${opt.evaluations} evaluations`);
    expect(iterations).toBeLessThan(100);
    expect(Math.abs(x.item() - 1)).toBeLessThan(1e-4);
    expect(Math.abs(y.item() - 1)).toBeLessThan(1e-4);
  });
});

describe('a small MLP on XOR', () => {
  const X = f64([0, 0, 1, 1, 0, 1, 0, 1], [2, 4]);
  const Y = f64([0, 1, 1, 0], [1, 4]);

  function train(opt: Optimizer, steps: number): { first: number; last: number } {
    const model = mlp([2, 8, 1], { hidden: 'tanh', output: 'sigmoid', dtype: 'float64', seed: 7 });
    const params = Object.values(model.parameters());
    const objective = () => {
      const out = model.trace(X).layers.at(-1)!;
      return cost('bce', { z: out.z, a: out.a, activation: 'sigmoid' }, Y);
    };
    const first = noGrad(() => objective().item());
    for (let k = 0; k < steps; k++) {
      const [, grads] = lossAndGrads(objective, params);
      opt.step(params, grads, objective);
    }
    return { first, last: noGrad(() => objective().item()) };
  }

  it('Adam drives the cross-entropy near zero', () => {
    const { first, last } = train(new Adam({ lr: 0.05 }), 300);
    expect(first).toBeGreaterThan(0.5);
    expect(last).toBeLessThan(0.05);
  });

  it('Momentum drives the cross-entropy down', () => {
    const { first, last } = train(new Momentum({ lr: 0.5, momentum: 0.9 }), 300);
    expect(last).toBeLessThan(0.05);
    expect(last).toBeLessThan(first / 10);
  });

  it.each([
    ['sgd', { lr: 2 }],
    ['nesterov', { lr: 0.5 }],
    ['rprop', {}],
    ['lbfgs', {}],
    ['newton-cg', {}],
  ] as const)('%s lowers the cost too (every optimiser runs on a real model)', (name, options) => {
    const { first, last } = train(optimizer(name, options), 40);
    expect(last).toBeLessThan(first / 2);
  });
});

describe('optimizer(name)', () => {
  it('builds each optimiser by the name a command line would use', () => {
    const built = OPTIMIZERS.map((name) => optimizer(name, { lr: 0.1 }).name);
    expect(built).toEqual(['SGD', 'Momentum', 'Nesterov', 'Adam', 'RProp', 'LBFGS', 'NewtonCG']);
    expect((optimizer('nesterov', { lr: 0.1, momentum: 0.5 }) as Momentum).momentum).toBe(0.5);
    expect((optimizer('adam') as Adam).lr).toBe(1e-3);
  });

  it('passes options through: a factory step equals a constructor step', () => {
    const a = f64([1, 2]);
    const c = f64([1, 2]);
    optimizer('sgd', { lr: 0.25 }).step([a], [f64([4, -4])]);
    new SGD({ lr: 0.25 }).step([c], [f64([4, -4])]);
    expect(Array.from(a.data)).toEqual([0, 3]);
    expect(Array.from(a.data)).toEqual(Array.from(c.data));
  });

  it('refuses an unknown name, listing the known ones', () => {
    expect(() => optimizer('adagrad' as never, {} as never)).toThrow(
      "optimizer: unknown optimiser 'adagrad': choose one of sgd, momentum, nesterov, adam, rprop, lbfgs, newton-cg",
    );
  });
});

describe('errors', () => {
  it('bad hyper-parameters name the optimiser and the value', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => new SGD({ lr: -1 }), 'SGD: learning rate must be > 0, got -1'],
      [() => new SGD({} as never), 'SGD: learning rate must be > 0, got undefined'],
      [() => new SGD({ lr: NaN }), 'SGD: learning rate must be > 0, got NaN'],
      [() => new Momentum({ lr: 0.1, momentum: 1 }), 'Momentum: momentum must be in [0, 1), got 1'],
      [() => new Momentum({ lr: 0, nesterov: true }), 'Nesterov: learning rate must be > 0, got 0'],
      [() => new Adam({ beta1: -0.1 }), 'Adam: beta1 must be in [0, 1), got -0.1'],
      [() => new Adam({ beta2: 1.5 }), 'Adam: beta2 must be in [0, 1), got 1.5'],
      [() => new Adam({ eps: 0 }), 'Adam: eps must be > 0, got 0'],
      [() => new RProp({ etaPlus: 1 }), 'RProp: etaPlus must be > 1, got 1'],
      [() => new RProp({ etaMinus: 1.5 }), 'RProp: etaMinus must be in (0, 1), got 1.5'],
      [() => new RProp({ stepMin: 2, stepMax: 1 }), 'RProp: stepMin (2) must be ≤ stepMax (1)'],
      [() => new LBFGS({ historySize: 0 }), 'LBFGS: historySize must be a positive integer, got 0'],
      [() => new LBFGS({ lineSearch: 'exact' as never }), "LBFGS: unknown lineSearch 'exact': choose one of strongWolfe, armijo, none"],
      [() => new LBFGS({ c2: 1e-5 }), 'LBFGS: c2 must be in (c1, 1) = (0.0001, 1), got 0.00001'],
      [() => new NewtonCG({ cgIterations: 2.5 }), 'NewtonCG: cgIterations must be a positive integer, got 2.5'],
      [() => new NewtonCG({ damping: -1 }), 'NewtonCG: damping must be ≥ 0, got -1'],
      [() => optimizer('rprop', { lr: -0.5 }), 'RProp: learning rate (initial step size) must be > 0, got -0.5'],
    ];
    for (const [make, message] of cases) {
      expect(make, message).toThrow(ValueError);
      expect(make).toThrow(message);
    }
  });

  it('mismatched parameters and gradients', () => {
    const p = f64([1, 2]);
    const q = f64([1, 2, 3, 4], [2, 2]);
    const sgd = new SGD({ lr: 0.1 });
    expect(() => sgd.step([p, q], [f64([1, 1])])).toThrow(
      'SGD: 1 gradients for 2 parameters; pass one gradient per parameter, in the same order',
    );
    expect(() => sgd.step([p, q], [f64([1, 1]), f64([1, 1, 1, 1])])).toThrow(ShapeError);
    expect(() => new Adam().step([p, q], [f64([1, 1]), f64([1, 1, 1, 1])])).toThrow(
      'Adam: gradient 1 has shape [4] but parameter 1 has shape [2,2]',
    );
    expect(() => new RProp().step([p], [tensor([1, 1])])).toThrow(DTypeError);
    expect(() => new RProp().step([p], [tensor([1, 1])])).toThrow('RProp: gradient 0 is float32 but parameter 0 is float64');
    expect(() => new LBFGS().step([], [])).toThrow('LBFGS: no parameters to update');
    // nothing was changed by the refused steps
    expect(Array.from(p.data)).toEqual([1, 2]);
  });

  it('Newton-CG needs the objective; L-BFGS needs it unless lineSearch is none', () => {
    const q = quadratic();
    const [, grads] = lossAndGrads(q.objective, [q.theta]);
    expect(() => new NewtonCG().step([q.theta], grads)).toThrow(
      'NewtonCG: needs the objective to compute Hessian-vector products: call step(params, grads, objective)',
    );
    expect(() => new LBFGS().step([q.theta], grads)).toThrow(
      "LBFGS: lineSearch 'strongWolfe' evaluates the cost at trial points: pass step(params, grads, objective), or choose lineSearch: 'none'",
    );
    expect(Array.from(q.theta.data)).toEqual([0, 0, 0, 0, 0]);
  });
});
