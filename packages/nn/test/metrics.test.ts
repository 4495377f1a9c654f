import { ShapeError, ValueError, tensor } from '@tapegrad/core';
import { accuracy, confusionMatrix, precisionRecallF1 } from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

// Three classes, four examples (columns). Predicted classes by argmax: 0, 2, 1, 0 (the last
// column ties 0.5/0.5 and takes the first unit); true classes 0, 2, 0, 0.
const probs = tensor([
  [0.7, 0.1, 0.3, 0.5],
  [0.2, 0.3, 0.4, 0.5],
  [0.1, 0.6, 0.3, 0.0],
]);
const oneHot = tensor([
  [1, 0, 1, 1],
  [0, 0, 0, 0],
  [0, 1, 0, 0],
]);
const indices = tensor([[0, 2, 0, 0]]);

// One sigmoid unit, eight examples. Actual positives: columns 0, 1, 3, 6.
const scores = tensor([[0.9, 0.8, 0.6, 0.4, 0.3, 0.2, 0.7, 0.1]]);
const labels = tensor([[1, 1, 0, 1, 0, 0, 1, 0]]);

describe('accuracy', () => {
  it('takes the argmax of each column for one-hot targets or class indices', () => {
    expect(accuracy(probs, oneHot)).toBe(0.75);
    expect(accuracy(probs, indices)).toBe(0.75);
  });

  it('thresholds a single sigmoid unit at 0.5, a prediction of exactly 0.5 being class 0 (seed 000)', () => {
    // predictions 1, 0, 1, 0, 1 against 1, 0, 1, 1, 0: three right
    const p = tensor([[0.9, 0.5, 0.51, 0.2, 0.7]]);
    const y = tensor([[1, 0, 1, 1, 0]]);
    expect(accuracy(p, y)).toBeCloseTo(0.6, 15);
    // at 0.6: predictions 1, 0, 0, 0, 1, two right
    expect(accuracy(p, y, { threshold: 0.6 })).toBeCloseTo(0.4, 15);
  });

  it('refuses mismatched shapes, out-of-range class indices and empty batches', () => {
    expect(() => accuracy(probs, tensor([[1, 0, 1], [0, 1, 0]]))).toThrow(ShapeError);
    expect(() => accuracy(probs, tensor([[0, 3, 0, 0]]))).toThrow(/target 1 is class 3/);
    expect(() => accuracy(probs, tensor([[0, 1.5, 0, 0]]))).toThrow(ValueError);
    expect(() => accuracy(tensor([[0.5]]), tensor([[1, 0]]))).toThrow(ShapeError);
    expect(() => accuracy(scores, labels, { threshold: Number.NaN })).toThrow(/threshold must be a finite number/);
  });
});

describe('precisionRecallF1', () => {
  it('counts TP, FP, FN, TN at the default threshold 0.5', () => {
    // predicted positive: 0, 1, 2, 6 → TP {0,1,6}, FP {2}, FN {3}, TN {4,5,7}
    expect(precisionRecallF1(scores, labels)).toEqual({
      precision: 0.75, recall: 0.75, f1: 0.75, truePositives: 3, falsePositives: 1, falseNegatives: 1, trueNegatives: 3,
    });
  });

  it('trades recall for precision as the threshold rises (seed 000)', () => {
    const high = precisionRecallF1(scores, labels, { threshold: 0.75 }); // predicted positive: 0, 1
    expect([high.precision, high.recall]).toEqual([1, 0.5]);
    expect(high.f1).toBeCloseTo(2 / 3, 15);
    const low = precisionRecallF1(scores, labels, { threshold: 0.35 }); // predicted positive: 0, 1, 2, 3, 6
    expect([low.precision, low.recall]).toEqual([0.8, 1]);
    expect(low.f1).toBeCloseTo(8 / 9, 15);
    expect(high.precision).toBeGreaterThan(low.precision);
    expect(high.recall).toBeLessThan(low.recall);
  });

  it('returns 0 for 0/0: no positive predictions, no positive examples', () => {
    expect(precisionRecallF1(scores, labels, { threshold: 0.95 })).toEqual({
      precision: 0, recall: 0, f1: 0, truePositives: 0, falsePositives: 0, falseNegatives: 4, trueNegatives: 4,
    });
    const none = precisionRecallF1(scores, tensor([[0, 0, 0, 0, 0, 0, 0, 0]]));
    expect([none.precision, none.recall, none.f1, none.falsePositives]).toEqual([0, 0, 0, 4]);
  });

  it('counts class 0 as positive when asked, with the same decision rule', () => {
    // predicted class 0: 3, 4, 5, 7; actual class 0: 2, 4, 5, 7
    expect(precisionRecallF1(scores, labels, { positiveClass: 0 })).toEqual({
      precision: 0.75, recall: 0.75, f1: 0.75, truePositives: 3, falsePositives: 1, falseNegatives: 1, trueNegatives: 3,
    });
    expect(() => precisionRecallF1(scores, labels, { positiveClass: 2 })).toThrow(/must be 0 or 1/);
  });

  it('is one-vs-rest on a unit of a K-unit output, which needs positiveClass', () => {
    const p = tensor([
      [0.1, 0.6, 0.2, 0.1],
      [0.2, 0.3, 0.2, 0.3],
      [0.7, 0.1, 0.6, 0.6],
    ]);
    // ŷ₂ > 0.5 in columns 0, 2, 3; class 2 in columns 0 and 3
    const expected = { precision: 2 / 3, recall: 1, truePositives: 2, falsePositives: 1, falseNegatives: 0, trueNegatives: 1 };
    for (const y of [tensor([[2, 0, 1, 2]]), tensor([[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])]) {
      const r = precisionRecallF1(p, y, { positiveClass: 2 });
      expect(r).toMatchObject(expected);
      expect(r.f1).toBeCloseTo(0.8, 15);
    }
    expect(() => precisionRecallF1(p, tensor([[2, 0, 1, 2]]))).toThrow(/positiveClass/);
    expect(() => precisionRecallF1(p, tensor([[2, 0, 1, 2]]), { positiveClass: 3 })).toThrow(ValueError);
  });
});

describe('confusionMatrix', () => {
  it('has true classes as rows and predicted classes as columns', () => {
    expect(confusionMatrix(probs, oneHot, 3)).toEqual([[2, 1, 0], [0, 0, 0], [0, 0, 1]]);
    expect(confusionMatrix(probs, indices, 3)).toEqual([[2, 1, 0], [0, 0, 0], [0, 0, 1]]);
  });

  it('is [[TN, FP], [FN, TP]] for one sigmoid unit', () => {
    expect(confusionMatrix(scores, labels, 2)).toEqual([[3, 1], [1, 3]]);
    expect(confusionMatrix(scores, labels, 2, { threshold: 0.75 })).toEqual([[4, 0], [2, 2]]);
  });

  it('refuses a class count that does not fit the predictions', () => {
    expect(() => confusionMatrix(probs, oneHot, 4)).toThrow(ShapeError);
    expect(() => confusionMatrix(scores, labels, 3)).toThrow(/expected 2/);
  });
});
