import { FunctionBuilder, I32 } from './assembler';

// Pieces the project's WebAssembly SIMD kernel bodies share: register tile sizes, local and parameter
// declarations, the loop over a row's channel groups, and the row blocking of the summing kernels. Each kernel's
// own body is in its op's folder (wasm_body.ts); src/kernels/wasm_module.ts assembles them into one module.

/** Input channels per register tile (one splat each) and output channels (two f32x4 vectors). */
export const TILE_IN = 4;
export const TILE_OUT = 8;

/** Output pixels per register tile of the forward convolution (along a row), and output channels (two vectors). */
export const CONV_TILE_PIXELS = 4;

/** Rows summed into registers before they are added to the running total (bounds the float32 rounding error). */
export const SUM_BLOCK_ROWS = 64;

/** `count` new i32 locals. */
export function locals(f: FunctionBuilder, count: number): number[] {
  return Array.from({ length: count }, () => f.local(I32));
}

/** A function of i32 parameters named in `names` (space-separated): it, and the parameters' indices in order. */
export function i32Function(names: string): [FunctionBuilder, number[]] {
  const params = names.split(' ');
  return [new FunctionBuilder(params.map(() => I32)), params.map((_, i) => i)];
}

/** for (cb = 0; cb != rowBytes; cb += 16) body: every 4-channel group of a row (rowBytes > 0, a multiple of 16). */
export function eachChannelGroup(f: FunctionBuilder, cb: number, rowBytes: number, body: () => void): void {
  f.i32(0).set(cb);
  f.loop(() => {
    body();
    f.get(cb).i32(16).op('i32.add').tee(cb).get(rowBytes).op('i32.ne').brIf(0);
  });
}
