import { anomalyDetection, checkGradient, enterVjp } from './anomaly.js';
import { onesLike, zerosLike } from './creation.js';
import { GradientError, ShapeError, ValueError, fmt } from './errors.js';
import { add } from './ops/arithmetic.js';
import { sum } from './ops/reduce.js';
import { mul } from './ops/arithmetic.js';
import { keep, tidy } from './memory.js';
import { type Node, type Recorder, hasActiveRecorders, isRecording, noGrad, withRecorder } from './recording.js';
import { sameShape } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * Reverse-mode differentiation over recorded nodes, in the form of micrograd's `backward`:
 *
 * 1. Topological order of the nodes that lead to `y` (only those `allowed`), by depth-first
 *    search: each node after the nodes of its inputs.
 * 2. Mark the tensors that depend on a source, so the tape runs no VJP nobody needs.
 * 3. Walk the order backwards with a Map from tensor to cotangent: call each node's VJP on
 *    its output's cotangent and add what it returns to its inputs' (a tensor used twice
 *    collects two contributions).
 *
 * VJPs run as ordinary ops: if an outer tape is recording, the backward pass is recorded
 * too, which is all that grad-of-grad and Hessian-vector products need.
 *
 * Plain Maps and Sets, on purpose: a form with index arrays and per-sweep stamps on the nodes
 * (this file until 2026-12) measured no faster on bench task T3's step (784-30-10, batch 10,
 * native backend): step-time ratios 0.97–1.03 over four runs, the spread of two identical
 * builds (0.95–1.03), not the 5 % that would pay for twice the code (A/B interleaved in one
 * process: bench/src/tape-ab.ts; figures in the bench README, "The tape's backward sweep").
 */
function backprop(y: Tensor, dy: Tensor, sources: readonly Tensor[], allowed: (node: Node) => boolean): Array<Tensor | undefined> {
  // 1. depth-first, with an explicit stack: recursion overflows the JS stack on deep graphs
  const order: Node[] = [];
  const visited = new Set<Node>();
  const stack: Array<{ node: Node; next: number }> = [];
  const visit = (node: Node | null): void => {
    if (node && !visited.has(node) && allowed(node)) {
      visited.add(node);
      stack.push({ node, next: 0 });
    }
  };
  visit(y.node);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.node.inputs.length) {
      visit(top.node.inputs[top.next++].node);
    } else {
      order.push(top.node);
      stack.pop();
    }
  }

  // 2. which tensors lie on a path from a source
  const reaches = new Set<Tensor>(sources);
  for (const node of order) {
    if (node.inputs.some((t) => reaches.has(t))) reaches.add(node.output);
  }

  // 3. reverse sweep
  const cotangents = new Map<Tensor, Tensor>();
  if (reaches.has(y)) cotangents.set(y, dy);
  const isSource = new Set(sources);
  // with anomaly detection on, ops run inside a VJP are blamed on the node it belongs to
  const watching = anomalyDetection;
  const outerVjp = watching ? enterVjp(null) : null;
  try {
    for (let i = order.length - 1; i >= 0; i--) {
      const node = order[i];
      const g = cotangents.get(node.output);
      if (!g) continue;
      // an intermediate's cotangent is needed only until its node has run
      if (!isSource.has(node.output)) cotangents.delete(node.output);
      node.inputs.forEach((t, k) => {
        if (t.version !== node.inputVersions[k]) {
          throw new GradientError('gradient', `input ${k} (${fmt(t.shape)}) of '${node.def.name}' was changed by assign() after it was recorded; record the computation again`);
        }
      });
      if (watching) enterVjp(node);
      const thunks = node.def.vjp!(g, node as Parameters<NonNullable<typeof node.def.vjp>>[1]);
      node.inputs.forEach((input, k) => {
        const thunk = thunks[k];
        if (!thunk || !reaches.has(input)) return;
        const contribution = thunk();
        if (watching) checkGradient(node, k, contribution);
        if (!sameShape(contribution.shape, input.shape)) {
          throw new GradientError(node.def.name, `vjp returned shape ${fmt(contribution.shape)} for input ${k} of shape ${fmt(input.shape)}`);
        }
        const previous = cotangents.get(input);
        cotangents.set(input, previous ? add(previous, contribution) : contribution);
      });
    }
  } finally {
    if (watching) enterVjp(outerVjp);
  }
  return sources.map((source) => cotangents.get(source));
}

/**
 * @internal for the graph pictures (graph.ts): the cotangent ∂y/∂t of every listed tensor
 * in one sweep over everything recorded behind y (ones as the output gradient), unrecorded.
 */
export function cotangentsOf(y: Tensor, tensors: readonly Tensor[]): Array<Tensor | undefined> {
  return noGrad(() => backprop(y, onesLike(y), tensors, () => true));
}

function seedCotangent(op: string, y: Tensor, dy: Tensor | undefined): Tensor {
  if (!(y instanceof Tensor)) throw new ValueError(op, `the output must be a Tensor, got ${typeof y}`);
  if (dy === undefined) {
    if (y.size !== 1) {
      throw new GradientError(op, `the output has shape ${fmt(y.shape)}, not a scalar: pass an output gradient (dy) of that shape, or reduce the output first (e.g. sum)`);
    }
    return onesLike(y);
  }
  if (!sameShape(dy.shape, y.shape)) throw new ShapeError(op, `output gradient has shape ${fmt(dy.shape)} but the output has shape ${fmt(y.shape)}`);
  if (dy.dtype !== y.dtype) throw new GradientError(op, `output gradient is ${dy.dtype} but the output is ${y.dtype}`);
  return dy;
}

/** Options of a Tape. */
export interface TapeOptions {
  /** Keep the recording after `gradient()`, to take several gradients of one recording. */
  persistent?: boolean;
}

/**
 * The imperative front door. Everything computed inside `record()` is recorded; afterwards
 * `gradient(y, xs)` returns ∂y/∂x for any tensor used or produced in the recording,
 * intermediates included (that is how tests read the per-layer errors Δˡ = ∂C/∂Zˡ).
 *
 * ```ts
 * const tape = new Tape();
 * const z = tape.record(() => matmul(w, x).add(b));
 * const loss = tape.record(() => sum(sigmoid(z)));
 * const [dw, db, dz] = tape.gradient(loss, [w, b, z]);
 * ```
 */
export class Tape implements Recorder {
  readonly persistent: boolean;
  #nodes = new Set<Node>();
  #spent = false;

  constructor(options: TapeOptions = {}) {
    this.persistent = options.persistent ?? false;
  }

  /** @internal called by ops while this tape records */
  add(node: Node): void {
    this.#nodes.add(node);
  }

  /** @internal whether an op recorded on this tape produced t */
  recorded(t: Tensor): boolean {
    return t.node !== null && this.#nodes.has(t.node);
  }

  /** How many op applications the tape holds (0 after a non-persistent gradient). */
  get size(): number {
    return this.#nodes.size;
  }

  /** Runs fn and records every op it applies. May be called several times. */
  record<T>(fn: () => T): T {
    if (this.#spent) throw new GradientError('Tape.record', 'this tape was released by gradient(); create a new Tape or pass { persistent: true }');
    return withRecorder(this, fn);
  }

  /**
   * ∂y/∂x for each x. y must be a scalar unless `dy` (the output gradient, shaped like y)
   * is given. Tensors y does not depend on get zeros. A non-persistent tape lets go of its
   * recording afterwards.
   */
  gradient(y: Tensor, x: Tensor, dy?: Tensor): Tensor;
  gradient(y: Tensor, xs: readonly Tensor[], dy?: Tensor): Tensor[];
  gradient(y: Tensor, xs: Tensor | readonly Tensor[], dy?: Tensor): Tensor | Tensor[] {
    if (this.#spent) throw new GradientError('gradient', 'this tape was already used by gradient() and let go of its recording; pass { persistent: true } to take several gradients');
    if (isRecording(this)) throw new GradientError('gradient', 'called inside this tape\'s own record(); call it after record() returns');
    const list = xs instanceof Tensor ? [xs] : [...xs];
    list.forEach((x, i) => {
      if (!(x instanceof Tensor)) throw new ValueError('gradient', `source ${i} is ${typeof x}, not a Tensor`);
    });
    const seed = seedCotangent('gradient', y, dy);
    if (!this.recorded(y)) {
      if (!list.includes(y)) {
        throw new GradientError('gradient', `the output ${fmt(y.shape)} was not recorded on this tape: compute it inside tape.record()`);
      }
    }
    const nodes = this.#nodes;
    const found = sweep(() => backprop(y, seed, list, (node) => nodes.has(node)));
    if (!this.persistent) {
      this.#nodes = new Set();
      this.#spent = true;
    }
    const grads: Tensor[] = [];
    for (let i = 0; i < list.length; i++) grads.push(found[i] ?? zerosLike(list[i]));
    return xs instanceof Tensor ? distinct(grads, seed)[0] : distinct(grads, seed);
  }

  /** Forgets everything recorded so far. */
  reset(): void {
    this.#nodes = new Set();
    this.#spent = false;
  }
}

/**
 * Where the sweep handed the same tensor to several sources (y = a + b gives a and b the
 * very same cotangent) or handed back the caller's own dy, copy it: each returned gradient
 * is then a tensor of its own, and assign() on one cannot change another.
 */
function distinct(grads: Tensor[], seed: Tensor): Tensor[] {
  const seen = new Set<Tensor>([seed]);
  // push, not map: the array's kind stays the same once V8 optimises this (normalizeAxes says why)
  const out: Tensor[] = [];
  for (const g of grads) {
    if (!seen.has(g)) {
      seen.add(g);
      out.push(g);
    } else out.push(copyOf(g));
  }
  return out;
}

/** A fresh tensor with g's values; recorded like any op, so an outer tape still sees through it. */
function copyOf(g: Tensor): Tensor {
  return add(g, 0);
}

/**
 * Runs a backward sweep, which returns the cotangent of each source (undefined where y does
 * not depend on it). When no tape records the sweep (no higher-order use), it runs in a scope of
 * its own, as tidy: every tensor it creates (intermediate cotangents, the VJPs' temporaries)
 * goes back to the buffer pool when it ends, except the gradients handed out and whatever
 * their recorded graphs (if any input required gradients) reach. A customGrad VJP runs inside
 * that scope, so a tensor it creates and stores somewhere (instead of returning it) must be
 * kept with keep(). Under a recording tape nothing is released: the outer tape's nodes refer
 * to the sweep's tensors.
 */
function sweep(run: () => Array<Tensor | undefined>): Array<Tensor | undefined> {
  return hasActiveRecorders() ? run() : tidy(run);
}

/**
 * Tape.gradient for the functional doors (grad, valueAndGrad, vjp). There f ran inside the
 * recording, so an output the tape never saw is a constant of the arguments, not a user's
 * mistake: grad(grad(f)) meets one whenever f is linear (x + 1, or x itself), as the first
 * derivative is then a fresh ones tensor. Its derivative is zero, as in JAX.
 */
/** @internal also the forward-mode door's (forward-mode.ts) */
export function gradientOfRecording(tape: Tape, y: Tensor, sources: Tensor[], dy?: Tensor): Tensor[] {
  if (tape.recorded(y) || sources.includes(y)) return tape.gradient(y, sources, dy);
  seedCotangent('gradient', y, dy);
  return sources.map(zerosLike);
}

/** Options of grad and valueAndGrad: which arguments to differentiate. */
export interface GradOptions {
  /** Which positional arguments to differentiate: one index (a tensor back) or several (an array back). Default 0. */
  argnums?: number | readonly number[];
}

type Grads<O> = O extends { argnums: readonly number[] } ? Tensor[] : Tensor;

function selectSources<Args extends unknown[]>(op: string, args: Args, argnums: number | readonly number[]): Tensor[] {
  const indices = typeof argnums === 'number' ? [argnums] : argnums;
  return indices.map((i) => {
    const value = args[i];
    if (!(value instanceof Tensor)) {
      throw new ValueError(op, `argument ${i} is ${value === undefined ? 'missing' : typeof value}, not a Tensor, so it cannot be differentiated`);
    }
    return value;
  });
}

/**
 * The functional front door: `valueAndGrad(f)(...args)` returns `[f(...args), ∂f/∂args]`.
 * f must return a scalar. Composes: `grad(grad(f))` differentiates the backward pass.
 */
export function valueAndGrad<Args extends unknown[], O extends GradOptions = { argnums: 0 }>(
  f: (...args: Args) => Tensor,
  options?: O,
): (...args: Args) => [Tensor, Grads<O>] {
  const argnums = options?.argnums ?? 0;
  return (...args: Args) => {
    const sources = selectSources('grad', args, argnums);
    const tape = new Tape();
    const value = tape.record(() => f(...args));
    if (!(value instanceof Tensor)) throw new ValueError('grad', `the function must return a Tensor, got ${typeof value}`);
    if (value.size !== 1) throw new GradientError('grad', `the function must return a scalar, got shape ${fmt(value.shape)}; use vjp() or Tape.gradient with an output gradient`);
    const grads = gradientOfRecording(tape, value, sources);
    return [value, (typeof argnums === 'number' ? grads[0] : grads) as Grads<O>];
  };
}

/** `grad(f)(...args)` = ∂f/∂args[argnums]: a tensor for one index, an array for several. */
export function grad<Args extends unknown[], O extends GradOptions = { argnums: 0 }>(
  f: (...args: Args) => Tensor,
  options?: O,
): (...args: Args) => Grads<O> {
  const withValue = valueAndGrad(f, options);
  return (...args: Args) => withValue(...args)[1];
}

/**
 * Vector-Jacobian product of a function with any output shape: returns the output and a
 * function mapping an output gradient to the gradients of every tensor argument.
 */
export function vjp<Args extends Tensor[]>(f: (...args: Args) => Tensor, ...primals: Args): [Tensor, (dy: Tensor) => Tensor[]] {
  const tape = new Tape({ persistent: true });
  const output = tape.record(() => f(...primals));
  return [output, (dy: Tensor) => gradientOfRecording(tape, output, primals, dy)];
}

/**
 * Hessian-vector product H·v of a scalar function, by reverse-over-reverse: the gradient
 * of ⟨∇f, v⟩. Costs about two backward passes; the Hessian is never formed.
 *
 * With arrays, xs are several tensors (a model's parameters) and vs one direction per
 * tensor; f receives xs but may as well close over them (a loss that reads the model's own
 * parameters), since the tapes differentiate with respect to the tensors themselves.
 */
export function hvp(f: (x: Tensor) => Tensor, x: Tensor, v: Tensor): Tensor;
export function hvp(f: (...xs: Tensor[]) => Tensor, xs: readonly Tensor[], vs: readonly Tensor[]): Tensor[];
export function hvp(f: (...xs: Tensor[]) => Tensor, x: Tensor | readonly Tensor[], v: Tensor | readonly Tensor[]): Tensor | Tensor[] {
  const xs = x instanceof Tensor ? [x] : [...x];
  const vs = v instanceof Tensor ? [v] : [...v];
  if (xs.length !== vs.length) throw new ValueError('hvp', `${vs.length} directions for ${xs.length} tensors`);
  xs.forEach((xi, i) => {
    if (!(xi instanceof Tensor) || !(vs[i] instanceof Tensor)) throw new ValueError('hvp', `x ${i} and v ${i} must be Tensors`);
    if (!sameShape(xi.shape, vs[i].shape)) throw new ShapeError('hvp', `direction v has shape ${fmt(vs[i].shape)} but x has shape ${fmt(xi.shape)}`);
  });
  const outer = new Tape();
  const directional = outer.record(() => {
    const inner = new Tape();
    const y = inner.record(() => f(...xs));
    if (!(y instanceof Tensor) || y.size !== 1) throw new GradientError('hvp', `f must return a scalar tensor, got ${y instanceof Tensor ? fmt(y.shape) : typeof y}`);
    const grads = inner.gradient(y, xs);
    return grads.map((g, i) => sum(mul(g, vs[i]))).reduce((a, b) => add(a, b));
  });
  const result = outer.gradient(directional, xs);
  return x instanceof Tensor ? result[0] : result;
}

/** Options for `Tensor.backward`. */
export interface BackwardOptions {
  /** Record the backward pass, so the collected `.grad` can itself be differentiated. */
  createGraph?: boolean;
}

/**
 * PyTorch-style door: accumulates ∂y/∂leaf into `.grad` of every leaf that was created
 * with `requiresGrad` and influences y.
 */
export function backward(y: Tensor, dy?: Tensor, options: BackwardOptions = {}): void {
  const seed = seedCotangent('backward', y, dy);
  const leaves: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: Tensor[] = [y];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (t.node) stack.push(...t.node.inputs);
    else if (t.requiresGrad) leaves.push(t);
  }
  if (leaves.length === 0) {
    throw new GradientError('backward', `no leaf with requiresGrad leads to this ${fmt(y.shape)} tensor: create parameters with { requiresGrad: true }`);
  }
  const run = () => backprop(y, seed, leaves, () => true);
  const found = sweep(options.createGraph ? run : () => noGrad(run));
  const handedOut = new Set<Tensor>();
  for (let i = 0; i < leaves.length; i++) {
    const leaf = leaves[i];
    const g = found[i];
    if (!g) continue;
    leaf.grad = leaf.grad ? (options.createGraph ? add(leaf.grad, g) : noGrad(() => add(leaf.grad!, g))) : handedOut.has(g) || g === seed ? copyOf(g) : g;
    // .grad outlives any tidy around backward(), as in PyTorch it outlives the step: an
    // optimiser reads it afterwards (it is then garbage-collected like any tensor, not pooled)
    if (!leaf.grad.released) keep(leaf.grad);
    handedOut.add(leaf.grad);
  }
}
