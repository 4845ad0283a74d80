import { describe, expect, it } from 'vitest';
import { splitTiles, type WasmHeapBackend } from './runtime';
import { Scratch } from './scratch';

/** A heap whose allocator hands out the given pointers as emscripten's _malloc does: as signed i32s. */
function fakeHeap(pointers: number[]) {
  const freed: number[] = [];
  const backend = {
    wasm: {
      _malloc: () => pointers.shift()! | 0,
      _free: (p: number) => void freed.push(p),
    },
  } as unknown as WasmHeapBackend;
  return { backend, freed };
}

describe('Scratch', () => {
  it('reads pointers above 2 GB as unsigned (the wasm heap grows to 4 GB)', () => {
    const high = 2 ** 31 + 4096;
    const { backend, freed } = fakeHeap([high, 1024]);
    const scratch = new Scratch(backend);
    expect(scratch.bytes(64)).toBe(high);
    expect(scratch.bytes(64)).toBe(1024);
    scratch.release();
    expect(freed.map((p) => p >>> 0)).toEqual([high, 1024]);
  });

  it('names the size when the heap cannot grow', () => {
    const { backend } = fakeHeap([0]);
    expect(() => new Scratch(backend).bytes(1 << 20)).toThrow(/out of wasm memory for 1048576 bytes/);
  });
});

describe('splitTiles', () => {
  it('covers [0, count) with contiguous, non-empty, near-equal parts', () => {
    for (const [count, parts] of [
      [10, 3],
      [2, 4],
      [7, 7],
      [1, 1],
      [100, 8],
    ]) {
      const ranges = splitTiles(count, parts);
      expect(ranges.length).toBe(Math.min(count, parts));
      expect(ranges[0][0]).toBe(0);
      expect(ranges[ranges.length - 1][1]).toBe(count);
      for (let i = 0; i < ranges.length; i++) {
        expect(ranges[i][1]).toBeGreaterThan(ranges[i][0]);
        if (i > 0) expect(ranges[i][0]).toBe(ranges[i - 1][1]);
      }
      const sizes = ranges.map(([a, b]) => b - a);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });
});
