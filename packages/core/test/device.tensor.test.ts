/**
 * The Tensor API and the rest of core on a device (WEBGPU-DESIGN.md §1), through the fake
 * device backend of helpers/fake-device.ts: where values are placed, the async readers, the
 * DeviceTensorError of every synchronous reader, detach and assign on the device, tidy
 * handing device arrays back with dispose(), the tape (backward, grad of grad) on the
 * device, and the internal readers that refuse device values with a clear error.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DTypeError, DeviceTensorError, ReleasedTensorError, ShapeError, Tensor, add, arange, backward, columnSampler,
  detectAnomalies, exp, eye, full, grad, hvp, isDeviceArray, keep, matmul, memoryStats, mul, oneHot, ones, rand,
  randn, resetMemoryStats, rowSampler, scalar, scatterAdd, setBackend, sigmoid, sum, take, tanh, tensor, tensorStats,
  tidy, toDot, zeros, zerosLike,
} from '@tapegrad/core';
import { gradcheck } from '@tapegrad/core/testing';
import { arb } from '@tapegrad/core/testing/properties';
import { createFakeDevice } from './helpers/fake-device.js';

const device = createFakeDevice();
const GPU = device.name;

beforeEach(() => {
  setBackend(device);
  device.resetCounts();
});
afterEach(() => setBackend('js'));

/** The values of a tensor wherever they live. */
const values = async (t: Tensor) => Array.from(await t.dataAsync());

describe('placement', () => {
  it('creation functions build on the CPU and upload to the active device', async () => {
    const made: Record<string, Tensor> = {
      tensor: tensor([[1, 2], [3, 4]]), scalar: scalar(5, 'float64'), zeros: zeros([2, 3]), ones: ones([2]),
      full: full([3], 7), eye: eye(2, 3), arange: arange(1, 4), rand: rand([4], { seed: 1 }), randn: randn([3], { seed: 2 }),
      zerosLike: zerosLike(tensor([1, 2, 3])),
    };
    for (const [name, t] of Object.entries(made)) {
      expect(t.device, name).toBe(GPU);
      expect(isDeviceArray(t.storage), name).toBe(true);
    }
    expect(await made.tensor.toArrayAsync()).toEqual([[1, 2], [3, 4]]);
    expect(await made.scalar.itemAsync()).toBe(5);
    expect(made.scalar.dtype).toBe('float64');
    expect(await values(made.eye)).toEqual([1, 0, 0, 0, 1, 0]);
    expect(await values(made.arange)).toEqual([1, 2, 3]);
    expect(await values(made.full)).toEqual([7, 7, 7]);
    setBackend('js');
    expect(await values(made.rand)).toEqual(rand([4], { seed: 1 }).toFlatArray());
    expect(await values(made.randn)).toEqual(randn([3], { seed: 2 }).toFlatArray());
  });

  it('zeros are zeroed device memory (nothing uploaded); other values are uploaded once', async () => {
    const z = zeros([2, 2], { requiresGrad: true });
    expect(device.counts).toMatchObject({ allocated: 1, uploaded: 0 });
    expect(z.requiresGrad).toBe(true);
    expect(await values(z)).toEqual([0, 0, 0, 0]);
    ones([3]);
    expect(device.counts).toMatchObject({ allocated: 1, uploaded: 1 });
    expect(() => zeros([2 ** 20, 2 ** 20])).toThrow('zeros: [1048576,1048576] of float32 holds 1,099,511,627,776 elements (4096.0 GiB); a tensor holds at most 4,294,967,295 elements');
  });

  it('new Tensor(typedArray) stays on the CPU; a device op uploads it for the call and leaves its result on the device', async () => {
    const x = new Tensor(Float32Array.from([1, 2, 3]), [3]);
    expect(x.device).toBe('cpu');
    const y = exp(x);
    expect(y.device).toBe(GPU);
    expect(device.counts.cpuInputs).toBe(1);
    expect(x.device).toBe('cpu');
    expect(await values(y)).toEqual(Array.from(Float32Array.from([1, 2, 3].map(Math.exp))));
  });

  it('lifted numbers are placed on the device with the op', async () => {
    const y = mul(tensor([1, 2]), 3);
    expect(y.node).toBeNull();
    expect(y.device).toBe(GPU);
    expect(device.counts.cpuInputs).toBe(0);
    expect(await values(y)).toEqual([3, 6]);
  });

  it('a device tensor fed to a CPU backend is a DeviceTensorError naming the op, the input and the way back', () => {
    const x = tensor([[1, 2]]);
    setBackend('js');
    expect(() => exp(x)).toThrow(DeviceTensorError);
    expect(() => add(tensor([1]), x)).toThrow(
      "add: input 1 [1,2] lives on the 'fake-gpu' device but the active backend 'js' computes on the CPU; setBackend('fake-gpu'), or bring it over with `tensor(await t.dataAsync(), { shape: t.shape })`",
    );
  });

  it('another device\'s tensor is a DeviceTensorError too; CPU tensors are welcome everywhere', () => {
    const x = tensor([1, 2]);
    setBackend(createFakeDevice('other-gpu'));
    expect(() => add(new Tensor(Float32Array.from([1, 1]), [2]), x)).toThrow(
      "add: input 1 [2] lives on the 'fake-gpu' device but the active backend 'other-gpu' keeps values on its own device; setBackend('fake-gpu'), or bring it over with `tensor(await t.dataAsync(), { shape: t.shape })`",
    );
    expect(exp(new Tensor(Float32Array.from([0]), [1])).device).toBe('other-gpu');
  });
});

describe('reading values', () => {
  const shown = (op: string, reader: string, shape = '[2,2]') => `${op}: tensor ${shape} lives on the 'fake-gpu' device; read it with \`await t.${reader}\``;

  it('every synchronous reader of a device tensor is a DeviceTensorError naming the async reader', () => {
    const t = tensor([[1, 2], [3, 4]]);
    const errors: [() => unknown, string][] = [
      [() => t.data, shown('Tensor.data', 'dataAsync()')],
      [() => t.item(), shown('item', 'itemAsync()')],
      [() => t.toArray(), shown('toArray', 'toArrayAsync()')],
      [() => t.toFlatArray(), shown('toFlatArray', 'toFlatArrayAsync()')],
      [() => t.assignInPlace(() => {}), "assignInPlace: tensor [2,2] lives on the 'fake-gpu' device, where fn cannot reach its values; update it with `t.assign(value)` (a copy on the device), or read it with `await t.dataAsync()`"],
    ];
    for (const [read, message] of errors) {
      expect(read).toThrow(DeviceTensorError);
      expect(read).toThrow(message);
    }
    expect(() => scalar(3).item()).toThrow(shown('item', 'itemAsync()', '[]'));
  });

  it('the async readers work on device and CPU tensors alike, and dataAsync is always a copy', async () => {
    for (const t of [tensor([[1.5, 2], [3, -4]]), new Tensor(Float32Array.from([1.5, 2, 3, -4]), [2, 2])]) {
      const data = await t.dataAsync();
      expect(data).toBeInstanceOf(Float32Array);
      expect(Array.from(data)).toEqual([1.5, 2, 3, -4]);
      data[0] = 99;
      expect(await t.toArrayAsync()).toEqual([[1.5, 2], [3, -4]]);
      expect(await t.toFlatArrayAsync()).toEqual([1.5, 2, 3, -4]);
    }
    expect(await tensor(2.5).itemAsync()).toBe(2.5);
    expect(await tensor(2.5).toArrayAsync()).toBe(2.5);
    await expect(tensor([1, 2]).itemAsync()).rejects.toThrow(ShapeError);
    await expect(tensor([1, 2]).itemAsync()).rejects.toThrow('itemAsync: expects a tensor with one element, got shape [2]');
  });

  it('a read sees the values as they are when it is called, not when it resolves', async () => {
    const t = tensor([1, 2, 3]);
    const before = t.dataAsync();
    t.assign([4, 5, 6]);
    expect(Array.from(await before)).toEqual([1, 2, 3]);
    expect(await values(t)).toEqual([4, 5, 6]);
  });

  it('toString shows the head and where the values are', () => {
    const t = tensor([[1, 2, 3]]).requireGrad();
    expect(t.toString()).toBe("Tensor(float32, [1,3])\n<values on the 'fake-gpu' device: await t.toArrayAsync()>");
    expect(exp(t).toString()).toBe("Tensor(float32, [1,3], op=exp)\n<values on the 'fake-gpu' device: await t.toArrayAsync()>");
    expect(t[Symbol.for('fast-check/toStringMethod') as unknown as 'toString']()).toBe("/* float32 [1,3] tensor on the 'fake-gpu' device */");
  });
});

describe('detach and assign on the device', () => {
  it('detach copies on the device', async () => {
    const x = tensor([1, 2, 3]).requireGrad();
    const d = x.detach();
    expect(d.device).toBe(GPU);
    expect(d.requiresGrad).toBe(false);
    expect(device.counts.copied).toBe(1);
    x.assign([7, 8, 9]);
    expect(await values(d)).toEqual([1, 2, 3]);
  });

  it('assign takes a device tensor (a copy), a CPU tensor or an array (a write), and bumps the version', async () => {
    const w = zeros([3]);
    w.assign(tensor([1, 2, 3]));
    expect(device.counts.copied).toBe(1);
    expect(await values(w)).toEqual([1, 2, 3]);
    w.assign(new Tensor(Float32Array.from([4, 5, 6]), [3]));
    w.assign(Float32Array.from([4, 5, 6]));
    expect(device.counts.written).toBe(2);
    expect(await values(w)).toEqual([4, 5, 6]);
    w.assign([7, 8, 9]);
    expect(await values(w)).toEqual([7, 8, 9]);
    expect(w.version).toBe(4);
    const copies = device.counts.copied;
    w.assign(w);
    expect(device.counts.copied).toBe(copies);
    expect(await values(w)).toEqual([7, 8, 9]);
    expect(w.version).toBe(5);
    expect(() => w.assign(tensor([1, 2], { dtype: 'float64' }))).toThrow(DTypeError);
    expect(() => w.assign([1, 2])).toThrow(ShapeError);
  });

  it('a device value assigned to a CPU tensor is a DeviceTensorError', () => {
    const cpu = new Tensor(new Float32Array(2), [2]);
    expect(() => cpu.assign(tensor([1, 2]))).toThrow(DeviceTensorError);
    expect(() => cpu.assign(tensor([1, 2]))).toThrow("assign: the value [2] lives on the 'fake-gpu' device and the target on the CPU; read it with `await value.dataAsync()` and assign that");
    expect(cpu.version).toBe(0);
  });

  it('a parameter update on the device: w ← w − η·∂loss/∂w', async () => {
    const w = tensor([[0.5, -1], [2, 0.25]]).requireGrad();
    const x = tensor([[1], [2]]);
    backward(sum(sigmoid(matmul(w, x))));
    w.assign(w.detach().sub(mul(w.grad!, 0.1)));
    setBackend('js');
    const wc = tensor([[0.5, -1], [2, 0.25]]).requireGrad();
    backward(sum(sigmoid(matmul(wc, tensor([[1], [2]])))));
    wc.assign(wc.detach().sub(mul(wc.grad!, 0.1)));
    expect(await values(w)).toEqual(wc.toFlatArray());
  });
});

describe('tidy on the device', () => {
  it('releasing a device tensor hands its array back with dispose(), once; what tidy returns or keep()s survives', async () => {
    resetMemoryStats();
    const x = tensor([1, 2, 3]);
    let kept: Tensor | undefined;
    const y = tidy(() => {
      const a = exp(x);
      const b = mul(a, 2);
      kept = keep(add(b, 1));
      return sum(b);
    });
    const stats = memoryStats();
    // released: exp, the lifted 2, mul, the lifted 1 (not add, kept, nor sum, returned)
    expect(stats.released).toBe(4);
    expect(stats.disposed).toBe(4);
    expect(device.counts.disposed).toBe(4);
    expect(await y.itemAsync()).toBeCloseTo(2 * (Math.E + Math.E ** 2 + Math.E ** 3), 3);
    expect((await values(kept!)).length).toBe(3);
    expect(await values(x)).toEqual([1, 2, 3]);
  });

  it('a released device tensor throws on every read, async ones included', async () => {
    let inner: Tensor | undefined;
    tidy(() => {
      inner = exp(tensor([1]));
    });
    expect(() => inner!.storage).toThrow(ReleasedTensorError);
    expect(() => inner!.data).toThrow(ReleasedTensorError);
    await expect(inner!.dataAsync()).rejects.toThrow(ReleasedTensorError);
    await expect(inner!.itemAsync()).rejects.toThrow(ReleasedTensorError);
    expect(() => exp(inner!)).toThrow(ReleasedTensorError);
  });

  it('a training loop under tidy disposes every intermediate but .grad (kept, as on the CPU)', () => {
    const w = tensor([[0.1, 0.2], [0.3, 0.4]]).requireGrad();
    const x = tensor([[1, 0.5], [-1, 2]]);
    const step = () => tidy(() => {
      w.grad = null;
      backward(sum(tanh(matmul(w, x))));
      w.assign(w.detach().sub(mul(w.grad!, 0.01)));
      w.grad = null;
    });
    step();
    device.resetCounts();
    for (let i = 0; i < 5; i++) step();
    expect(device.counts.allocated + device.counts.uploaded).toBeGreaterThan(0);
    // backward keep()s each .grad past the tidy (PyTorch's .grad outlives the step); dropped
    // with `w.grad = null`, it is left to the owner's reclaim-on-garbage-collection
    expect(device.counts.disposed).toBe(device.counts.allocated + device.counts.uploaded - 5);
  });
});

describe('the tape on the device', () => {
  const f = (w: Tensor, x: Tensor) => sum(mul(tanh(matmul(w, x)), sigmoid(w.sum(1, true))));

  it('backward, grad of grad and hvp give js\'s values, on the device', async () => {
    await fc.assert(
      fc.asyncProperty(arb.tensorOf([2, 3]), arb.tensorOf([3, 2]), arb.tensorOf([2, 3]), async (wc, xc, vc) => {
        setBackend('js');
        const jsW = tensor(wc.data, { shape: [2, 3], dtype: 'float64' }).requireGrad();
        backward(f(jsW, xc));
        const jsSecond = grad((v: Tensor) => sum(mul(grad((u: Tensor) => f(u, xc))(v), v)))(wc);
        const jsHvp = hvp((v: Tensor) => f(v, xc), wc, vc);

        setBackend(device);
        const w = tensor(wc.data, { shape: [2, 3], dtype: 'float64' }).requireGrad();
        backward(f(w, xc));
        expect(w.grad!.device).toBe(GPU);
        expect(await values(w.grad!)).toEqual(jsW.grad!.toFlatArray());
        const second = grad((v: Tensor) => sum(mul(grad((u: Tensor) => f(u, xc))(v), v)))(tensor(wc.data, { shape: [2, 3], dtype: 'float64' }));
        expect(second.device).toBe(GPU);
        expect(await values(second)).toEqual(jsSecond.toFlatArray());
        expect(await values(hvp((v: Tensor) => f(v, xc), wc, vc))).toEqual(jsHvp.toFlatArray());
      }),
      { seed: 42, numRuns: 20 },
    );
  });
});

describe('indices and labels are read on the CPU', () => {
  it('device indices are a DeviceTensorError naming the op', () => {
    const x = tensor([[1, 2], [3, 4]]);
    const indices = tensor([1, 0]);
    expect(() => take(x, indices, 0)).toThrow(DeviceTensorError);
    expect(() => take(x, indices, 0)).toThrow("take: the indices [2] live on the 'fake-gpu' device; pass CPU indices (read them with `await indices.dataAsync()`)");
    expect(() => scatterAdd(x, indices, 0, 3)).toThrow("scatterAdd: the indices [2] live on the 'fake-gpu' device");
    expect(() => oneHot(indices, 2)).toThrow("oneHot: the labels [2] live on the 'fake-gpu' device; pass CPU labels (read them with `await labels.dataAsync()`)");
  });

  it('CPU indices (arrays, Int32Array, CPU tensors) work, and oneHot is placed on the device', async () => {
    const x = tensor([[1, 2], [3, 4]]);
    expect(await take(x, [1, 1], 0).toArrayAsync()).toEqual([[3, 4], [3, 4]]);
    expect(await take(x, new Tensor(Float64Array.from([1]), [1]), 1).toArrayAsync()).toEqual([[2], [4]]);
    const labels = oneHot(new Tensor(Float32Array.from([2, 0]), [2]), 3);
    expect(labels.device).toBe(GPU);
    expect(await labels.toArrayAsync()).toEqual([[0, 0, 1], [1, 0, 0]]);
  });
});

describe('what reads values synchronously refuses device values clearly', () => {
  it('anomaly detection', () => {
    expect(() => detectAnomalies(() => exp(tensor([1])))).toThrow(DeviceTensorError);
    expect(() => detectAnomalies(() => exp(tensor([1])))).toThrow("detectAnomalies: 'exp' left its [1] output on the 'fake-gpu' device, where NaN hunting cannot read it synchronously");
  });

  it('graph statistics: tensorStats throws, a drawing says the values are on the device', () => {
    const x = tensor([1, 2]).requireGrad();
    const y = sum(exp(x));
    expect(() => tensorStats(y)).toThrow("tensorStats: tensor [] lives on the 'fake-gpu' device; compute on its values from `await t.dataAsync()`");
    const dot = toDot(y);
    expect(dot).toContain('value on the device');
    expect(dot).not.toContain('NaN');
  });

  it('gradcheck and the dataset samplers', () => {
    const x = tensor([1, 2], { dtype: 'float64' });
    expect(() => gradcheck((v) => sum(exp(v)), [x])).toThrow("gradcheck: input 0 [2] lives on the 'fake-gpu' device: finite differences perturb and read values synchronously, on the CPU");
    const cpu = new Tensor(Float64Array.from([1, 2]), [2]);
    expect(() => gradcheck((v) => sum(exp(v)), [cpu])).toThrow("gradcheck: the active backend 'fake-gpu' keeps values on its device, and finite differences read every value synchronously; run gradcheck on a CPU backend (setBackend('js'))");
    expect(() => columnSampler(tensor([[1, 2]]))).toThrow(DeviceTensorError);
    expect(() => rowSampler(tensor([[1, 2]]))).toThrow("rowSampler: the dataset [1,2] lives on the 'fake-gpu' device; keep datasets on the CPU");
    // a CPU dataset's batches are CPU tensors, uploaded by the op that reads them
    const batch = rowSampler(new Tensor(Float32Array.from([1, 2, 3, 4]), [2, 2])).take([1]);
    expect(batch.device).toBe('cpu');
    expect(exp(batch).device).toBe(GPU);
  });
});
