import type { DType, TypedArray } from '../dtype.js';
import type { Shape } from '../shape.js';
import type { DeviceArray, Storage } from '../storage.js';

/**
 * Element-wise kernels of one input. `step` is 1 where x > 0, else 0 (relu's derivative);
 * `softplus` is log(1 + eˣ), finite for any finite x. `relu` is x > 0 ? x : +0 except that
 * NaN stays NaN (PyTorch's semantics: a poisoned input must show). `round` rounds half to
 * even (as PyTorch and NumPy; JavaScript's Math.round rounds half up); `isNaN` and
 * `isFinite` write 1 or 0. log1p, expm1, erf, sin and cos: the float64 values of the js
 * backend (Math's, and its own erf, ≤ 3 ulp), rounded once to float32 where the dtype is.
 */
export type UnaryKernel =
  | 'neg' | 'exp' | 'log' | 'sigmoid' | 'relu' | 'tanh' | 'sqrt' | 'abs' | 'sign' | 'step'
  | 'powScalar' | 'softplus'
  | 'log1p' | 'expm1' | 'erf' | 'sin' | 'cos' | 'floor' | 'ceil' | 'round' | 'isNaN' | 'isFinite';

/**
 * Element-wise kernels of two broadcast inputs; comparisons write 1 or 0. `maximum` and
 * `minimum` give NaN where either input is NaN (as PyTorch's), else a on ties
 * (a ≥ b ? a : b, so maximum(−0, +0) = −0). The activation
 * gradients take (a, b) = (the activation's output y, or relu's input x; the upstream
 * gradient dy) and compute, in this order of operations,
 *   sigmoidGrad: dy·(y·(1 − y)),  tanhGrad: dy·(1 − y·y),  reluGrad: dy·(x > 0 ? 1 : 0),
 * each intermediate rounded to the output's dtype, so the result is bit for bit that of the
 * mul/sub kernels composed (the ops these replace in the VJPs).
 */
export type BinaryKernel =
  | 'add' | 'sub' | 'mul' | 'div'
  | 'greater' | 'greaterEqual' | 'less' | 'lessEqual' | 'equal'
  | 'sigmoidGrad' | 'tanhGrad' | 'reluGrad'
  | 'maximum' | 'minimum';

/** `max` and `min` propagate NaN (a NaN anywhere in the reduced block is the result). */
export type ReduceKernel = 'sum' | 'max' | 'min';

/** Which extreme an arg-reduction looks for; the first NaN, else the first extreme, wins. */
export type ArgReduceKernel = 'argmax' | 'argmin';

/**
 * Where the sliding windows of a 2-D convolution or pooling fall, for unfold and fold: an
 * image [N, C, H, W], a kernel kH×kW, and the window at output position (oh, ow) reading
 * rows oh·strideH − padH + i·dilationH (i < kH) and the columns alike. padH and padW are the
 * top and left padding; the bottom and right padding are implied by outH and outW (so
 * 'same' with an even kernel, which pads one more at the bottom, needs nothing else).
 */
export interface ConvGeometry {
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly kH: number;
  readonly kW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly outH: number;
  readonly outW: number;
}

/**
 * The seam between ops and arithmetic. Every kernel writes into an `out` buffer that the
 * caller allocated with the right dtype and size, so a backend never decides shapes or
 * dtypes (ops do, in one place) and a faster backend can replace this one without touching
 * the tape or any op's vector-Jacobian product.
 *
 * `unary` and `binary` may be given `out` === an input of the output's size (optimisers
 * update parameters in place that way): read each element before writing it, or copy the
 * inputs first (as a backend computing in its own memory does anyway).
 *
 * `unary`, `binary`, the optimiser kernels, `matmul` (k = 0 included: zeros), `gather`,
 * `cumsum`, `argReduce`, `transpose`, `unfold`, `fold` and the max-pool kernels must write every element of `out`: inside tidy()
 * their `out` is a reused buffer that still holds an earlier tensor's values (not zeroing it
 * saves a pass over memory). The other kernels get zero-filled buffers; `pad` and
 * `scatterAdd` rely on that.
 *
 * Shapes passed to a kernel are already validated and, for broadcasting kernels, already
 * right-aligned to the output's rank.
 *
 * Buffers are {@link Storage}: a CPU backend (js, wasm, native; no `memory`) only ever gets
 * typed arrays, since core refuses device values before calling it, and may declare its
 * parameters as TypedArray. A device backend (with `memory`) gets its own DeviceArrays and
 * CPU typed arrays as inputs (it uploads those for the call), and its `out` is always one of
 * its own DeviceArrays. Indices (gather, scatterAdd, matmulBatched's offsets) are always CPU
 * Int32Arrays. `Buffer` narrows the kernels' arrays for an implementation: a CPU backend is
 * a {@link CpuBackend}.
 */
export interface Backend<Buffer extends Storage = Storage> {
  readonly name: string;
  /**
   * Present only on a device backend: the memory its kernels compute in. Op outputs are then
   * allocated here, creation functions upload here, and tensors hold DeviceArrays that are
   * read back with `await t.dataAsync()`.
   */
  readonly memory?: DeviceMemory;
  /** out[i] = kernel(x[i]) (with `scalar` for the kernels that take one, e.g. pow's exponent). */
  unary(kernel: UnaryKernel, x: Buffer, out: Buffer, scalar: number): void;
  /** out = kernel(a, b), both broadcast to outShape. */
  binary(kernel: BinaryKernel, a: Buffer, aShape: Shape, b: Buffer, bShape: Shape, out: Buffer, outShape: Shape): void;
  /** out = cond ≠ 0 ? a : b, all three broadcast to outShape. */
  where(cond: Buffer, condShape: Shape, a: Buffer, aShape: Shape, b: Buffer, bShape: Shape, out: Buffer, outShape: Shape): void;
  /** out[m,n] = op(A)·op(B), op = transpose when the flag is set; A is stored [m,k] or [k,m]. */
  matmul(a: Buffer, b: Buffer, out: Buffer, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): void;
  /**
   * A batch of matmuls: for i < aOffsets.length, out[i·m·n …] = op(A_i)·op(B_i), where A_i is
   * the m×k (or k×m) matrix starting at element aOffsets[i] of a, and B_i the one at
   * bOffsets[i] of b. Offsets may repeat (a broadcast operand is read in place, never
   * copied per batch). Writes every element of out.
   */
  matmulBatched(a: Buffer, b: Buffer, out: Buffer, m: number, k: number, n: number,
    transposeA: boolean, transposeB: boolean, aOffsets: Int32Array, bOffsets: Int32Array): void;
  // convolution
  /**
   * im2col: out[n, (c·kH + i)·kW + j, oh·outW + ow] = x[n, c, oh·strideH − padH + i·dilationH,
   * ow·strideW − padW + j·dilationW], or `padValue` where that position lies outside the
   * image. x is [N, C, H, W]; out is [N, C·kH·kW, outH·outW] or, when `batched`, the same
   * columns as one matrix [C·kH·kW, N·outH·outW] (row (c·kH + i)·kW + j, column
   * n·outH·outW + oh·outW + ow: a convolution of the whole batch is then one matrix product).
   * Every element is written.
   */
  unfold(x: Buffer, geometry: ConvGeometry, padValue: number, out: Buffer, batched: boolean): void;
  /**
   * col2im, unfold's adjoint: out[n, c, h, w] = Σ cols[n, (c·kH + i)·kW + j, oh·outW + ow] over
   * the (i, j, oh, ow) that unfold reads from (h, w); positions in the padding are dropped.
   * cols is [N, C·kH·kW, outH·outW] (or, when `batched`, [C·kH·kW, N·outH·outW] as unfold
   * writes it); out is [N, C, H, W], and every element is written (zeros where no column lands).
   */
  fold(cols: Buffer, geometry: ConvGeometry, out: Buffer, batched: boolean): void;
  /**
   * Max-pooling: out[n, c, oh, ow] = the maximum of x over the window unfold reads for
   * (oh, ow), positions outside the image reading −∞; a NaN in the window is the result.
   * out is [N, C, outH, outW]; every element is written.
   */
  maxPool(x: Buffer, geometry: ConvGeometry, out: Buffer): void;
  /**
   * Max-pooling's VJP: each window's dy[n, c, oh, ow] shared equally by the window's
   * elements equal to its maximum (positions outside the image count as ties when the
   * maximum is −∞, and their shares are dropped), added up where windows overlap; a window
   * whose maximum is NaN gives NaN to each of its elements. Each share is dy·(1/t) for t
   * ties, 1/t rounded to the dtype first. dy is [N, C, outH, outW], x and out [N, C, H, W];
   * every element of out is written.
   */
  maxPoolScatter(dy: Buffer, x: Buffer, geometry: ConvGeometry, out: Buffer): void;
  /**
   * maxPoolScatter's adjoint (in its first argument): out[n, c, oh, ow] = Σ v·(1/t) over the
   * window's elements equal to its maximum of x (t ties, counted as there; NaN when the
   * maximum is NaN). v and x are [N, C, H, W], out [N, C, outH, outW]; every element is written.
   */
  maxPoolGather(v: Buffer, x: Buffer, geometry: ConvGeometry, out: Buffer): void;
  /** Reduces the given (sorted, positive) axes; out has the keepDims shape's size. */
  reduce(kernel: ReduceKernel, x: Buffer, shape: Shape, axes: readonly number[], out: Buffer): void;
  /** out = x with its axes permuted: out axis i is x axis perm[i]. */
  transpose(x: Buffer, shape: Shape, perm: readonly number[], out: Buffer): void;
  /** Repeats x (already right-aligned to outShape's rank) along its size-1 axes. */
  broadcastTo(x: Buffer, shape: Shape, out: Buffer, outShape: Shape): void;
  /** Copies the box [begin, begin + outShape) of x into out. */
  slice(x: Buffer, shape: Shape, begin: readonly number[], out: Buffer, outShape: Shape): void;
  /**
   * Writes x into a zero-filled out at offset `begin` (slice's adjoint), touching nothing
   * outside that box: concat places each of its inputs with one call into the same out.
   */
  pad(x: Buffer, shape: Shape, begin: readonly number[], out: Buffer, outShape: Shape): void;
  // indexing: x is seen as [outer, axisSize, inner] (the axis being indexed in the middle),
  // `indices` are already checked to lie in [0, axisSize)
  /** out[o, j, i] = x[o, indices[j], i]; out is [outer, indices.length, inner]. */
  gather(x: Buffer, outer: number, axisSize: number, inner: number, indices: Int32Array, out: Buffer): void;
  /**
   * Optional, for CPU backends with a thread to spare (native): starts writing
   * out[r·B + k] = x[indices[k]·rowLength + r] for r < rowLength, k < B = indices.length —
   * rows of the row-major [N, rowLength] matrix x as the columns of [rowLength, B] — on
   * another thread, and returns a function that waits until every element of out is written.
   * Until it returns, x and out must not be written, nor out read. Indices are already
   * checked. `columnSampler`'s `prefetch` uses it; without it the sampler gathers in js when
   * `take` is called.
   */
  gatherColumnsAsync?(x: Buffer, rowLength: number, indices: Int32Array, out: Buffer): () => void;
  /**
   * Optional, for CPU backends with a faster copy than js's loop (native): the same
   * out[r·B + k] = x[indices[k]·rowLength + r] as gatherColumnsAsync, on this thread, done
   * when it returns. Indices are already checked. `columnSampler`'s `take` uses it for a batch
   * it did not prefetch; without it the sampler gathers in js.
   */
  gatherColumns?(x: Buffer, rowLength: number, indices: Int32Array, out: Buffer): void;
  /**
   * gather's adjoint: out[o, indices[j], i] += dy[o, j, i], into a zero-filled out of
   * [outer, axisSize, inner]; repeated indices accumulate, in order of j.
   */
  scatterAdd(dy: Buffer, outer: number, axisSize: number, inner: number, indices: Int32Array, out: Buffer): void;
  // scans and arg-reductions along one axis, x seen as [outer, axisSize, inner]
  /**
   * Running sums along the axis: inclusive (out[k] = Σ_{j ≤ k} x[j]) or exclusive
   * (Σ_{j < k}); `reverse` runs from the far end (Σ_{j ≥ k}, resp. Σ_{j > k}). Sums
   * accumulate in double precision and are rounded once per written element.
   */
  cumsum(x: Buffer, outer: number, axisSize: number, inner: number, reverse: boolean, exclusive: boolean, out: Buffer): void;
  /** out[o, i] = the index along the axis of the extreme of x[o, :, i] (axisSize ≥ 1). */
  argReduce(kernel: ArgReduceKernel, x: Buffer, outer: number, axisSize: number, inner: number, out: Buffer): void;
  /**
   * out = y − s·x over arrays of one size and dtype (an optimiser's θ ← θ − η·g, in one call
   * instead of mul then sub). Bit for bit what binary('mul', x, [s]) then binary('sub', y, ·)
   * give: s is rounded to the dtype as a lifted scalar is, s·x is rounded to the dtype, then
   * subtracted; never a fused multiply-add. `out` may be y or x.
   */
  subScaled(y: Buffer, x: Buffer, s: number, out: Buffer): void;
}

/**
 * A device backend's memory: where its DeviceArrays come from. Core calls it to allocate op
 * outputs, to upload values built on the CPU (creation functions, constants, casts), and for
 * `detach` and `assign`. Every call only enqueues work; reads go through DeviceArray.read().
 */
export interface DeviceMemory {
  /** A new device array; `zeroed` false promises that a kernel writes every element before any read. */
  allocate(dtype: DType, size: number, zeroed: boolean): DeviceArray;
  /** A new device array holding a copy of `data` (its dtype: Float64Array is float64). */
  upload(data: TypedArray): DeviceArray;
  /** Overwrites all of target's values with data (same length): `assign` of CPU values. */
  write(target: DeviceArray, data: TypedArray): void;
  /** Copies all of source into target, device to device (same length): `detach`, `assign`, reshape. */
  copy(source: DeviceArray, target: DeviceArray): void;
  /**
   * Resolves once the device has finished all the work enqueued before the call: a fence,
   * no transfer. Loops that only enqueue (nn's fitAsync) wait on it to stay a few steps ahead
   * of the device instead of queueing a whole epoch.
   */
  settled(): Promise<void>;
}

/** A backend that computes on the CPU: every buffer it is handed is a typed array (js, wasm, native). */
export type CpuBackend = Backend<TypedArray>;
