import { describe, expect, it } from 'vitest';
import { Tape, matmul, sigmoid, sum, tensor } from '@tapegrad/core';

describe('tape smoke', () => {
  it('differentiates sum(sigmoid(W·x + b)) with respect to W, b and the intermediate z', () => {
    const w = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    const x = tensor([[1], [-1]], { dtype: 'float64' });
    const b = tensor([[0.5], [0.25]], { dtype: 'float64' });
    const tape = new Tape();
    let z = w;
    const loss = tape.record(() => {
      z = matmul(w, x).add(b);
      return sum(sigmoid(z));
    });
    const [dw, db, dz] = tape.gradient(loss, [w, b, z]);
    // z = [-0.5, -0.75]; σ'(z) = σ(z)(1 − σ(z))
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    const d0 = s(-0.5) * (1 - s(-0.5));
    const d1 = s(-0.75) * (1 - s(-0.75));
    expect(dz.toFlatArray()).toEqual([expect.closeTo(d0, 12), expect.closeTo(d1, 12)]);
    expect(db.toFlatArray()).toEqual(dz.toFlatArray());
    expect(dw.toArray()).toEqual([[expect.closeTo(d0, 12), expect.closeTo(-d0, 12)], [expect.closeTo(d1, 12), expect.closeTo(-d1, 12)]]);
  });
});
