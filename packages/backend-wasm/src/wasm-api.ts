/**
 * The few WebAssembly JS-API members used here, typed locally: the project's lib (ES2022,
 * no DOM) has no `WebAssembly` namespace, and declaring a global one would clash with users
 * whose lib does. None of these types appear in the public API.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => WasmInstance;
  instantiate(bytes: Uint8Array, imports: object): Promise<{ module: object; instance: WasmInstance }>;
  /** A shared memory throws where SharedArrayBuffer is off (browsers without cross-origin isolation). */
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

interface WasmInstance {
  readonly exports: unknown;
}

/** The engine's WebAssembly object, or undefined where there is none. */
export const wasmApi: WasmApi | undefined = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
