import type { SimdModule, WasmHeapBackend } from './runtime';

/** Scratch memory in the wasm heap for one kernel call: allocated as needed, all freed by `release`. */
export class Scratch {
  private readonly pointers: number[] = [];

  constructor(private readonly backend: WasmHeapBackend) {}

  /** `bytes` uninitialised bytes (a clear error when the heap cannot grow). */
  bytes(bytes: number): number {
    // `>>> 0`: _malloc's i32 result reads as negative above 2 GB (the heap grows to 4 GB)
    const pointer = this.backend.wasm._malloc(Math.max(16, bytes)) >>> 0;
    if (pointer === 0) throw new Error(`wasm SIMD kernel: out of wasm memory for ${bytes} bytes`);
    this.pointers.push(pointer);
    return pointer;
  }

  /** `floats` float32s, zero-filled, or filled with `values`. */
  floats(simd: SimdModule, floats: number, values?: ArrayLike<number>): number {
    const pointer = this.bytes(floats * 4);
    const view = new Float32Array(simd.memory.buffer, pointer, floats);
    if (values == null) view.fill(0);
    else view.set(values);
    return pointer;
  }

  release(): void {
    for (const pointer of this.pointers) this.backend.wasm._free(pointer);
    this.pointers.length = 0;
  }
}
