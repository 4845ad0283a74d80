import { describe, expect, it } from 'vitest';
import { embeddingsTsv } from './embeddings';
import { toRgba } from './preview';
import { weightsFileFrom } from './weights_files';

describe('embeddingsTsv', () => {
  it('writes one tab-separated vector per line and a label/class metadata table', () => {
    const { vectors, metadata } = embeddingsTsv(
      new Float32Array([0.5, -1, 2, 0.25]),
      2,
      [1, 0],
      ['cat', 'dog'],
    );
    expect(vectors).toBe('0.5\t-1\n2\t0.25\n');
    expect(metadata).toBe('label\tclass\n1\tdog\n0\tcat\n');
  });

  it('refuses a vector buffer that does not match the labels', () => {
    expect(() => embeddingsTsv(new Float32Array(5), 2, [0, 1], ['a', 'b'])).toThrow(
      /5 values do not make 2 vectors of dimension 2/,
    );
  });
});

describe('toRgba', () => {
  it('expands grayscale to RGB and scales floats to bytes', () => {
    const rgba = toRgba(new Float32Array([0.5, 1]), 0, 1, 2, 1, 255);
    expect(Array.from(rgba)).toEqual([128, 128, 128, 255, 255, 255, 255, 255]);
  });
});

describe('weightsFileFrom', () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  it('recognises safetensors and a tfjs pair', () => {
    expect(weightsFileFrom([{ name: 'run.safetensors', mime: '', bytes: new Uint8Array(8) }]).kind).toBe(
      'safetensors',
    );
    const tfjs = weightsFileFrom([
      { name: 'model.json', mime: '', bytes: bytes('{"format":"layers-model"}') },
      { name: 'weights.bin', mime: '', bytes: new Uint8Array([1, 2, 3, 4]) },
    ]);
    expect(tfjs.kind).toBe('tfjs');
    if (tfjs.kind === 'tfjs') {
      expect(tfjs.modelJson).toEqual({ format: 'layers-model' });
      expect(tfjs.weightsBin.byteLength).toBe(4);
    }
  });

  it('refuses incomplete or malformed uploads with the reason', () => {
    expect(() => weightsFileFrom([{ name: 'model.json', mime: '', bytes: bytes('{}') }])).toThrow(
      /needs its weights\.bin/,
    );
    expect(() => weightsFileFrom([{ name: 'photo.png', mime: '', bytes: new Uint8Array(3) }])).toThrow(
      /photo\.png: not a weights export/,
    );
    expect(() =>
      weightsFileFrom([
        { name: 'model.json', mime: '', bytes: bytes('{oops') },
        { name: 'weights.bin', mime: '', bytes: new Uint8Array(4) },
      ]),
    ).toThrow(/model\.json is not valid JSON/);
  });
});
