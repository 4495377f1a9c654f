import { ShapeError, ValueError, createRng, rowSampler, take, tensor } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';

describe('rowSampler', () => {
  it('take equals take(x, indices, 0) on random [N, …] shapes and index lists (repeats, out of order, empty), float32 and float64', () => {
    const rng = createRng(42);
    for (const dtype of ['float32', 'float64'] as const) {
      for (let trial = 0; trial < 30; trial++) {
        const shape = [1 + Math.floor(rng.next() * 20), ...Array.from({ length: Math.floor(rng.next() * 4) }, () => 1 + Math.floor(rng.next() * 5))];
        const size = shape.reduce((a, b) => a * b, 1);
        const x = tensor(Float64Array.from({ length: size }, () => rng.normal() * 1e3), { shape, dtype });
        const sampler = rowSampler(x);
        expect(sampler.shape).toEqual(shape);
        expect(sampler.dtype).toBe(dtype);
        for (let draw = 0; draw < 3; draw++) {
          const indices = Int32Array.from({ length: Math.floor(rng.next() * 12) }, () => Math.floor(rng.next() * shape[0]));
          const got = sampler.take(draw % 2 ? Array.from(indices) : indices);
          const want = take(x, Array.from(indices), 0);
          expect(got.shape).toEqual(want.shape);
          expect(got.dtype).toBe(dtype);
          expect(Array.from(got.data)).toEqual(Array.from(want.data));
        }
      }
    }
  });

  it('refuses indices outside axis 0 and scalars, naming the shapes', () => {
    const sampler = rowSampler(tensor([[0, 1], [2, 3], [4, 5]]));
    expect(sampler.take([2, 0]).toArray()).toEqual([[4, 5], [0, 1]]);
    expect(() => sampler.take([0, 3])).toThrow(new ValueError('rowSampler.take', 'index 3 at position 1 is not an example of a [3,2] tensor (axis 0 has 3)'));
    expect(() => sampler.take([0.5])).toThrow('index 0.5 at position 0');
    expect(() => rowSampler(tensor(1))).toThrow(ShapeError);
  });
});
