import { describe, expect, it } from 'vitest';
import {
  AnomalyError, Tape, type Tensor, detectAnomalies, grad, isDetectingAnomalies, log, matmul, mean, relu, setDetectAnomalies,
  sigmoid, sqrt, sum, tensor,
} from '@tapegrad/core';

const f64 = (data: Parameters<typeof tensor>[0]) => tensor(data, { dtype: 'float64' });

/**
 * A 2-3-2 network whose second layer's ReLU is exactly 0 on one unit for the second
 * example, so a log or sqrt of it three layers in makes the only bad value.
 */
function network() {
  const x = f64([[1, -1], [2, 0.5]]); // 2 features × 2 examples
  const W1 = f64([[1, 0], [0, 1], [1, 1]]);
  const W2 = f64([[1, -1, 0], [0, 1, -1]]);
  return { x, W1, W2 };
}

function hidden(x: Tensor, W1: Tensor, W2: Tensor): Tensor {
  // layer 2, unit 1, example 2: 0.5 − (−1 + 0.5) = 1; unit 0, example 2: −1 − 0.5 < 0 → relu 0
  return relu(matmul(W2, sigmoid(matmul(W1, x)).mul(4).sub(2)));
}

function caught(fn: () => unknown): AnomalyError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AnomalyError) return e;
    throw e;
  }
  throw new Error('no AnomalyError was raised');
}

describe('detectAnomalies', () => {
  it('names the forward op that made −∞, the index, the input shapes and the calling line', () => {
    const { x, W1, W2 } = network();
    const error = caught(() => detectAnomalies(() => mean(log(hidden(x, W1, W2)))));
    expect(error.phase).toBe('forward');
    expect(error.op).toBe('log');
    expect(error.value).toBe(-Infinity);
    expect(error.outputShape).toEqual([2, 2]);
    expect(error.inputShapes).toEqual([[2, 2]]);
    const h = hidden(x, W1, W2).toArray() as number[][];
    expect(h[error.index[0]][error.index[1]]).toBe(0);
    expect(error.source).toMatch(/anomaly\.test\.ts:\d+:\d+/);
    expect(error.message).toMatch(/^log: 'log' produced -Infinity at index \[\d,\d\] of its \[2,2\] output \(input shapes \[2,2\]\) in the forward pass at .*anomaly\.test\.ts:\d+/);
  });

  it('in the backward pass, names the VJP op, the forward op whose gradient went bad and where it was recorded', () => {
    const { x, W1, W2 } = network();
    // sqrt(0) = 0 is fine; its derivative 1/(2·√0) is not
    const error = caught(() => detectAnomalies(() => grad((w: Tensor) => sum(sqrt(hidden(x, W1, w))))(W2)));
    expect(error.phase).toBe('backward');
    expect(error.gradientOf).toBe('sqrt');
    expect(error.op).toBe('div');
    expect(error.value).toBe(Infinity);
    expect(error.source).toMatch(/anomaly\.test\.ts:\d+:\d+/);
    expect(error.message).toMatch(/while computing the gradient of 'sqrt', recorded at .*anomaly\.test\.ts:\d+/);
  });

  it('a forward pass recorded with detection off still has its backward checked, without a source line', () => {
    const { x, W1, W2 } = network();
    const tape = new Tape();
    const y = tape.record(() => sum(sqrt(hidden(x, W1, W2))));
    const error = caught(() => detectAnomalies(() => tape.gradient(y, W2)));
    expect(error.gradientOf).toBe('sqrt');
    expect(error.source).toBeUndefined();
    expect(error.message).toMatch(/source line is captured only when the forward pass runs with detection on/);
  });

  it('is off by default, restored after detectAnomalies (even when it throws), and switchable globally', () => {
    const { x, W1, W2 } = network();
    expect(isDetectingAnomalies()).toBe(false);
    // off: NaN and ∞ flow through as IEEE says
    expect(mean(log(hidden(x, W1, W2))).item()).toBe(-Infinity);
    caught(() => detectAnomalies(() => log(f64([0]))));
    expect(isDetectingAnomalies()).toBe(false);
    const previous = setDetectAnomalies(true);
    try {
      expect(previous).toBe(false);
      expect(caught(() => log(f64([1, -1]))).value).toBeNaN();
      expect(caught(() => log(f64([1, -1]))).index).toEqual([1]);
    } finally {
      setDetectAnomalies(false);
    }
    // finite computations are untouched by detection
    expect(detectAnomalies(() => grad((w: Tensor) => sum(hidden(x, W1, w)))(W2)).shape).toEqual([2, 3]);
  });
});
