import { type Tensor, ShapeError, ValueError } from '@tapegrad/core';

/**
 * Classification metrics on predictions Ŷ and targets Y laid out as [units, examples],
 * the same layout as the losses: column m is example m. Plain numbers, no tape: metrics are
 * read, not differentiated.
 *
 * Which class a column predicts:
 * - one output unit (a sigmoid): class 1 when ŷ > threshold, else class 0. As in seed 000,
 *   a prediction exactly at the threshold is class 0. Default threshold 0.5.
 * - K > 1 units (softmax probabilities, or logits): the unit with the largest value, the
 *   first one on ties.
 *
 * Targets are either shaped like Ŷ (0/1 for one unit, one-hot columns for K units; a target
 * counts as 1 when it is > 0.5), or, for K-unit predictions, a [1, M] row of class indices.
 */

export interface ThresholdOptions {
  /** The decision threshold of a single sigmoid unit: class 1 when ŷ > threshold. Default 0.5. */
  threshold?: number;
}

export interface PrecisionRecallOptions extends ThresholdOptions {
  /**
   * The class counted as positive. For one unit: 1 (default) or 0. For K units it is
   * required: the unit k whose ŷₖ > threshold makes a positive prediction (one-vs-rest).
   */
  positiveClass?: number;
}

/** Counts and rates of a binary (or one-vs-rest) decision. */
export interface PrecisionRecallF1 {
  /** TP / (TP + FP), or 0 when nothing was predicted positive. */
  precision: number;
  /** TP / (TP + FN), or 0 when no example is positive. */
  recall: number;
  /** 2·P·R / (P + R), or 0 when P + R = 0. */
  f1: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  trueNegatives: number;
}

function checkThreshold(op: string, threshold: unknown): number {
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) throw new ValueError(op, `threshold must be a finite number, got ${String(threshold)}`);
  return threshold;
}

/** Ŷ is [units, M]; Y is [units, M] or, for units > 1, a [1, M] row of class indices. */
function checkPair(op: string, yHat: Tensor, y: Tensor): { units: number; examples: number } {
  if (yHat?.rank !== 2 || y?.rank !== 2) {
    throw new ShapeError(op, `predictions and targets must be [units, examples], got [${yHat?.shape?.join(',')}] and [${y?.shape?.join(',')}]`);
  }
  const [units, examples] = yHat.shape;
  if (y.shape[1] !== examples || (y.shape[0] !== units && y.shape[0] !== 1)) {
    throw new ShapeError(op, `targets [${y.shape.join(',')}] do not fit predictions [${yHat.shape.join(',')}]: expected [${units},${examples}]${units > 1 ? ` or a row of class indices [1,${examples}]` : ''}`);
  }
  if (examples === 0) throw new ValueError(op, 'no examples: predictions have 0 columns');
  return { units, examples };
}

/** The class each column of Ŷ predicts. */
function predictedClasses(yHat: Tensor, threshold: number): Int32Array {
  const [units, examples] = yHat.shape;
  const data = yHat.data;
  const out = new Int32Array(examples);
  if (units === 1) {
    for (let m = 0; m < examples; m++) out[m] = data[m] > threshold ? 1 : 0;
    return out;
  }
  for (let m = 0; m < examples; m++) {
    let best = 0;
    for (let k = 1; k < units; k++) if (data[k * examples + m] > data[best * examples + m]) best = k;
    out[m] = best;
  }
  return out;
}

/** The class of each target column: 0/1 for one unit, argmax of one-hot columns, or the given indices. */
function trueClasses(op: string, y: Tensor, units: number): Int32Array {
  const [rows, examples] = y.shape;
  const data = y.data;
  const out = new Int32Array(examples);
  if (units === 1) {
    for (let m = 0; m < examples; m++) out[m] = data[m] > 0.5 ? 1 : 0;
  } else if (rows === 1) {
    for (let m = 0; m < examples; m++) {
      const c = data[m];
      if (!Number.isInteger(c) || c < 0 || c >= units) throw new ValueError(op, `target ${m} is class ${c}, not an integer in [0, ${units})`);
      out[m] = c;
    }
  } else {
    for (let m = 0; m < examples; m++) {
      let best = 0;
      for (let k = 1; k < units; k++) if (data[k * examples + m] > data[best * examples + m]) best = k;
      out[m] = best;
    }
  }
  return out;
}

/**
 * The fraction of columns whose predicted class equals the target's: argmax per column for
 * K units, ŷ > threshold for one sigmoid unit (pass `threshold: 0` for logits).
 */
export function accuracy(yHat: Tensor, y: Tensor, options: ThresholdOptions = {}): number {
  const op = 'accuracy';
  const { units, examples } = checkPair(op, yHat, y);
  const predicted = predictedClasses(yHat, checkThreshold(op, options.threshold ?? 0.5));
  const actual = trueClasses(op, y, units);
  let correct = 0;
  for (let m = 0; m < examples; m++) if (predicted[m] === actual[m]) correct++;
  return correct / examples;
}

/**
 * Precision, recall and F1 of a binary decision at a threshold. Raising the threshold
 * predicts positive less often: precision tends to rise and recall to fall (seed 000's
 * trade-off); lowering it does the opposite.
 *
 * 0/0 is 0, explicitly: with no positive predictions precision is 0, with no positive
 * examples recall is 0, and F1 is 0 when both are — the convention of scikit-learn's
 * `zero_division=0`, which never rewards predicting nothing.
 */
export function precisionRecallF1(yHat: Tensor, y: Tensor, options: PrecisionRecallOptions = {}): PrecisionRecallF1 {
  const op = 'precisionRecallF1';
  const { units, examples } = checkPair(op, yHat, y);
  const threshold = checkThreshold(op, options.threshold ?? 0.5);
  const { positiveClass } = options;
  const predictedPositive = new Uint8Array(examples);
  const actualPositive = new Uint8Array(examples);
  if (units === 1) {
    const positive = positiveClass ?? 1;
    if (positive !== 0 && positive !== 1) throw new ValueError(op, `positiveClass of a single output unit must be 0 or 1, got ${positive}`);
    const predicted = predictedClasses(yHat, threshold);
    const actual = trueClasses(op, y, 1);
    for (let m = 0; m < examples; m++) {
      predictedPositive[m] = predicted[m] === positive ? 1 : 0;
      actualPositive[m] = actual[m] === positive ? 1 : 0;
    }
  } else {
    if (positiveClass === undefined) throw new ValueError(op, `predictions have ${units} units: say which is positive with positiveClass (0..${units - 1})`);
    if (!Number.isInteger(positiveClass) || positiveClass < 0 || positiveClass >= units) {
      throw new ValueError(op, `positiveClass must be an integer in [0, ${units}), got ${positiveClass}`);
    }
    const p = yHat.data;
    for (let m = 0; m < examples; m++) predictedPositive[m] = p[positiveClass * examples + m] > threshold ? 1 : 0;
    if (y.shape[0] === 1) {
      const actual = trueClasses(op, y, units);
      for (let m = 0; m < examples; m++) actualPositive[m] = actual[m] === positiveClass ? 1 : 0;
    } else {
      // per unit, not argmax: multi-label targets may mark several units
      for (let m = 0; m < examples; m++) actualPositive[m] = y.data[positiveClass * examples + m] > 0.5 ? 1 : 0;
    }
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let m = 0; m < examples; m++) {
    if (predictedPositive[m]) {
      if (actualPositive[m]) tp++;
      else fp++;
    } else if (actualPositive[m]) fn++;
    else tn++;
  }
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1, truePositives: tp, falsePositives: fp, falseNegatives: fn, trueNegatives: tn };
}

/**
 * counts[i][j] = how many examples of true class i were predicted as class j (rows = true
 * class, columns = predicted). `classes` is 2 for one sigmoid unit, else the number of units.
 */
export function confusionMatrix(yHat: Tensor, y: Tensor, classes: number, options: ThresholdOptions = {}): number[][] {
  const op = 'confusionMatrix';
  const { units, examples } = checkPair(op, yHat, y);
  const expected = units === 1 ? 2 : units;
  if (classes !== expected) {
    throw new ShapeError(op, `${classes} classes for predictions with ${units} unit${units === 1 ? '' : 's'}: expected ${expected}${units === 1 ? ' (one sigmoid unit decides between classes 0 and 1)' : ''}`);
  }
  const predicted = predictedClasses(yHat, checkThreshold(op, options.threshold ?? 0.5));
  const actual = trueClasses(op, y, units);
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let m = 0; m < examples; m++) counts[actual[m]][predicted[m]]++;
  return counts;
}

/** A metric as `fit` and `evaluate` take it: predictions and targets in, one number out. */
export type MetricFn = (yHat: Tensor, y: Tensor) => number;

/** Metrics `fit` and `evaluate` know by name (binary ones at threshold 0.5, class 1 positive). */
export type MetricName = 'accuracy' | 'precision' | 'recall' | 'f1';

/** The built-in metrics by name, as fit and evaluate look them up. */
export const METRICS: Readonly<Record<MetricName, MetricFn>> = {
  accuracy: (yHat, y) => accuracy(yHat, y),
  precision: (yHat, y) => precisionRecallF1(yHat, y).precision,
  recall: (yHat, y) => precisionRecallF1(yHat, y).recall,
  f1: (yHat, y) => precisionRecallF1(yHat, y).f1,
};
