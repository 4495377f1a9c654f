/**
 * Tests written for the mutants of core/src/ops/composite/einsum.ts that survived a StrykerJS
 * run against einsum's op property cases (docs/mutation.md).
 */
import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError, einsum, matmul, mul, tensor, transpose } from '@tapegrad/core';
import type { Tensor } from '@tapegrad/core';

const f64 = (values: number[], shape?: number[]) => tensor(values, { shape: shape ?? [values.length], dtype: 'float64' });
const counting = (shape: number[], scale = 1) => f64(Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => (i + 1) * scale), shape);

describe('ops/composite/einsum.ts', () => {
  it('refuses a spec that is not a string and an operand that is not a tensor, naming einsum', () => {
    const v = f64([1, 2]);
    const notString = () => einsum(42 as unknown as string, v);
    expect(notString).toThrow(ValueError);
    expect(notString).toThrow('einsum: the spec must be a string, got number');
    const notTensor = () => einsum('i,i->', v, [1, 2] as unknown as Tensor);
    expect(notTensor).toThrow(ValueError);
    expect(notTensor).toThrow(/^einsum: input 1 is .*, not a Tensor$/);
  });

  it("quotes the spec when it has two '->' or two ellipses in one term", () => {
    const m = counting([2, 2]);
    expect(() => einsum('i->j->k', m)).toThrow(`einsum: "i->j->k" has more than one '->'`);
    const twice = () => einsum('...i...->i', m);
    expect(twice).toThrow(ValueError);
    expect(twice).toThrow(`einsum: "...i...->i": operand 0 ('...i...') has more than one ellipsis`);
  });

  it('an ellipsis covers zero or more axes, never fewer than zero', () => {
    const m = counting([2, 3]);
    const none = einsum('...ij->...ji', m);
    expect(none.shape).toEqual([3, 2]);
    expect(none.toFlatArray()).toEqual(transpose(m).toFlatArray());
    const tooFew = () => einsum('ij...k', m);
    expect(tooFew).toThrow(ShapeError);
    expect(tooFew).toThrow(`einsum: "ij...k": operand 0 ('ij...k') has 3 labels but its tensor has rank 2`);
  });

  it("ellipsis axes line up from the right, as NumPy's broadcasting does", () => {
    const a = counting([3, 2, 2]);
    const b = counting([4, 3, 2, 2], 0.5);
    const y = einsum('...ij,...jk->...ik', a, b);
    expect(y.shape).toEqual([4, 3, 2, 2]);
    expect(y.toFlatArray()).toEqual(matmul(a, b).toFlatArray());
  });

  it('a product without a summed label is the broadcasting multiply, bit for bit (−0 stays −0)', () => {
    const u = f64([-1, 2]), v = f64([0, -3, 4]);
    const outer = einsum('i,j->ij', u, v);
    expect(outer.toArray()).toEqual([[-0, 3, -4], [0, -6, 8]]);
    expect(Object.is(outer.toFlatArray()[0], -0)).toBe(true);
    const same = einsum('ij,ij->ij', counting([2, 2]), f64([0, -1, -0, 1], [2, 2]));
    expect(same.toFlatArray().map((x) => Object.is(x, -0))).toEqual([false, false, true, false]);
    expect(same.toFlatArray()).toEqual(mul(counting([2, 2]), f64([0, -1, -0, 1], [2, 2])).toFlatArray());
  });

  it('counts the tensors against the terms, in words that agree with the numbers', () => {
    const v = f64([1, 2]);
    expect(() => einsum('i')).toThrow('einsum: "i" needs at least one tensor');
    expect(() => einsum('i', v, v)).toThrow('einsum: "i" names 1 operand but 2 tensors were given');
    expect(() => einsum('i,i,i', v, v)).toThrow('einsum: "i,i,i" names 3 operands but 2 tensors were given');
  });

  it('an ellipsis axis whose lengths disagree is named as one', () => {
    const run = () => einsum('...i,...i', counting([2, 3]), counting([4, 3]));
    expect(run).toThrow(ShapeError);
    expect(run).toThrow('einsum: "...i,...i": an ellipsis axis has length 2 in one place and 4 in another ([2,3], [4,3])');
  });

  it('without an arrow, the ellipsis axes come first, in their order, then the single labels alphabetically', () => {
    const x = counting([2, 3, 2, 4]);
    const y = einsum('...ji', x);
    expect(y.shape).toEqual([2, 3, 4, 2]);
    expect(y.toFlatArray()).toEqual(transpose(x, [0, 1, 3, 2]).toFlatArray());
  });

  it('a label of length 1 broadcasts whichever operand comes first', () => {
    const row = f64([10, 100], [1, 2]);
    const m = counting([2, 2]);
    expect(einsum('ij,ij->ij', row, m).toArray()).toEqual([[10, 200], [30, 400]]);
    expect(einsum('ij,ij->ij', m, row).toArray()).toEqual([[10, 200], [30, 400]]);
  });

  it('a bad output term is quoted as the output', () => {
    expect(() => einsum('ij->i1', counting([2, 2]))).toThrow(`einsum: "ij->i1": '1' in the output ('i1') is not a letter`);
  });

  it("an explicit output puts the ellipsis axes, in their order, where its '...' stands", () => {
    const x = counting([2, 3, 2, 4]);
    const last = einsum('...ij->...ji', x);
    expect(last.shape).toEqual([2, 3, 4, 2]);
    expect(last.toFlatArray()).toEqual(transpose(x, [0, 1, 3, 2]).toFlatArray());
    const middle = einsum('...ij->i...j', x);
    expect(middle.shape).toEqual([2, 2, 3, 4]);
    expect(middle.toFlatArray()).toEqual(transpose(x, [2, 0, 1, 3]).toFlatArray());
  });
  it('without an arrow, a label seen twice is summed: the output keeps only the labels seen once', () => {
    const m = counting([2, 2]);
    expect(einsum('ii', m).toFlatArray()).toEqual([5]); // a trace
    expect(einsum('ij,jk', m, counting([2, 3])).toFlatArray()).toEqual(matmul(m, counting([2, 3])).toFlatArray());
    expect(einsum('ij,jk', m, counting([2, 3])).shape).toEqual([2, 3]);
  });

  it('contracts left to right, summing each label as soon as no later operand needs it: bit for bit the chained matmul', () => {
    // values whose sums round: summing j and k together would round differently from (a·b)·c
    const values = (shape: number[], seed: number) => f64(Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => Math.sin(seed + i * 1.7) * 10 ** ((i % 5) - 2)), shape);
    const a = values([3, 4], 1), b = values([4, 5], 2), c = values([5, 2], 3);
    expect(einsum('ij,jk,kl->il', a, b, c).toFlatArray()).toEqual(matmul(matmul(a, b), c).toFlatArray());
  });
});
