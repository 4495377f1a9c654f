/**
 * A custom architecture in a few lines: a weight-tied autoencoder on the classic 8-3-8
 * encoder problem (8 one-hot patterns squeezed through 3 hidden units and back). The
 * decoder reuses the encoder's W transposed, so W fans out twice and the tape sums both
 * contributions; no gradient code is written here. A model is just parameters and a forward
 * function built from core ops, and `checkGradients`-style verification applies to it too.
 *
 *   pnpm exec tsx examples/custom-architecture/main.ts [--steps 3000]
 */
import { type Tensor, Tape, add, eye, matmul, noGrad, sigmoid, sub, mul, transpose, zeros } from '@tapegrad/core';
import { type Module, type NamedParameters, binaryCrossEntropyFromLogits, initWeights } from '@tapegrad/nn';
import { gradcheck } from '@tapegrad/core/testing';
import { readOptions } from '../shared/options.js';

/** The decoder's logits Wᵀ σ(W x + b_enc) + b_dec, a pure function of the parameters. */
function reconstructionLogits(W: Tensor, encoderBias: Tensor, decoderBias: Tensor, x: Tensor): Tensor {
  const code = sigmoid(add(matmul(W, x), encoderBias));
  return add(matmul(transpose(W), code), decoderBias);
}

/** h = σ(W x + b_enc), x̂ = σ(Wᵀ h + b_dec): one W for both directions. */
class TiedAutoencoder implements Module {
  readonly W: Tensor;
  readonly encoderBias: Tensor;
  readonly decoderBias: Tensor;

  constructor(features: number, code: number, seed: number) {
    this.W = initWeights('xavierUniform', code, features, { seed, dtype: 'float64' });
    this.encoderBias = zeros([code, 1], { dtype: 'float64' });
    this.decoderBias = zeros([features, 1], { dtype: 'float64' });
  }

  parameters(): NamedParameters {
    return { W: this.W, encoderBias: this.encoderBias, decoderBias: this.decoderBias };
  }

  forward(x: Tensor): Tensor {
    return sigmoid(reconstructionLogits(this.W, this.encoderBias, this.decoderBias, x));
  }
}

const { steps } = readOptions({ steps: { kind: 'count', default: 3000, help: 'N ≥ 1 gradient steps' } });

const X = eye(8, 8, { dtype: 'float64' }); // 8 examples as columns, each a one-hot pattern
const model = new TiedAutoencoder(8, 3, 7);
const params = Object.values(model.parameters());
// the cross-entropy takes the logits: stable, and its gradient is (x̂ − x)/M
const lossAt = (W: Tensor, encoderBias: Tensor, decoderBias: Tensor) =>
  binaryCrossEntropyFromLogits(reconstructionLogits(W, encoderBias, decoderBias, X), X);

// W is used twice (encoder and decoder): check the summed gradient before training
const check = gradcheck(lossAt, params, { order: 2 });
console.log(`gradcheck of the tied weights: ${check.message}`);

const learningRate = 2;
let first = NaN;
let last = NaN;
for (let step = 0; step <= steps; step++) {
  const tape = new Tape();
  const loss = tape.record(() => lossAt(model.W, model.encoderBias, model.decoderBias));
  if (step === 0) first = loss.item();
  last = loss.item();
  if (step % Math.max(1, Math.floor(steps / 5)) === 0) console.log(`step ${String(step).padStart(5)}  loss ${loss.item().toFixed(4)}`);
  if (step === steps) break;
  const grads = tape.gradient(loss, params);
  noGrad(() => params.forEach((p, i) => p.assign(sub(p, mul(grads[i], learningRate)))));
}

const reconstruction = noGrad(() => model.forward(X));
let correct = 0;
for (let m = 0; m < 8; m++) {
  let best = 0;
  for (let i = 1; i < 8; i++) if (reconstruction.data[i * 8 + m] > reconstruction.data[best * 8 + m]) best = i;
  if (best === m) correct++;
}
console.log(`loss ${first.toFixed(4)} → ${last.toFixed(4)}; ${correct}/8 patterns reconstructed through a 3-unit code`);
