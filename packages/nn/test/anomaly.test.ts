import { describe, expect, it } from 'vitest';
import { AnomalyError, Tape, detectAnomalies, log, mean, sqrt, tensor } from '@tapegrad/core';
import { mlp } from '@tapegrad/nn';

/** A 3-4-3 relu network whose second output unit is exactly 0 (zero weight row and bias). */
function network() {
  const model = mlp([3, 4, 3], { hidden: 'tanh', output: 'relu', dtype: 'float64', seed: 5 });
  const [, out] = model.denseLayers();
  out.W.assign(Array.from(out.W.data, (v, i) => (i >= 4 && i < 8 ? 0 : Math.abs(v))));
  out.b.assign([0.1, 0, 0.1]);
  const x = tensor([[1, -1], [0.5, 2], [-0.3, 0.2]], { dtype: 'float64' });
  return { model, x, out };
}

function anomalyOf(fn: () => unknown): AnomalyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AnomalyError) return e;
    throw e;
  }
  throw new Error('no AnomalyError');
}

describe('detectAnomalies on an nn network', () => {
  it('a log(0) after two Dense layers: the forward op, the element and this file\'s line', () => {
    const { model, x } = network();
    const error = anomalyOf(() => detectAnomalies(() => new Tape().record(() => mean(log(model.forward(x))))));
    expect(error.message).toMatch(/^log: 'log' produced -Infinity at index \[1,0\] of its \[3,2\] output \(input shapes \[3,2\]\) in the forward pass at .*nn\/test\/anomaly\.test\.ts:\d+:\d+/);
  });

  it('a sqrt(0) there: forward fine, its gradient ∞, blamed on sqrt and the line that recorded it', () => {
    const { model, x, out } = network();
    const error = anomalyOf(() => detectAnomalies(() => {
      const tape = new Tape();
      const C = tape.record(() => mean(sqrt(model.forward(x))));
      return tape.gradient(C, out.W);
    }));
    expect(error.phase).toBe('backward');
    expect(error.gradientOf).toBe('sqrt');
    expect(error.message).toMatch(/^div: 'div' produced Infinity at index \[1,0\] of its \[3,2\] output \(input shapes \[3,2\], \[3,2\]\) while computing the gradient of 'sqrt', recorded at .*nn\/test\/anomaly\.test\.ts:\d+:\d+/);
  });
});
