/**
 * Every error tapegrad throws names the operation first and then the shapes or values
 * involved, e.g. `matmul: inner dimensions differ: [3,4] · [5,2]`, so a message read
 * out of context still says what went wrong and where.
 */
export class TapegradError extends Error {
  /** The op or function that refused its input, e.g. `matmul`, `tensor`, `gradient`. */
  readonly op: string;
  constructor(op: string, detail: string) {
    super(`${op}: ${detail}`);
    this.op = op;
    this.name = new.target.name;
  }
}

/** Shapes that do not fit the op: inner dimensions, broadcasting, axes, sizes. */
export class ShapeError extends TapegradError {}

/** Mixed dtypes in one op, or a dtype an operation refuses (gradcheck wants float64). */
export class DTypeError extends TapegradError {}

/** Input data that cannot become a tensor: ragged nesting, non-numbers, bad shapes. */
export class ValueError extends TapegradError {}

/** A gradient that cannot be taken: a non-scalar output without a cotangent, a spent tape. */
export class GradientError extends TapegradError {}

/** Formats a shape as `[3,4]`, the form every message uses. */
export function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * A synchronous read of values that live on a device (a GPU backend's memory), or device
 * values handed to something that needs them on the CPU (indices, a CPU backend's kernel).
 * The message names the asynchronous way in, e.g. `await t.dataAsync()`.
 */
export class DeviceTensorError extends TapegradError {}
