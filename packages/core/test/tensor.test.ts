import { describe, expect, it } from 'vitest';
import {
  DTypeError, ShapeError, Tape, Tensor, ValueError, arange, createRng, eye, full, isTensor, mul, mulberry32,
  ones, onesLike, rand, randn, scalar, shuffleInPlace, sum, tensor, zeros, zerosLike,
} from '@tapegrad/core';

describe('tensor()', () => {
  it('infers the shape of nested arrays and stores them row-major', () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.rank).toBe(2);
    expect(t.size).toBe(6);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('handles rank 3 and empty axes', () => {
    expect(tensor([[[1], [2]], [[3], [4]]]).shape).toEqual([2, 2, 1]);
    expect(tensor([]).shape).toEqual([0]);
    expect(tensor([[], []]).shape).toEqual([2, 0]);
    expect(tensor([[], []]).toArray()).toEqual([[], []]);
  });

  it('makes a rank-0 tensor from a number', () => {
    const t = tensor(2.5);
    expect(t.shape).toEqual([]);
    expect(t.item()).toBe(2.5);
    expect(t.toArray()).toBe(2.5);
    expect(scalar(-3, 'float64').dtype).toBe('float64');
    expect(scalar(-3, 'float64').item()).toBe(-3);
  });

  it('defaults to float32 (values rounded to float32) and honours float64', () => {
    const f32 = tensor([0.1, 1 / 3]);
    expect(f32.dtype).toBe('float32');
    expect(f32.data).toBeInstanceOf(Float32Array);
    expect(f32.data[0]).toBe(Math.fround(0.1));
    expect(f32.data[0]).not.toBe(0.1);
    const f64 = tensor([0.1, 1 / 3], { dtype: 'float64' });
    expect(f64.data).toBeInstanceOf(Float64Array);
    expect(Array.from(f64.data)).toEqual([0.1, 1 / 3]);
  });

  it('copies typed arrays instead of aliasing them, and keeps their dtype by default', () => {
    const source = new Float64Array([1, 2, 3, 4]);
    const t = tensor(source, { shape: [2, 2] });
    expect(t.dtype).toBe('float64');
    expect(t.data).not.toBe(source);
    source[0] = 100;
    expect(t.toArray()).toEqual([[1, 2], [3, 4]]);

    const f32 = new Float32Array([5, 6]);
    const u = tensor(f32);
    expect(u.dtype).toBe('float32');
    expect(u.shape).toEqual([2]);
    f32[1] = -1;
    expect(u.data[1]).toBe(6);

    // an explicit dtype converts
    expect(tensor(new Float32Array([1.5]), { dtype: 'float64' }).data).toBeInstanceOf(Float64Array);
  });

  it('copies plain arrays too, and reshapes flat data with { shape }', () => {
    const source = [1, 2, 3, 4, 5, 6];
    const t = tensor(source, { shape: [3, 2] });
    source[0] = 9;
    expect(t.toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
  });

  it('sets requiresGrad when asked', () => {
    expect(tensor([1], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(tensor([1]).requiresGrad).toBe(false);
  });

  it('gives every tensor its own id; isTensor recognises tensors only', () => {
    const a = tensor([1]);
    const b = tensor([1]);
    expect(a.id).not.toBe(b.id);
    expect(isTensor(a)).toBe(true);
    expect(isTensor([1])).toBe(false);
    expect(isTensor(null)).toBe(false);
  });
});

describe('creation functions', () => {
  it('zeros, ones and full fill a shape', () => {
    expect(zeros([2, 3]).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(ones([2], { dtype: 'float64' }).toArray()).toEqual([1, 1]);
    expect(ones([2], { dtype: 'float64' }).dtype).toBe('float64');
    expect(full([2, 2], 7).toArray()).toEqual([[7, 7], [7, 7]]);
    expect(full([], -2).item()).toBe(-2);
    expect(zeros([0, 4]).size).toBe(0);
  });

  it('zerosLike and onesLike copy shape and dtype', () => {
    const t = tensor([[1, 2, 3]], { dtype: 'float64' });
    expect(zerosLike(t).shape).toEqual([1, 3]);
    expect(zerosLike(t).dtype).toBe('float64');
    expect(onesLike(t).toArray()).toEqual([[1, 1, 1]]);
  });

  it('eye builds square and rectangular identities', () => {
    expect(eye(3).toArray()).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    expect(eye(2, 3).toArray()).toEqual([[1, 0, 0], [0, 1, 0]]);
    expect(eye(3, 2, { dtype: 'float64' }).toArray()).toEqual([[1, 0], [0, 1], [0, 0]]);
  });

  it('arange counts up to but excluding stop', () => {
    expect(arange(4).toArray()).toEqual([0, 1, 2, 3]);
    expect(arange(2, 5).toArray()).toEqual([2, 3, 4]);
    expect(arange(0, 1, 0.25, { dtype: 'float64' }).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
    expect(arange(3, 3).shape).toEqual([0]);
    expect(() => arange(0, 1, 0)).toThrow(/^arange: .*0, 1, 0/);
  });

  it('rand with the same seed draws the same values, in [min, max)', () => {
    const a = rand([3, 4], { seed: 7 });
    const b = rand([3, 4], { seed: 7 });
    const c = rand([3, 4], { seed: 8 });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).not.toEqual(Array.from(c.data));
    // row-major draws from mulberry32, rounded to float32
    const next = mulberry32(7);
    expect(a.data[0]).toBe(Math.fround(next()));
    expect(a.data[1]).toBe(Math.fround(next()));
    const bounded = rand([200], { seed: 1, min: -2, max: -1, dtype: 'float64' });
    for (const v of bounded.data) {
      expect(v).toBeGreaterThanOrEqual(-2);
      expect(v).toBeLessThan(-1);
    }
  });

  it('randn with the same seed draws the same values, with the protocol Box–Muller', () => {
    const a = randn([5], { seed: 3, dtype: 'float64' });
    const b = randn([5], { seed: 3, dtype: 'float64' });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    const next = mulberry32(3);
    const u1 = next();
    const u2 = next();
    expect(a.data[0]).toBe(Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2));
    const scaled = randn([5], { seed: 3, dtype: 'float64', mean: 10, std: 2 });
    expect(scaled.data[0]).toBeCloseTo(10 + 2 * a.data[0], 12);
  });

  it('a shared rng continues where the previous draw stopped', () => {
    const rng = createRng(11);
    const first = rand([2], { rng, dtype: 'float64' });
    const second = rand([2], { rng, dtype: 'float64' });
    const all = rand([4], { seed: 11, dtype: 'float64' });
    expect([...first.data, ...second.data]).toEqual(Array.from(all.data));
  });

  it('rand and randn refuse to draw without a seed or an rng', () => {
    expect(() => rand([2], {})).toThrow(ValueError);
    expect(() => rand([2], {})).toThrow(/^rand: needs a seed or an rng/);
    expect(() => randn([2], {})).toThrow(/^randn: needs a seed or an rng/);
  });
});

/** mulberry32 exactly as BENCH-PROTOCOL.md writes it. */
function protocolMulberry32(a: number): () => number {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('mulberry32 and the benchmark protocol', () => {
  it('reproduces the first five indices of epoch 0 (BENCH-PROTOCOL.md)', () => {
    const rng = createRng(42);
    const order = Array.from({ length: 7996 }, (_, i) => i);
    shuffleInPlace(order, rng);
    expect(order.slice(0, 5)).toEqual([7340, 1210, 6119, 2666, 7366]);
    // still a permutation
    expect(new Set(order).size).toBe(7996);
    expect(Math.min(...order)).toBe(0);
    expect(Math.max(...order)).toBe(7995);
  });

  it('carries the generator over to the next epoch, and shuffles typed arrays the same way', () => {
    const rng = createRng(42);
    const epoch0 = Array.from({ length: 7996 }, (_, i) => i);
    shuffleInPlace(epoch0, rng);
    const epoch1 = Int32Array.from({ length: 7996 }, (_, i) => i);
    shuffleInPlace(epoch1, rng);
    expect(Array.from(epoch1.slice(0, 5))).not.toEqual(epoch0.slice(0, 5));

    const again = createRng(42);
    const typed = Int32Array.from({ length: 7996 }, (_, i) => i);
    shuffleInPlace(typed, again);
    expect(Array.from(typed.slice(0, 5))).toEqual([7340, 1210, 6119, 2666, 7366]);
  });

  it('two epochs equal the protocol Fisher–Yates written out by hand', () => {
    const next = protocolMulberry32(42);
    const rng = createRng(42);
    for (let epoch = 0; epoch < 2; epoch++) {
      const expected = Array.from({ length: 7996 }, (_, i) => i);
      for (let i = 7995; i >= 1; i--) {
        const j = Math.floor(next() * (i + 1));
        [expected[i], expected[j]] = [expected[j], expected[i]];
      }
      const actual = Array.from({ length: 7996 }, (_, i) => i);
      shuffleInPlace(actual, rng);
      expect(actual, `epoch ${epoch}`).toEqual(expected);
    }
  });

  it('mulberry32 matches the protocol formula and stays in [0, 1)', () => {
    const ours = mulberry32(42);
    const theirs = protocolMulberry32(42);
    for (let i = 0; i < 1000; i++) {
      const v = ours();
      expect(v).toBe(theirs());
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(1);
    }
  });
});

describe('reading values', () => {
  it('toArray, toFlatArray, data and item', () => {
    const t = tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    expect(t.toArray()).toEqual([[1, 2], [3, 4]]);
    expect(t.toFlatArray()).toEqual([1, 2, 3, 4]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4]);
    expect(tensor([[5]]).item()).toBe(5);
    expect(() => t.item()).toThrow(ShapeError);
    expect(() => t.item()).toThrow('item: expects a tensor with one element, got shape [2,2]');
  });

  it('toString is readable: dtype, shape, op and values', () => {
    const t = tensor([[1, 2.5], [-3, 0.0001]]);
    expect(t.toString()).toBe('Tensor(float32, [2,2])\n[[1, 2.5],\n [-3, 1.000e-4]]');
    expect(scalar(7).toString()).toBe('Tensor(float32, [])\n7');
    const tape = new Tape();
    const y = tape.record(() => mul(t, 2));
    expect(y.toString().split('\n')[0]).toBe('Tensor(float32, [2,2], op=mul)');
  });

  it('toString elides the middle of long axes', () => {
    const t = arange(784 * 128).reshape([784, 128]);
    const text = t.toString();
    const lines = text.split('\n');
    expect(lines[0]).toBe('Tensor(float32, [784,128])');
    // 3 rows, an ellipsis, 3 rows
    expect(lines).toHaveLength(1 + 7);
    expect(lines[1]).toBe('[[0, 1, 2, …, 125, 126, 127],');
    expect(lines[4]).toBe(' …,');
    expect(lines[7]).toBe(' [100224, 100225, 100226, …, 100349, 100350, 100351]]');
    expect(text.length).toBeLessThan(400);
    // short axes are printed in full
    expect(arange(6).toString()).toBe('Tensor(float32, [6])\n[0, 1, 2, 3, 4, 5]');
  });
});

describe('assign', () => {
  it('overwrites the values in place and bumps the version', () => {
    const w = tensor([1, 2, 3]);
    const buffer = w.data;
    expect(w.version).toBe(0);
    expect(w.assign(tensor([4, 5, 6]))).toBe(w);
    expect(w.data).toBe(buffer);
    expect(w.toArray()).toEqual([4, 5, 6]);
    expect(w.version).toBe(1);
    w.assign([7, 8, 9]);
    expect(w.toArray()).toEqual([7, 8, 9]);
    expect(w.version).toBe(2);
  });

  it('rejects a different shape, size or dtype, naming both sides', () => {
    const w = zeros([2, 3]);
    expect(() => w.assign(zeros([3, 2]))).toThrow(ShapeError);
    expect(() => w.assign(zeros([3, 2]))).toThrow('assign: shape [3,2] differs from the target\'s [2,3]');
    expect(() => w.assign(zeros([2, 3], { dtype: 'float64' }))).toThrow(DTypeError);
    expect(() => w.assign(zeros([2, 3], { dtype: 'float64' }))).toThrow('assign: dtype float64 differs from the target\'s float32');
    expect(() => w.assign([1, 2])).toThrow('assign: 2 values for a tensor of shape [2,3] (6 elements)');
    expect(w.version).toBe(0);
    expect(w.toFlatArray()).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('refuses tensors produced by a recorded op', () => {
    const x = tensor([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => mul(x, 2));
    expect(() => y.assign([0, 0])).toThrow(ValueError);
    expect(() => y.assign([0, 0])).toThrow(/^assign: only leaf tensors can be assigned; this \[2\] tensor was produced by 'mul'/);
  });
});

describe('assignInPlace', () => {
  it('hands fn the storage itself and bumps the version once', () => {
    const w = tensor([1, 2, 3]);
    const buffer = w.data;
    expect(w.assignInPlace((data) => {
      expect(data).toBe(buffer);
      for (let i = 0; i < data.length; i++) data[i] *= 10;
    })).toBe(w);
    expect(w.data).toBe(buffer);
    expect(w.toArray()).toEqual([10, 20, 30]);
    expect(w.version).toBe(1);
  });

  it('bumps the version even if fn throws, so a recording that read the old values fails', () => {
    const w = tensor([1, 2], { dtype: 'float64' });
    const tape = new Tape();
    const y = tape.record(() => sum(mul(w, w)));
    expect(() => w.assignInPlace((data) => {
      data[0] = 5;
      throw new Error('half-way');
    })).toThrow('half-way');
    expect(w.version).toBe(1);
    expect(() => tape.gradient(y, w)).toThrow(/was changed by assign\(\) after it was recorded/);
  });

  it('refuses tensors produced by a recorded op, leaving them untouched', () => {
    const x = tensor([1, 2]);
    const tape = new Tape();
    const y = tape.record(() => mul(x, 2));
    expect(() => y.assignInPlace((data) => data.fill(0))).toThrow(/^assignInPlace: only leaf tensors can be assigned; this \[2\] tensor was produced by 'mul'/);
    expect(y.toArray()).toEqual([2, 4]);
    expect(y.version).toBe(0);
  });
});

describe('detach', () => {
  it('copies the values into a fresh leaf that shares no buffer', () => {
    const x = tensor([1, 2], { dtype: 'float64' });
    const tape = new Tape();
    const y = tape.record(() => mul(x, 3));
    const d = y.detach();
    expect(d.node).toBeNull();
    expect(d.toArray()).toEqual([3, 6]);
    expect(d.dtype).toBe('float64');
    expect(d.data).not.toBe(y.data);
    d.assign([0, 0]);
    expect(y.toArray()).toEqual([3, 6]);
  });

  it('stops gradients: a detached factor is a constant', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64' });
    const tape = new Tape();
    const loss = tape.record(() => sum(mul(x, x.detach())));
    // d/dx Σ x·c = c, not 2x
    expect(tape.gradient(loss, x).toArray()).toEqual([1, 2, 3]);
  });
});

it('a Tensor is the class every creation function returns', () => {
  for (const t of [tensor(1), zeros([1]), ones([1]), full([1], 2), eye(1), arange(1), rand([1], { seed: 0 }), randn([1], { seed: 0 })]) {
    expect(t).toBeInstanceOf(Tensor);
  }
});
