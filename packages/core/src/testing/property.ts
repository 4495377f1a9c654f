import fc from 'fast-check';
import type { Tensor } from '../tensor.js';
import { type GradcheckOptions, gradcheck } from './gradcheck.js';
import { propertySeed } from './seed.js';

/**
 * A fast-check property: for every generated input, the tape's gradient of f equals
 * central finite differences (see gradcheck). Use it with `fc.assert`; a failure shrinks to
 * the smallest shapes and values and names the worst element.
 *
 * ```ts
 * fc.assert(gradcheckProperty(softplus, [arb.tensor({ min: -3, max: 3 })]));
 * ```
 */
export function gradcheckProperty(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: fc.Arbitrary<Tensor[]> | ReadonlyArray<fc.Arbitrary<Tensor>>,
  options: Omit<GradcheckOptions, 'raise'> = {},
): fc.IPropertyWithHooks<[Tensor[]]> {
  const all = Array.isArray(inputs) ? fc.tuple(...(inputs as fc.Arbitrary<Tensor>[])) : (inputs as fc.Arbitrary<Tensor[]>);
  return fc.property(all as fc.Arbitrary<Tensor[]>, (xs) => {
    gradcheck(f, xs, { ...options, raise: true });
  });
}

/**
 * Asserts gradcheckProperty with sensible defaults (50 runs, seeded). The seed is FC_SEED
 * from the environment if set, else `fcSeed` if given, else the property's own: a hash of
 * `name`, or of f's source when there is no name (so two checks of the same function share
 * a seed unless named apart). See propertySeed.
 */
export function checkGradients(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: fc.Arbitrary<Tensor[]> | ReadonlyArray<fc.Arbitrary<Tensor>>,
  options: Omit<GradcheckOptions, 'raise'> & { numRuns?: number; fcSeed?: number; name?: string } = {},
): void {
  const { numRuns = 50, fcSeed, name, ...check } = options;
  const seed = propertySeed(name ?? f.toString(), fcSeed);
  fc.assert(gradcheckProperty(f, inputs, check), { numRuns, seed, includeErrorInReport: true });
}
