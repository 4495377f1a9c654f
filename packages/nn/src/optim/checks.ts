import { DTypeError, ShapeError, Tensor, ValueError } from '@tapegrad/core';

/**
 * Hyper-parameter and argument checks shared by the optimisers. A bad learning rate does
 * not fail loudly on its own: it diverges or stalls many steps later, far from the typo.
 * So every optimiser refuses it up front, naming itself and the value it got.
 */

function describe(value: unknown): string {
  return typeof value === 'number' || value === undefined ? String(value) : `${typeof value} ${JSON.stringify(value)}`;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * Defines a hyperparameter as a read-only property: assigning it later throws a TypeError
 * instead of changing it. fit records a replayable optimiser's step once and replays it, so
 * a learning rate changed between steps would be honoured by ordinary steps and not by
 * replayed ones; it cannot change at all instead.
 */
export function fixedHyperparameter<T extends object, K extends keyof T>(optimizer: T, name: K, value: T[K]): void {
  Object.defineProperty(optimizer, name, { value, writable: false, enumerable: true, configurable: false });
}

export function positive(optimizer: string, label: string, value: unknown): number {
  if (!isNumber(value) || value <= 0) throw new ValueError(optimizer, `${label} must be > 0, got ${describe(value)}`);
  return value;
}

export function nonNegative(optimizer: string, label: string, value: unknown): number {
  if (!isNumber(value) || value < 0) throw new ValueError(optimizer, `${label} must be ≥ 0, got ${describe(value)}`);
  return value;
}

/** A decay rate in [0, 1): 1 would never forget, and anything above 1 amplifies. */
export function decayRate(optimizer: string, label: string, value: unknown): number {
  if (!isNumber(value) || value < 0 || value >= 1) throw new ValueError(optimizer, `${label} must be in [0, 1), got ${describe(value)}`);
  return value;
}

export function positiveInteger(optimizer: string, label: string, value: unknown): number {
  if (!isNumber(value) || !Number.isInteger(value) || value < 1) throw new ValueError(optimizer, `${label} must be a positive integer, got ${describe(value)}`);
  return value;
}

/** One gradient per parameter, each of the parameter's shape and dtype. */
export function checkParamsAndGrads(optimizer: string, params: readonly Tensor[], grads: readonly Tensor[]): void {
  if (params.length !== grads.length) {
    throw new ValueError(optimizer, `${grads.length} gradients for ${params.length} parameters; pass one gradient per parameter, in the same order`);
  }
  if (params.length === 0) throw new ValueError(optimizer, 'no parameters to update');
  params.forEach((p, i) => {
    const g = grads[i];
    if (!(p instanceof Tensor)) throw new ValueError(optimizer, `parameter ${i} is ${typeof p}, not a Tensor`);
    if (!(g instanceof Tensor)) throw new ValueError(optimizer, `gradient ${i} is ${typeof g}, not a Tensor`);
    if (p.shape.length !== g.shape.length || p.shape.some((d, k) => d !== g.shape[k])) {
      throw new ShapeError(optimizer, `gradient ${i} has shape [${g.shape.join(',')}] but parameter ${i} has shape [${p.shape.join(',')}]`);
    }
    if (p.dtype !== g.dtype) throw new DTypeError(optimizer, `gradient ${i} is ${g.dtype} but parameter ${i} is ${p.dtype}`);
  });
}
