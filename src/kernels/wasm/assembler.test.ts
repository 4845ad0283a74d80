import { describe, expect, it } from 'vitest';
import { assembleModule, F32, FunctionBuilder, I32, L, sleb, uleb, V128 } from './assembler';
import { buildFilterGradFunction } from '../conv2d_backprop_filter/wasm_body';

describe('LEB128', () => {
  it('encodes unsigned values as the specification examples', () => {
    expect(uleb(0)).toEqual([0]);
    expect(uleb(127)).toEqual([0x7f]);
    expect(uleb(128)).toEqual([0x80, 0x01]);
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(2 ** 32 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => uleb(-1)).toThrow(/not a non-negative integer/);
    expect(() => uleb(1.5)).toThrow(/not a non-negative integer/);
  });

  it('encodes signed 32-bit values, sign bit included', () => {
    expect(sleb(0)).toEqual([0]);
    expect(sleb(63)).toEqual([0x3f]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-1)).toEqual([0x7f]);
    expect(sleb(-64)).toEqual([0x40]);
    expect(sleb(-65)).toEqual([0xbf, 0x7f]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(2 ** 31 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0x07]);
    expect(sleb(-(2 ** 31))).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
    expect(() => sleb(2 ** 31)).toThrow(/not a 32-bit integer/);
  });
});

describe('assembleModule', () => {
  it('builds a module that validates and runs on an imported memory, shared or not', () => {
    // dst[i] += src[i] * 2 in f32x4 steps (2 read from memory and splat); total = Σ src (scalar loop); dst[n] = total; then with k read from
    // memory (an i32 at kAddr): when k >= 0 (an if), src[k] splat into dst[n + 1 .. n + 4]
    const f = new FunctionBuilder([I32, I32, I32, I32]);
    const [src, dst, n, kAddr] = [0, 1, 2, 3];
    const k = f.local(I32);
    const i = f.local(I32);
    const total = f.local(F32);
    const v = f.local(V128);
    const scale = f.local(V128);
    // the scale factor, 2, sits in memory right after the i32 k
    f.get(kAddr).f32Load(4).op('f32x4.splat').set(scale);
    f.forRange(i, 0, L(n), 4, () => {
      f.get(src).get(i).i32(2).op('i32.shl', 'i32.add').v128Load(0).set(v);
      f.get(dst).get(i).i32(2).op('i32.shl', 'i32.add');
      f.get(dst).get(i).i32(2).op('i32.shl', 'i32.add').v128Load(0);
      f.get(v).get(scale).op('f32x4.mul', 'f32x4.add').v128Store(0);
    });
    f.forRange(i, 0, L(n), 1, () => {
      f.get(total).get(src).get(i).i32(2).op('i32.shl', 'i32.add').f32Load(0).op('f32.add').set(total);
    });
    f.get(dst).get(n).i32(2).op('i32.shl', 'i32.add').get(total).f32Store(0);
    f.get(kAddr)
      .i32Load(0)
      .tee(k)
      .i32(0)
      .op('i32.ge_s')
      .if(() => {
        f.get(dst).get(n).i32(2).op('i32.shl', 'i32.add');
        f.get(src).get(k).i32(2).op('i32.shl', 'i32.add').load32Splat(0).set(v);
        f.get(v).v128Store(4);
      });
    for (const shared of [false, true]) {
      const bytes = assembleModule([{ name: 'run', fn: f }], { shared });
      expect(WebAssembly.validate(bytes)).toBe(true);
      const memory = new WebAssembly.Memory(
        shared ? { initial: 1, maximum: 4, shared: true } : { initial: 1 },
      );
      const run = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports
        .run as (...a: number[]) => void;
      const heap = new Float32Array(memory.buffer);
      const src = [1.5, -2, 3.25, 4, 0.5, 6, -7, 8];
      heap.set(src, 0);
      heap.set([10, 20, 30, 40, 50, 60, 70, 80], 64);
      const kAt = 1024;
      new Int32Array(memory.buffer)[kAt / 4] = 5;
      heap[kAt / 4 + 1] = 2;
      run(0, 256, 8, kAt);
      expect(Array.from(heap.subarray(64, 72))).toEqual(src.map((s, j) => s * 2 + 10 * (j + 1)));
      expect(heap[72]).toBe(src.reduce((a, b) => a + b, 0));
      expect(Array.from(heap.subarray(73, 77))).toEqual([6, 6, 6, 6]); // src[5] in all four lanes
      // k < 0: the if's body is skipped, dst[n + 1] keeps what was there
      heap[73] = 99;
      new Int32Array(memory.buffer)[kAt / 4] = -1;
      run(0, 256, 8, kAt);
      expect(heap[73]).toBe(99);
    }
  });

  it('rejects a memory of the wrong kind (a shared import needs a shared memory)', () => {
    const f = new FunctionBuilder([]);
    const bytes = assembleModule([{ name: 'nothing', fn: f }], { shared: true });
    expect(
      () =>
        new WebAssembly.Instance(new WebAssembly.Module(bytes), {
          env: { memory: new WebAssembly.Memory({ initial: 1 }) },
        }),
    ).toThrow();
  });

  it('assembles the project kernels into valid modules', () => {
    for (const shared of [false, true]) {
      const bytes = assembleModule([{ name: 'filterGrad', fn: buildFilterGradFunction() }], { shared });
      expect(WebAssembly.validate(bytes)).toBe(true);
    }
  });
});
