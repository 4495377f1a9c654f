import { type Rng, Tensor, createRng } from '@tapegrad/core';
import { Conv2d, Dense, Flatten, type Initializer, MaxPool2d, ReLU, type Sequential, sequential } from '@tapegrad/nn';

/**
 * The CNN of `tapegrad train --model cnn`: BENCH-PROTOCOL.md's task T4, a LeNet-5 style
 * network on images [N, 1, S, S] (S = 28 for MNIST):
 *
 *     conv1   5×5, 1 → 6 channels, padding 2     [N, 6, S, S]
 *     relu1, pool1 (max 2×2, stride 2)            [N, 6, S/2, S/2]
 *     conv2   5×5, 6 → 16 channels, no padding   [N, 16, S/2 − 4, S/2 − 4]
 *     relu2, pool2 (max 2×2, stride 2)            [N, 16, P, P]   P = (S/2 − 4)/2, 5 for S = 28
 *     flatten (channel, row, column order)        [16·P², N]      400 features for S = 28
 *     dense1 16·P² → 120 relu, dense2 120 → 84 relu, dense3 84 → classes softmax
 *
 * Parameters are named by layer (`conv1.W` [6, 1, 5, 5], `conv1.b` [6], …, `dense3.b`
 * [classes, 1]). Every layer is nn's; fit, evaluate and predict differentiate and run it.
 * Weights are drawn from one mulberry32(seed) in the protocol's order conv1, conv2, dense1,
 * dense2, dense3, each row-major in its natural layout ([out, in, kh, kw], [out, in]),
 * He-normal over the fan-in (in·kh·kw for a conv, in for a dense layer); biases start at 0.
 * With seed 1004 these are T4's initial weights exactly.
 */

export const CNN_NAME = 'lenet5';
/** The smallest image side the network fits: conv2 needs S/2 ≥ 5 + 1 so pool2 has a window. */
export const CNN_MIN_SIDE = 12;
export const CNN_CHANNELS = [6, 16] as const;
export const CNN_DENSE = [120, 84] as const;

/** The input: channels × side × side. */
export interface CnnShape {
  channels: number;
  side: number;
  classes: number;
}

/** Side of pool2's output for an input of side S: ⌊(⌊S/2⌋ − 4)/2⌋. */
export function pooledSide(side: number): number {
  return Math.floor((Math.floor(side / 2) - 4) / 2);
}

/** What flatten hands dense1: 16·P² (400 for 28×28 images). */
export function flatFeatures(side: number): number {
  return CNN_CHANNELS[1] * pooledSide(side) ** 2;
}

/** Trainable values of the network, counted before building it (a damaged file may claim huge images). */
export function cnnParameterCount({ channels, side, classes }: CnnShape): number {
  const [c1, c2] = CNN_CHANNELS;
  const [d1, d2] = CNN_DENSE;
  return c1 * (channels * 25 + 1) + c2 * (c1 * 25 + 1) + d1 * (flatFeatures(side) + 1) + d2 * (d1 + 1) + classes * (d2 + 1);
}

/** One line for people: `LeNet-5 1×28×28: conv 5×5 6 pad 2, relu, maxpool 2; …; dense 400-120-84-10, relu; softmax`. */
export function describeCnn({ channels, side, classes }: CnnShape): string {
  const [c1, c2] = CNN_CHANNELS;
  const [d1, d2] = CNN_DENSE;
  return `LeNet-5 ${channels}×${side}×${side}: conv 5×5 ${channels}→${c1} pad 2, relu, maxpool 2; conv 5×5 ${c1}→${c2}, relu, maxpool 2; `
    + `flatten ${flatFeatures(side)}; dense ${flatFeatures(side)}-${d1}-${d2}-${classes}, relu hidden, softmax output`;
}

export interface CnnOptions extends CnnShape {
  init: Initializer;
  /** Seed of the one generator every layer draws from, in order. */
  seed?: number;
}

/** The network, float32; with init 'zeros' (no seed needed) a shell for weights read from a file. */
export function buildCnn(options: CnnOptions): Sequential {
  const { channels, side, classes, init } = options;
  const [c1, c2] = CNN_CHANNELS;
  const [d1, d2] = CNN_DENSE;
  const rng: Rng | undefined = options.seed === undefined ? undefined : createRng(options.seed);
  const common = { init, rng, dtype: 'float32' as const };
  // constructed in the protocol's order, so each layer draws its weights after the one before
  return sequential({
    conv1: new Conv2d(channels, c1, 5, { padding: 2, ...common }),
    relu1: new ReLU(),
    pool1: new MaxPool2d(2),
    conv2: new Conv2d(c1, c2, 5, common),
    relu2: new ReLU(),
    pool2: new MaxPool2d(2),
    flatten: new Flatten(),
    dense1: new Dense(flatFeatures(side), d1, { activation: 'relu', ...common }),
    dense2: new Dense(d1, d2, { activation: 'relu', ...common }),
    dense3: new Dense(d2, classes, { activation: 'softmax', ...common }),
  });
}

/**
 * Examples as columns [C·S·S, N] (the data sets' layout) → images [N, C, S, S] (the CNN's),
 * each column's values being its image row by row, as the protocol reads a sample's 784 floats.
 */
export function columnsToImages(x: Tensor, channels: number, side: number): Tensor {
  const [features, count] = x.shape;
  if (features !== channels * side * side) throw new Error(`columnsToImages: ${features} features are not ${channels}×${side}×${side}`);
  const source = x.data;
  const out = x.dtype === 'float64' ? new Float64Array(features * count) : new Float32Array(features * count);
  for (let f = 0; f < features; f++) {
    const row = f * count;
    for (let m = 0; m < count; m++) out[m * features + f] = source[row + m];
  }
  return new Tensor(out, [count, channels, side, side], x.dtype);
}

/** The side of the square images `features` pixels make, or undefined when they are not square. */
export function squareSide(features: number): number | undefined {
  const side = Math.round(Math.sqrt(features));
  return side * side === features ? side : undefined;
}
