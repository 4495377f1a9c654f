import { wasmApi } from './wasm-api.js';

/**
 * Relaxed SIMD (a fused multiply-add, f32x4.relaxed_madd) is behind a flag in Node 20:
 * compiling a module that uses it fails unless V8 runs with --experimental-wasm-relaxed-simd.
 * The flag can be set at run time, before the module is compiled (PERF-NOTES), but it is
 * refused inside NODE_OPTIONS, so we set it ourselves, then ask the engine whether it now
 * accepts a tiny relaxed module: that answer, not the Node version, decides.
 */

/** (func (result v128) v128.const 0, v128.const 0, v128.const 0, f32x4.relaxed_madd) */
const relaxedProbe = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () → v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x3d, 0x01, 0x3b, 0x00, // code section: one body of 59 bytes, no locals
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0xfd, 0x85, 0x02, // f32x4.relaxed_madd (0xfd 0x105)
  0x0b, // end
]);

/** (func (result v128) v128.const 0, v128.const 0, f32x4.add): fixed-width SIMD only. */
const simdProbe = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x2b, 0x01, 0x29, 0x00, // one body of 41 bytes
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0xfd, 0x0c, ...new Array<number>(16).fill(0),
  0xfd, 0xe4, 0x01, // f32x4.add
  0x0b,
]);

interface V8Module {
  setFlagsFromString(flags: string): void;
}

/**
 * node:v8 through process.getBuiltinModule (Node ≥ 20.16, from ES modules and CommonJS
 * alike), not an import or a require(): bundlers for browsers would try to resolve either.
 * On older Node, relaxed SIMD is used only if Node was started with the flag.
 */
function nodeV8(): V8Module | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return typeof proc?.getBuiltinModule === 'function' ? (proc.getBuiltinModule('node:v8') as V8Module) : undefined;
}

let flagTried = false;

/**
 * In Node, turns on V8's relaxed-SIMD flag (once; it is process-wide and inherited by
 * workers started later). Elsewhere, or if Node refuses, it does nothing: the browser's own
 * support decides. Returns whether relaxed SIMD modules now validate.
 */
export function enableRelaxedSimd(): boolean {
  // Node 22 ships relaxed SIMD and no longer knows the flag (V8 prints an error for it)
  if (!flagTried && !relaxedSimdSupported()) {
    flagTried = true;
    try {
      nodeV8()?.setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // not Node, or a runtime that forbids flags: fall back to what validate() says
    }
  }
  return relaxedSimdSupported();
}

/** Whether this engine accepts f32x4.relaxed_madd right now (without touching any flag). */
export function relaxedSimdSupported(): boolean {
  return wasmApi !== undefined && wasmApi.validate(relaxedProbe);
}

/** Whether this engine has fixed-width (128-bit) SIMD, which every build here needs. */
export function simdSupported(): boolean {
  return wasmApi !== undefined && wasmApi.validate(simdProbe);
}
