import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from './safetensors';

/** Builds a safetensors file by hand (independent of the writer): u64 LE length, header text, raw bytes. */
function handMadeFile(headerText: string, raw: number[] = []): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + header.length + raw.length);
  let length = header.length;
  for (let i = 0; i < 8; i++) {
    out[i] = length % 256;
    length = Math.floor(length / 256);
  }
  out.set(header, 8);
  out.set(raw, 8 + header.length);
  return out;
}

const f32Entry = (offsets: [number, number], shape: number[] = [(offsets[1] - offsets[0]) / 4]) => ({
  dtype: 'F32',
  shape,
  data_offsets: offsets,
});

describe('writeSafetensors', () => {
  it('writes the byte layout of the format spec', () => {
    const bytes = writeSafetensors(
      [{ name: 'a', dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) }],
      { k: 'v' },
    );
    const expectedJson = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(expectedJson.length).toBe(79);
    const paddedLength = 80; // next multiple of 8: one space of padding
    // u64 little-endian header length, including the padding.
    expect(Array.from(bytes.subarray(0, 8))).toEqual([80, 0, 0, 0, 0, 0, 0, 0]);
    const headerBytes = bytes.subarray(8, 8 + paddedLength);
    expect(new TextDecoder().decode(headerBytes.subarray(0, 79))).toBe(expectedJson);
    expect(Array.from(headerBytes.subarray(79))).toEqual([0x20]);
    // 1.0f = 0x3F800000 and -2.0f = 0xC0000000, little-endian.
    expect(Array.from(bytes.subarray(8 + paddedLength))).toEqual([
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,
    ]);
    expect(bytes.length).toBe(8 + 80 + 8);
  });

  it('lays tensors out back to back in the given order, I32 as little-endian two-complement', () => {
    const bytes = writeSafetensors([
      { name: 'z', dtype: 'I32', shape: [1], data: new Int32Array([-1]) },
      { name: 'b', dtype: 'F32', shape: [1, 1], data: new Float32Array([0.5]) },
    ]);
    const headerLength = bytes[0] + 256 * bytes[1];
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    expect(header).toEqual({
      z: { dtype: 'I32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [1, 1], data_offsets: [4, 8] },
    });
    expect(Object.keys(header)).toEqual(['z', 'b']);
    expect(Array.from(bytes.subarray(8 + headerLength))).toEqual([
      0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x3f,
    ]);
  });

  it('rejects inconsistent tensors with a message naming the tensor', () => {
    const ok: SafetensorsTensor = { name: 'w', dtype: 'F32', shape: [2], data: new Float32Array(2) };
    expect(() => writeSafetensors([ok, ok])).toThrow(/"w" appears twice/);
    expect(() => writeSafetensors([{ ...ok, shape: [3] }])).toThrow(
      /"w" has 2 values but shape \[3\] needs 3/,
    );
    expect(() => writeSafetensors([{ ...ok, dtype: 'I32' }])).toThrow(
      /"w" says I32 but its data is a Float32Array/,
    );
    expect(() => writeSafetensors([{ ...ok, shape: [-2] }])).toThrow(/non-negative integers/);
    expect(() => writeSafetensors([{ ...ok, name: '__metadata__' }])).toThrow(/reserved/);
    expect(() => writeSafetensors([ok], { n: 3 as unknown as string })).toThrow(/metadata "n" is a number/);
  });
});

describe('readSafetensors', () => {
  it('round-trips F32 and I32 tensors, scalars, empty tensors and metadata', () => {
    const tensors: SafetensorsTensor[] = [
      {
        name: 'backbone/conv/kernel',
        dtype: 'F32',
        shape: [3, 3, 1, 2],
        data: Float32Array.from({ length: 18 }, (_, i) => i / 7 - 1),
      },
      { name: 'steps', dtype: 'I32', shape: [], data: new Int32Array([-123456]) },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
      { name: 'ids', dtype: 'I32', shape: [3], data: new Int32Array([2147483647, -2147483648, 0]) },
      { name: 'special', dtype: 'F32', shape: [4], data: new Float32Array([Infinity, -0, 1e-40, 3.4e38]) },
    ];
    const metadata = { run_config: JSON.stringify({ seed: 7, loss: 'infonce' }), format: 'pt' };
    const file = readSafetensors(writeSafetensors(tensors, metadata));
    expect(file.metadata).toEqual(metadata);
    expect(file.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));
    for (const [i, t] of file.tensors.entries()) {
      expect(t.dtype).toBe(tensors[i].dtype);
      expect(t.shape).toEqual(tensors[i].shape);
      expect(t.data.constructor).toBe(tensors[i].data.constructor);
      expect(Array.from(t.data)).toEqual(Array.from(tensors[i].data));
    }
    expect(Object.is(file.tensors[4].data[1], -0)).toBe(true);
  });

  it('reads hand-made files whatever the key order, returning tensors in file order', () => {
    const header = JSON.stringify({
      second: f32Entry([4, 8]),
      first: f32Entry([0, 4]),
      __metadata__: { a: 'b' },
    });
    const file = readSafetensors(handMadeFile(header + '   ', [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]));
    expect(file.tensors.map((t) => [t.name, Array.from(t.data)])).toEqual([
      ['first', [1]],
      ['second', [2]],
    ]);
    expect(file.metadata).toEqual({ a: 'b' });
  });

  it('accepts an ArrayBuffer and an unaligned Uint8Array view', () => {
    const bytes = writeSafetensors([{ name: 'x', dtype: 'F32', shape: [2], data: new Float32Array([3, 4]) }]);
    expect(Array.from(readSafetensors(bytes.slice().buffer).tensors[0].data)).toEqual([3, 4]);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(Array.from(readSafetensors(shifted.subarray(1)).tensors[0].data)).toEqual([3, 4]);
  });

  const raw8 = [0, 0, 0, 0, 0, 0, 0, 0];
  const bad: [string, Uint8Array, RegExp][] = [
    ['too short for the length', new Uint8Array(5), /needs at least the 8-byte header length/],
    ['header length past the end', handMadeFile('{}').subarray(0, 9), /header length 2 exceeds the 1 bytes/],
    ['header not JSON', handMadeFile('{"a":'), /not valid JSON/],
    ['header not starting with {', handMadeFile(' []'), /does not start with "\{"/],
    ['header an array', handMadeFile('[1]'), /does not start with "\{"/],
    [
      'unknown dtype',
      handMadeFile(JSON.stringify({ w: { dtype: 'Q7', shape: [2], data_offsets: [0, 8] } }), raw8),
      /"w" has unknown dtype "Q7"/,
    ],
    [
      'unsupported dtype',
      handMadeFile(JSON.stringify({ w: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }), raw8),
      /"w" is F16; this reader supports F32 and I32 only/,
    ],
    [
      'shape vs offsets',
      handMadeFile(JSON.stringify({ w: f32Entry([0, 8], [3]) }), raw8),
      /"w": shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8/,
    ],
    [
      'negative dimension',
      handMadeFile(JSON.stringify({ w: f32Entry([0, 8], [-2]) }), raw8),
      /"w" has shape \[-2\]/,
    ],
    [
      'reversed offsets',
      handMadeFile(JSON.stringify({ w: f32Entry([8, 0], [0]) }), raw8),
      /"w" has data_offsets \[8,0\]/,
    ],
    [
      'gap',
      handMadeFile(JSON.stringify({ w: f32Entry([4, 8]) }), raw8),
      /"w" starts at byte 4 but the previous data ends at 0/,
    ],
    [
      'overlap',
      handMadeFile(JSON.stringify({ a: f32Entry([0, 8]), b: f32Entry([4, 8]) }), raw8),
      /"b" starts at byte 4 but the previous data ends at 8/,
    ],
    [
      'truncated data',
      handMadeFile(JSON.stringify({ a: f32Entry([0, 8]) }), [0, 0, 0, 0]),
      /cover 8 bytes but 4 bytes follow/,
    ],
    [
      'trailing data',
      handMadeFile(JSON.stringify({ a: f32Entry([0, 4]) }), raw8),
      /cover 4 bytes but 8 bytes follow/,
    ],
    [
      'metadata not strings',
      handMadeFile(JSON.stringify({ __metadata__: { epochs: 3 } })),
      /metadata "epochs" is not a string/,
    ],
    ['entry not an object', handMadeFile(JSON.stringify({ w: [1, 2] })), /"w" has header entry \[1,2\]/],
  ];
  it.each(bad)('rejects a file with %s', (_, bytes, message) => {
    expect(() => readSafetensors(bytes)).toThrow(message);
  });
});
