import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import * as fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DTypeError, ShapeError, type Tensor, ValueError, tensor } from '@tapegrad/core';
import {
  type Module, type NamedParameters, deserializeParameters, loadModel, mlp, restoreParameters, saveModel, serializeParameters,
} from '@tapegrad/nn';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// open() goes through a spy so one test can make a write fail halfway, as a crash or a full disk would
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return { ...actual, open: vi.fn(actual.open) };
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tapegrad-serialize-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function snapshot(model: Module): Record<string, number[]> {
  return Object.fromEntries(Object.entries(model.parameters()).map(([k, t]) => [k, t.toFlatArray()]));
}

/** The JSON header of a safetensors file and the bytes after it. */
function splitFile(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

/** A file with the given header object (unpadded) and data bytes. */
function joinFile(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function withHeader(bytes: Uint8Array, edit: (header: Record<string, any>) => void): Uint8Array {
  const { header, data } = splitFile(bytes);
  edit(header);
  return joinFile(header, data);
}

describe('safetensors layout', () => {
  it('writes the 8-byte little-endian header length, a space-padded JSON header and little-endian data', () => {
    const bytes = serializeParameters({ a: tensor([1, 2], { dtype: 'float32' }), b: tensor([[0.5]], { dtype: 'float64' }) }, { note: 'hi' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd()).toBe('{"__metadata__":{"note":"hi"},"b":{"dtype":"F64","shape":[1,1],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}');
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    // the float64 first, so with the header padded to 8 bytes every tensor is aligned to its element size
    const data = new DataView(bytes.buffer, 8 + n);
    expect(bytes.length).toBe(8 + n + 16);
    expect(data.getFloat64(0, true)).toBe(0.5);
    expect([data.getFloat32(8, true), data.getFloat32(12, true)]).toEqual([1, 2]);
  });

  it("reads a file laid out as Python's writer may lay it out: header keys in any order, no padding", () => {
    // {"w": F32 [2,2] at [8, 24], "v": F64 [1] at [0, 8]}, data section v then w
    const data = new Uint8Array(24);
    const view = new DataView(data.buffer);
    view.setFloat64(0, -1.25, true);
    [1, 2, 3, 4].forEach((v, i) => view.setFloat32(8 + 4 * i, v, true));
    const file = joinFile({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [8, 24] }, v: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, __metadata__: { format: 'np' } }, data);
    const { parameters, metadata } = deserializeParameters(file);
    expect(Object.keys(parameters)).toEqual(['w', 'v']);
    expect(parameters.w.dtype).toBe('float32');
    expect(parameters.w.toArray()).toEqual([[1, 2], [3, 4]]);
    expect(parameters.v.dtype).toBe('float64');
    expect(parameters.v.toArray()).toEqual([-1.25]);
    expect(metadata).toEqual({ format: 'np' });
  });

  it('round-trips in memory, including scalars and empty tensors', () => {
    const params: NamedParameters = {
      s: tensor(3.5, { dtype: 'float64' }),
      e: tensor([], { shape: [0, 3] }),
      m: tensor([[Number.NaN, -0, Infinity]]),
    };
    const { parameters } = deserializeParameters(serializeParameters(params));
    expect(parameters.s.shape).toEqual([]);
    expect(parameters.s.item()).toBe(3.5);
    expect(parameters.e.shape).toEqual([0, 3]);
    expect(Object.is(parameters.m.data[1], -0)).toBe(true);
    expect(parameters.m.toFlatArray()).toEqual([Number.NaN, -0, Infinity]);
  });

  it('refuses metadata that is not a string map, and the reserved name', () => {
    expect(() => serializeParameters({ a: tensor([1]) }, { epochs: 3 } as never)).toThrow(/metadata 'epochs' is number, not a string/);
    expect(() => serializeParameters({ __metadata__: tensor([1]) })).toThrow(/reserved/);
  });
});

describe('saveModel / loadModel', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`round-trips a ${dtype} model bit for bit, with its metadata`, async () => {
      const path = join(dir, `roundtrip-${dtype}.safetensors`);
      const source = mlp([3, 5, 2], { hidden: 'tanh', output: 'sigmoid', dtype, seed: 1, biasInit: 'standardNormal' });
      await saveModel(source, path, { epochs: '12', note: 'ünïcode ✓' });
      const target = mlp([3, 5, 2], { hidden: 'tanh', output: 'sigmoid', dtype, seed: 2 });
      expect(snapshot(target)).not.toEqual(snapshot(source));
      const metadata = await loadModel(target, path);
      expect(metadata).toEqual({ epochs: '12', note: 'ünïcode ✓' });
      expect(snapshot(target)).toEqual(snapshot(source));
      const file = splitFile(new Uint8Array(await readFile(path)));
      expect(Object.keys(file.header).sort()).toEqual(['0.W', '0.b', '1.W', '1.b', '__metadata__']);
      expect((file.header['0.W'] as { dtype: string }).dtype).toBe(dtype === 'float32' ? 'F32' : 'F64');
    });
  }

  it('overwrites an existing file and leaves no temporary file behind', async () => {
    const sub = await mkdtemp(join(dir, 'overwrite-'));
    const path = join(sub, 'model.safetensors');
    await saveModel(mlp([2, 2], { seed: 1 }), path);
    const second = mlp([2, 2], { seed: 2 });
    await saveModel(second, path);
    expect(await readdir(sub)).toEqual(['model.safetensors']);
    const back = mlp([2, 2], { seed: 3 });
    await loadModel(back, path);
    expect(snapshot(back)).toEqual(snapshot(second));
  });
});

describe('a failed or interrupted save', () => {
  it('never exposes a partial file at the target: bytes go to a temporary file beside it, removed on failure', async () => {
    const sub = await mkdtemp(join(dir, 'crash-'));
    const path = join(sub, 'model.safetensors');
    const old = mlp([4, 8, 3], { seed: 1 });
    await saveModel(old, path);
    const before = await readFile(path);

    // the next open() gets a handle that writes half the bytes, then waits, then fails (a full disk)
    const actual = await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises');
    let opened = '';
    let midWrite!: () => void;
    const paused = new Promise<void>((resolve) => (midWrite = resolve));
    let resume!: () => void;
    const gate = new Promise<void>((resolve) => (resume = resolve));
    vi.mocked(fsPromises.open).mockImplementationOnce((async (file: string, flags: string) => {
      opened = file;
      const handle = await actual.open(file, flags);
      return {
        async write(buffer: Uint8Array, offset: number, length: number) {
          await handle.write(buffer, offset, Math.floor(length / 2));
          midWrite();
          await gate;
          throw Object.assign(new Error('ENOSPC: no space left on device (simulated)'), { code: 'ENOSPC' });
        },
        sync: () => handle.sync(),
        close: () => handle.close(),
      };
    }) as never);

    const saving = saveModel(mlp([4, 8, 3], { seed: 2 }), path);
    await paused;
    // mid-write, as if the process died here: the target is the old, complete file
    expect(dirname(opened)).toBe(sub);
    expect(opened).not.toBe(path);
    expect((await readdir(sub)).sort()).toEqual([opened.slice(sub.length + 1), 'model.safetensors'].sort());
    expect(await readFile(path)).toEqual(before);
    const partial = await readFile(opened);
    expect(partial.length).toBeLessThan(before.length);
    await expect(loadModel(mlp([4, 8, 3], { seed: 3 }), opened)).rejects.toThrow(ValueError);

    resume();
    await expect(saving).rejects.toThrow(/ENOSPC/);
    expect(await readdir(sub)).toEqual(['model.safetensors']);
    expect(await readFile(path)).toEqual(before);
    const back = mlp([4, 8, 3], { seed: 4 });
    await loadModel(back, path);
    expect(snapshot(back)).toEqual(snapshot(old));
  });

  it('removes the temporary file when the final rename fails', async () => {
    const sub = await mkdtemp(join(dir, 'rename-'));
    const path = join(sub, 'model.safetensors');
    await mkdir(path); // a directory in the way: rename cannot replace it
    await writeFile(join(path, 'keep'), 'x');
    await expect(saveModel(mlp([2, 2], { seed: 1 }), path)).rejects.toThrow();
    expect((await readdir(sub))).toEqual(['model.safetensors']);
    expect(await readdir(path)).toEqual(['keep']);
  });

  it('writes nothing when serialising fails', async () => {
    const sub = await mkdtemp(join(dir, 'invalid-'));
    await expect(saveModel(mlp([2, 2], { seed: 1 }), join(sub, 'm.safetensors'), { n: 1 } as never)).rejects.toThrow(ValueError);
    expect(await readdir(sub)).toEqual([]);
  });
});

describe('loading validates everything before touching the model', () => {
  const sizes = [3, 4, 2];
  let good: Uint8Array;
  let goodPath: string;
  beforeAll(async () => {
    goodPath = join(dir, 'good.safetensors');
    await saveModel(mlp(sizes, { seed: 10, output: 'sigmoid' }), goodPath, { epochs: '3' });
    good = new Uint8Array(await readFile(goodPath));
  });

  /** Writes the bytes to a file, loads them into a fresh model and returns the error; the model must be unchanged. */
  async function loadError(bytes: Uint8Array, model: Module = mlp(sizes, { seed: 20, output: 'sigmoid' })): Promise<Error & { message: string }> {
    const path = join(dir, `bad-${Math.random().toString(36).slice(2)}.safetensors`);
    await writeFile(path, bytes);
    const before = snapshot(model);
    const error = await loadModel(model, path).then(() => null, (e: Error) => e);
    expect(error, 'loadModel should have failed').not.toBeNull();
    expect(snapshot(model)).toEqual(before);
    expect(error!.message).toContain(path);
    return error!;
  }

  it('a file too short for the length prefix', async () => {
    const e = await loadError(good.subarray(0, 5));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/5 bytes is too short/);
  });

  it('a header length beyond the end of the file, or beyond the format limit', async () => {
    const beyond = good.slice();
    new DataView(beyond.buffer).setBigUint64(0, BigInt(good.length), true);
    expect(await loadError(beyond)).toSatisfy((e: Error) => e instanceof ValueError && /runs past the end of the file/.test(e.message));
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    expect((await loadError(huge)).message).toMatch(/exceeds the format's limit/);
    // truncated inside the header
    expect((await loadError(good.subarray(0, 40))).message).toMatch(/runs past the end of the file/);
  });

  it('a header that is not JSON, not UTF-8, or not an object', async () => {
    const flipped = good.slice();
    flipped[8] = 0x78; // '{' → 'x'
    expect(await loadError(flipped)).toSatisfy((e: Error) => e instanceof ValueError && /not valid JSON/.test(e.message));
    const binary = good.slice();
    binary[10] = 0xff;
    expect((await loadError(binary)).message).toMatch(/not valid UTF-8/);
    expect((await loadError(joinFile([1, 2], new Uint8Array(0)))).message).toMatch(/must be a JSON object, got an array/);
  });

  it('truncated data, and bytes after the last tensor', async () => {
    const e = await loadError(good.subarray(0, good.length - 4));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/tensor '1\.b': data_offsets \[\d+, \d+\] run past the data section/);
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expect((await loadError(longer)).message).toMatch(/trailing garbage/);
  });

  it('offsets that overlap, leave a gap, run backwards or disagree with shape × dtype', async () => {
    const overlap = withHeader(good, (h) => {
      // shift 0.b onto the end of 0.W
      h['0.b'].data_offsets = [h['0.b'].data_offsets[0] - 4, h['0.b'].data_offsets[1] - 4];
    });
    expect((await loadError(overlap)).message).toMatch(/tensor '0\.b': data_offsets \[44, 60\] overlap tensor '0\.W' \[0, 48\]/);
    const gap = withHeader(good, (h) => {
      const [s, e] = h['0.W'].data_offsets;
      h['0.W'].data_offsets = [s + 4, e + 4];
    });
    expect((await loadError(gap)).message).toMatch(/tensor '0\.W': data_offsets start at 4, leaving bytes 0\.\.4 unaccounted/);
    const backwards = withHeader(good, (h) => {
      h['0.W'].data_offsets = [48, 0];
    });
    expect((await loadError(backwards)).message).toMatch(/tensor '0\.W': data_offsets \[48, 0\] end before they start/);
    const size = withHeader(good, (h) => {
      h['1.W'].shape = [2, 3];
    });
    const e = await loadError(size);
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/tensor '1\.W': data_offsets \[\d+, \d+\] span 32 bytes, but shape \[2,3\] of F32 needs 24/);
    const notInts = withHeader(good, (h) => {
      h['1.W'].data_offsets = [0.5, 32];
    });
    expect((await loadError(notInts)).message).toMatch(/tensor '1\.W': data_offsets must be \[start, end\]/);
    const badShape = withHeader(good, (h) => {
      h['1.W'].shape = [2, -4];
    });
    expect((await loadError(badShape)).message).toMatch(/tensor '1\.W': shape must be an array of non-negative integers/);
    const extraField = withHeader(good, (h) => {
      h['1.W'].strides = [4, 1];
    });
    expect((await loadError(extraField)).message).toMatch(/tensor '1\.W': unexpected field 'strides'/);
  });

  it('dtypes tapegrad does not have, and ones that do not exist', async () => {
    const f16 = withHeader(good, (h) => {
      h['0.b'].dtype = 'F16';
    });
    const e = await loadError(f16);
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toMatch(/tensor '0\.b': dtype "F16" is a safetensors dtype tapegrad does not support/);
    const bogus = withHeader(good, (h) => {
      h['0.b'].dtype = 'float32';
    });
    expect((await loadError(bogus)).message).toMatch(/dtype "float32" is not a safetensors dtype; tapegrad reads F32 and F64/);
  });

  it('metadata that is not a map of strings', async () => {
    const bad = withHeader(good, (h) => {
      h.__metadata__ = { epochs: 3 };
    });
    expect((await loadError(bad)).message).toMatch(/metadata 'epochs' is number/);
  });

  it('missing or extra parameter names', async () => {
    const renamed = withHeader(good, (h) => {
      h['0.weight'] = h['0.W'];
      delete h['0.W'];
    });
    const e = await loadError(renamed);
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/missing '0\.W'; unexpected '0\.weight'/);
    // a deeper model's file into a shallower model: extra names only
    const deepPath = join(dir, 'deep.safetensors');
    await saveModel(mlp([3, 4, 4, 2], { seed: 1 }), deepPath);
    const deep = new Uint8Array(await readFile(deepPath));
    const shallow = mlp([3, 4], { seed: 1 });
    expect((await loadError(deep, shallow)).message).toMatch(/unexpected '1\.W', '1\.b', '2\.W', '2\.b'/);
    expect((await loadError(good, mlp([3, 4, 2, 2], { seed: 1 }))).message).toMatch(/missing '2\.W', '2\.b'/);
  });

  it("a shape that differs from the model's, even when earlier tensors fit", async () => {
    // 0.W and 0.b match; only the last layer differs, so a load that assigned as it went would change the model
    const e = await loadError(good, mlp([3, 4, 5], { seed: 1 }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/tensor '1\.W' has shape \[2,4\] but the model's is \[5,4\]/);
  });

  it("a dtype that differs from the model's", async () => {
    const e = await loadError(good, mlp(sizes, { seed: 1, dtype: 'float64' }));
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toMatch(/tensor '0\.W' is F32 \(float32\) but the model's is F64 \(float64\)/);
  });

  it('a file that does not exist', async () => {
    await expect(loadModel(mlp(sizes, { seed: 1 }), join(dir, 'missing.safetensors'))).rejects.toThrow(/^loadModel: .*missing\.safetensors: cannot read: no such file \(ENOENT\)$/);
  });

  it('restoreParameters checks the same way for tensors in memory', () => {
    const model = mlp(sizes, { seed: 5 });
    const before = snapshot(model);
    const { parameters } = deserializeParameters(good, { source: 'good.safetensors' });
    const wrong: Record<string, Tensor> = { ...parameters, '1.b': tensor([[1], [2], [3]]) };
    expect(() => restoreParameters(model, wrong, { source: 'memory' })).toThrow(/memory: tensor '1\.b' has shape \[3,1\]/);
    expect(snapshot(model)).toEqual(before);
    restoreParameters(model, parameters);
    expect(snapshot(model)).toEqual(Object.fromEntries(Object.entries(parameters).map(([k, t]) => [k, t.toFlatArray()])));
  });
});
