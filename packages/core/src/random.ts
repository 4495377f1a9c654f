import { ValueError } from './errors.js';
import { noteRandomDraw } from './step-hooks.js';

/**
 * Seedable randomness. mulberry32 is the generator that BENCH-PROTOCOL.md fixes, so a
 * tapegrad run and a TF.js run can start from the very same weights.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal: one Box–Muller sample per pair of uniforms, as the protocol fixes. */
  normal(): number;
}

/** The mulberry32 generator the benchmark protocol fixes: a function returning uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seeded generator. The seed must be an integer: mulberry32 keeps its low 32 bits, and
 * anything else would be coerced (NaN and 'abc' to 0, 1.5 to 1) and quietly repeat another
 * seed's numbers, so it is a ValueError instead.
 */
export function createRng(seed: number): Rng {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new ValueError('createRng', `seed must be an integer, got ${typeof seed === 'string' ? `'${seed}'` : String(seed)}`);
  }
  const draw = mulberry32(seed);
  // reported to a step being recorded: a step that draws is never replayed
  const next = (): number => {
    noteRandomDraw();
    return draw();
  };
  return {
    next,
    normal() {
      const u1 = next();
      const u2 = next();
      // 1 − u1 lies in (0, 1], so the log is finite
      return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    },
  };
}

/** In-place Fisher–Yates, the protocol's epoch shuffle: i from n−1 down to 1. */
export function shuffleInPlace<T>(items: T[] | Int32Array | Uint32Array, rng: Rng): void {
  for (let i = items.length - 1; i >= 1; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
}
