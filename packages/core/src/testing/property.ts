import fc from 'fast-check';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { type GradcheckOptions, gradcheck } from './gradcheck.js';

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

/** FNV-1a over the UTF-16 code units: a stable 31-bit number for a property's name. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) & 0x7fffffff;
}

function environmentSeed(): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.FC_SEED?.trim();
  return value === '' ? undefined : value;
}

/**
 * The fast-check seed of the property called `name`. Each property gets its own seed, a
 * hash of its name (or `pinned`, if given), so properties do not all draw the same cases,
 * yet every run draws the same ones (a failure replays). The environment variable FC_SEED
 * overrides it for every property: a number runs each with that seed, `random` with a fresh
 * one per property, printed so that a failure can be replayed with FC_SEED=<that number>.
 *
 * ```ts
 * fc.assert(property, { seed: propertySeed('my op: gradient'), numRuns: 40 });
 * ```
 */
export function propertySeed(name: string, pinned?: number): number {
  const fromEnvironment = environmentSeed();
  if (fromEnvironment === undefined) return pinned ?? hash(name);
  if (fromEnvironment.toLowerCase() === 'random') {
    const seed = Math.floor(Math.random() * 0x7fffffff);
    console.log(`FC_SEED=random: property '${name.length > 80 ? `${name.slice(0, 77)}...` : name}' runs with seed ${seed} (replay: FC_SEED=${seed})`);
    return seed;
  }
  const seed = Number(fromEnvironment);
  if (!Number.isSafeInteger(seed)) throw new ValueError('FC_SEED', `must be an integer or 'random', got '${fromEnvironment}'`);
  return seed;
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
