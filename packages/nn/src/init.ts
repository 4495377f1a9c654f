import { type DType, type Rng, type Tensor, ValueError, createRng, tensor, zeros } from '@tapegrad/core';

/**
 * Weight initialisers for W ∈ R^{out×in}, all drawn from a seeded generator. Random
 * weights break the symmetry between hidden units (seed 001's TODO): with a constant
 * init every unit of a layer computes the same function and receives the same gradient,
 * forever. Biases start at zero: they do not suffer from that symmetry (seed 000, note 1).
 */
export type Initializer =
  | 'zeros'
  | 'xavierUniform' | 'xavierNormal'   // Glorot & Bengio: variance 2/(in+out)
  | 'heNormal' | 'heUniform'           // He et al.: variance 2/in, for relu
  | 'lecunNormal' | 'lecunUniform'     // LeCun: variance 1/in
  | 'standardNormal'                   // N(0, 1): the seeds' "classic" init
  | { constant: number };

/** Every initialiser name, for validation and command-line choices. */
export const INITIALIZERS = ['zeros', 'xavierUniform', 'xavierNormal', 'heNormal', 'heUniform', 'lecunNormal', 'lecunUniform', 'standardNormal'] as const;

/** Options of initWeights and initTensor: dtype and the generator (or seed) to draw from. */
export interface InitOptions {
  dtype?: DType;
  rng?: Rng;
  seed?: number;
}

/**
 * fan-in and fan-out of a weight tensor, PyTorch's rule: a matrix [out, in] has fans (in, out);
 * a convolution kernel [O, C/groups, kH, kW] has fan-in (C/groups)·kH·kW, the inputs one output
 * reads, and fan-out O·kH·kW (the receptive field times the output channels).
 */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ValueError('init', `a weight needs at least two positive axes ([out, in] or [O, C/groups, kH, kW]), got [${shape.join(',')}]`);
  }
  const receptive = shape.slice(2).reduce((n, d) => n * d, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** A [fanOut, fanIn] weight matrix drawn from the named distribution. */
export function initWeights(init: Initializer, fanOut: number, fanIn: number, options: InitOptions = {}): Tensor {
  return initTensor(init, [fanOut, fanIn], options);
}

/**
 * A weight of any shape (a matrix, a conv kernel [O, C/groups, kH, kW]) drawn from the named
 * distribution, its variance set by {@link fans} of the shape; values in row-major order.
 */
export function initTensor(init: Initializer, shape: readonly number[], options: InitOptions = {}): Tensor {
  const dtype = options.dtype ?? 'float32';
  const n = shape.reduce((a, d) => a * d, 1);
  if (typeof init === 'object' && init !== null && typeof init.constant === 'number') {
    return zeros([...shape], { dtype }).assign(new Array(n).fill(init.constant));
  }
  if (init === 'zeros') return zeros([...shape], { dtype });
  if (!INITIALIZERS.includes(init as (typeof INITIALIZERS)[number])) {
    throw new ValueError('init', `unknown initialiser '${JSON.stringify(init)}': choose one of ${INITIALIZERS.join(', ')} or { constant: c }`);
  }
  const rng = options.rng ?? (options.seed !== undefined ? createRng(options.seed) : undefined);
  if (!rng) throw new ValueError('init', `'${init}' needs a seed or an rng: tapegrad never draws unseeded randomness`);
  const { fanIn, fanOut } = fans(shape);
  const values = new Float64Array(n);
  const normal = (std: number) => { for (let i = 0; i < n; i++) values[i] = std * rng.normal(); };
  const uniform = (limit: number) => { for (let i = 0; i < n; i++) values[i] = limit * (2 * rng.next() - 1); };
  switch (init) {
    case 'xavierUniform': uniform(Math.sqrt(6 / (fanIn + fanOut))); break;
    case 'xavierNormal': normal(Math.sqrt(2 / (fanIn + fanOut))); break;
    case 'heNormal': normal(Math.sqrt(2 / fanIn)); break;
    case 'heUniform': uniform(Math.sqrt(6 / fanIn)); break;
    case 'lecunNormal': normal(Math.sqrt(1 / fanIn)); break;
    case 'lecunUniform': uniform(Math.sqrt(3 / fanIn)); break;
    case 'standardNormal': normal(1); break;
  }
  return tensor(values, { shape: [...shape], dtype });
}
