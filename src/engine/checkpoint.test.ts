import { describe, expect, it } from 'vitest';
import { checkpointInfo } from './checkpoint';
import { parseRunConfig } from './config';
import { openDataset } from './data/index';
import { readSafetensors, writeSafetensors, type SafetensorsFile } from './safetensors';
import { Trainer } from './trainer';
import { tinyConfig } from './trainer_testing';

async function trainer(steps: number): Promise<Trainer> {
  const config = parseRunConfig(tinyConfig({ encoder: { type: 'mlp', hidden: [8] }, epochs: 1 }));
  const dataset = await openDataset({ id: 'synthetic', seed: config.seed, ...config.dataset.synthetic });
  const t = await Trainer.create(config, { dataset, onEvent: () => undefined });
  if (steps > 0) await t.run({ untilStep: steps });
  return t;
}

/** Everything restore() could change: every weight, the step, and what a checkpoint of it holds. */
async function state(t: Trainer) {
  const weights = await Promise.all(t.network.allWeights.map(async (w) => Array.from(await w.read().data())));
  const saved = readSafetensors(await t.checkpoint());
  return { step: t.step, weights, tensors: saved.tensors.map((x) => [x.name, Array.from(x.data)]) };
}

function edit(bytes: Uint8Array, change: (file: SafetensorsFile) => SafetensorsFile): Uint8Array {
  const changed = change(readSafetensors(bytes));
  return writeSafetensors(changed.tensors, changed.metadata);
}

describe('restore validates a checkpoint in full before writing anything', () => {
  it('refuses bad metadata, slot names, shapes, dtypes, unexpected tensors and NaN, changing nothing', async () => {
    const source = await trainer(3);
    const good = await source.checkpoint();
    expect(checkpointInfo(good)).toMatchObject({ step: 3, optimizerStep: 3 });
    const target = await trainer(1);
    const before = await state(target);
    const slot = readSafetensors(good).tensors.find((t) => t.name.startsWith('opt/m/'))!;
    const withMetadata = (key: string, value: string) =>
      edit(good, (f) => ({ ...f, metadata: { ...f.metadata, [key]: value } }));
    const cases: [Uint8Array, RegExp][] = [
      [withMetadata('step', '-1'), /checkpoint metadata step is "-1"; it must be a non-negative integer/],
      [withMetadata('step', '2.5'), /metadata step is "2\.5"/],
      [withMetadata('step', 'abc'), /metadata step is "abc"/],
      [withMetadata('optimizer_step', ''), /metadata optimizer_step is ""/],
      [withMetadata('run_config', '{oops'), /run_config is not JSON/],
      [
        edit(good, (f) => ({
          ...f,
          tensors: f.tensors.map((t) =>
            t === f.tensors.find((x) => x.name === slot.name)
              ? { ...t, name: t.name.replace('opt/m/', 'opt/q/') }
              : t,
          ),
        })),
        /optimizer slot opt\/q\/\d+, which optimizer 'adamw' does not have \(its slots are opt\/m\/<0\.\.\d+>, opt\/v\/<0\.\.\d+>\)/,
      ],
      [
        edit(good, (f) => ({
          ...f,
          tensors: [...f.tensors, { name: 'opt/v/999', dtype: 'F32', shape: [1], data: new Float32Array(1) }],
        })),
        /optimizer slot opt\/v\/999/,
      ],
      [
        edit(good, (f) => ({
          ...f,
          tensors: f.tensors.map((t) =>
            t.name === slot.name ? { ...t, shape: [t.data.length], data: t.data } : t,
          ),
        })),
        new RegExp(
          `checkpoint tensor ${slot.name} has shape \\[${slot.data.length}\\], variable \\d+ expects \\[${slot.shape.join(',')}\\]`,
        ),
      ],
      [
        edit(good, (f) => ({
          ...f,
          tensors: f.tensors.map((t, i) =>
            i === 0 ? { ...t, dtype: 'I32', data: new Int32Array(t.data.length) } : t,
          ),
        })),
        /checkpoint tensor net\/0\/\S+ is I32, the network expects F32/,
      ],
      [
        edit(good, (f) => ({
          ...f,
          tensors: [...f.tensors, { name: 'extra/0', dtype: 'F32', shape: [1], data: new Float32Array(1) }],
        })),
        /unexpected tensor extra\/0/,
      ],
      [
        edit(good, (f) => ({
          ...f,
          tensors: f.tensors.map((t) =>
            t.name === slot.name
              ? { ...t, data: Float32Array.from(t.data, (v, i) => (i === 1 ? NaN : v)) }
              : t,
          ),
        })),
        new RegExp(
          `checkpoint tensor ${slot.name} holds NaN at value 1: a checkpoint with NaN or Inf cannot be restored`,
        ),
      ],
    ];
    for (const [bytes, message] of cases) {
      expect(() => target.restore(bytes)).toThrow(message);
      expect(await state(target)).toEqual(before);
    }
    // the unedited file restores
    target.restore(good);
    expect(target.step).toBe(3);
    source.dispose();
    target.dispose();
  });

  it('restoring a step-0 checkpoint also zeroes optimizer slots the file does not have yet', async () => {
    const t = await trainer(0);
    const initial = await t.checkpoint();
    expect(readSafetensors(initial).tensors.some((x) => x.name.startsWith('opt/'))).toBe(false);
    const fresh = await trainer(0);
    await fresh.run({ untilStep: 2 });
    t.restore(initial);
    await t.run({ untilStep: 2 });
    const afterTraining = readSafetensors(await t.checkpoint());
    // train once more from step 0 on top of stale moments: the checkpoint at step 2 must equal a fresh run's
    t.restore(initial);
    await t.run({ untilStep: 2 });
    const again = readSafetensors(await t.checkpoint());
    expect(again.tensors.map((x) => Array.from(x.data))).toEqual(
      afterTraining.tensors.map((x) => Array.from(x.data)),
    );
    const reference = readSafetensors(await fresh.checkpoint());
    expect(again.tensors.map((x) => Array.from(x.data))).toEqual(
      reference.tensors.map((x) => Array.from(x.data)),
    );
    t.dispose();
    fresh.dispose();
  });
});
