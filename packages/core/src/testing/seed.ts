import { ValueError } from '../errors.js';

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
