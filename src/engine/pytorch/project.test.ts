import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildNetwork } from '../../nn/networks';
import { parseRunConfig } from '../config';
import { exportSafetensors } from '../export';
import { readSafetensors, writeSafetensors } from '../safetensors';
import { BUNDLED_SOURCES } from './bundled_sources';
import { readProjectSources, PROJECT_DIR } from './node_sources';
import { buildPytorchProject, NOT_IN_PYTORCH, PROJECT_SOURCE_FILES } from './project';

async function exportedRun(overrides: Record<string, unknown> = {}) {
  const config = parseRunConfig({
    name: 'fashion baseline',
    dataset: { id: 'fashion-mnist' },
    encoder: { type: 'convnet', channels: [4] },
    projector: { layers: 2, hidden: 8, out: 4, batchNorm: true },
    loss: { id: 'dclw', params: { tau: 0.2 } },
    batchSize: 64,
    seed: 9,
    ...overrides,
  });
  const network = buildNetwork({ ...config, inputShape: [28, 28, 1], seed: 1 });
  const preprocessing = { imageShape: [28, 28, 1] as [number, number, number], mean: [0.286], std: [0.353] };
  const weights = await exportSafetensors(network, config, { preprocessing, step: 120 });
  network.dispose();
  return { config, weights };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('buildPytorchProject', () => {
  it('writes the sources, run.json, the weights as exported and a README filled in with the run', async () => {
    const { config, weights } = await exportedRun();
    const files = buildPytorchProject({ weights, sources: await readProjectSources() });
    const byName = Object.fromEntries(files.map((f) => [f.name, f]));
    expect(Object.keys(byName).sort()).toEqual(
      [...PROJECT_SOURCE_FILES, 'run.json', 'model.safetensors'].sort(),
    );
    expect(byName['model.safetensors'].bytes).toBe(weights);
    expect(JSON.parse(text(byName['run.json'].bytes))).toEqual(config);
    expect(text(byName['train.py'].bytes)).toBe((await readProjectSources())['train.py']);
    const readme = text(byName['README.md'].bytes);
    expect(readme).not.toMatch(/\{\{/);
    expect(readme).toMatch(/^# fashion baseline: the run in PyTorch/);
    expect(readme).toContain('| loss | DCLW (weighted decoupled contrastive) (`dclw`: tau 0.2, sigma 0.5) |');
    expect(readme).toContain('channel mean [0.286], std [0.353]');
    expect(readme).toContain('the weights are from step 120');
    expect(readme).toContain('in `data/fashion-mnist`');
    // the three launches: one GPU, N GPUs on a node, several nodes
    expect(readme).toContain(
      'torchrun --standalone --nproc_per_node 1 train.py --config run.json --resume model.safetensors --data-dir data/fashion-mnist',
    );
    expect(readme).toContain('torchrun --standalone --nproc_per_node 8 train.py');
    expect(readme).toContain(
      '--nnodes 4 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint NODE0_HOST:29500 --rdzv_id fashion-baseline-9',
    );
  });

  it('needs no data files for a synthetic run', async () => {
    const { weights } = await exportedRun({ name: '', dataset: { id: 'synthetic' } });
    const readme = text(buildPytorchProject({ weights, sources: BUNDLED_SOURCES })[0].bytes);
    expect(readme).toMatch(/^# DCLW \(weighted decoupled contrastive\) on synthetic/);
    expect(readme).toContain('no data files');
    expect(readme).toContain('python train.py --config run.json --resume model.safetensors --out out');
  });

  it('refuses a protocol run and the objectives it does not implement, naming them and the model.safetensors way', async () => {
    const sources = await readProjectSources();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ protocol: { type: 'few-shot' } }, /does not implement protocol 'few-shot'/],
      [{ loss: { id: 'beclr', params: {} } }, /does not implement loss 'beclr'/],
      [
        { loss: { id: 'sepclr', params: {} }, protocol: { type: 'contrastive-analysis' } },
        /protocol 'contrastive-analysis'.* nor loss 'sepclr'/,
      ],
    ];
    for (const [overrides, message] of cases) {
      const { weights } = await exportedRun(overrides);
      expect(() => buildPytorchProject({ weights, sources })).toThrow(message);
      expect(() => buildPytorchProject({ weights, sources })).toThrow(
        /model\.safetensors.*model\.load_pretrained/,
      );
    }
  });

  it('refuses weights without the export metadata, checkpoints and incomplete sources, saying what to do', async () => {
    const { weights } = await exportedRun();
    const sources = await readProjectSources();
    const file = readSafetensors(weights);
    const { preprocessing: _dropped, ...older } = file.metadata;
    expect(() => buildPytorchProject({ weights: writeSafetensors(file.tensors, older), sources })).toThrow(
      /the weights have no "preprocessing" metadata: they come from an older export; export the run again \(npm run export-pytorch -- --from checkpoint.safetensors/,
    );
    const checkpoint = writeSafetensors(file.tensors, {
      ...file.metadata,
      format: 'contrastive-playground-checkpoint',
    });
    expect(() => buildPytorchProject({ weights: checkpoint, sources })).toThrow(
      /not a model export \(metadata.format is "contrastive-playground-checkpoint"/,
    );
    const { 'losses.py': _missing, ...partial } = sources;
    expect(() => buildPytorchProject({ weights, sources: partial })).toThrow(
      'the PyTorch project sources lack losses.py',
    );
    expect(() => buildPytorchProject({ weights: new Uint8Array(4), sources })).toThrow(
      /8-byte header length/,
    );
  });

  it('refuses the losses the project cannot train, naming them and the safetensors export that still loads', async () => {
    const sources = await readProjectSources();
    const beclr = await exportedRun({ loss: { id: 'beclr' } });
    expect(() => buildPytorchProject({ weights: beclr.weights, sources })).toThrow(
      "the PyTorch project does not implement loss 'beclr', BECLR (its DyCE memory and student-teacher recipe), so " +
        'it cannot train this run; export model.safetensors instead: its encoder loads in PyTorch with ' +
        'model.load_pretrained',
    );
    expect(NOT_IN_PYTORCH).toEqual(['beclr', 'sepclr']);
  });

  it('exports the runs of the mixup, staged, pixel-level and encoder-decoder methods and of a regression target, with train.py', async () => {
    const sources = await readProjectSources();
    for (const overrides of [
      { loss: { id: 'm3col', params: { modality: 1 } } },
      { loss: { id: 'supremix' }, dataset: { id: 'fashion-mnist', target: 'rotation' } },
      { loss: { id: 'mcl', params: { stages: 2 } } },
      // the pixel-level method (methods.PixPro): the spatial maps and the views' crop boxes
      { loss: { id: 'pixpro' } },
      // the encoder-decoder (methods.CMIM) on the clean images
      { loss: { id: 'cmim' }, views: { large: 1 } },
      // a loss without targets on a regression dataset: it trains on the rotated images
      { dataset: { id: 'fashion-mnist', target: 'rotation' } },
    ]) {
      const { weights } = await exportedRun(overrides);
      expect(buildPytorchProject({ weights, sources }).map((f) => f.name)).toContain('train.py');
    }
  });

  it('bundles the same sources the CLI reads, and every Python file of the project folder', async () => {
    expect(BUNDLED_SOURCES).toEqual(await readProjectSources());
    const onDisk = (await readdir(fileURLToPath(PROJECT_DIR))).filter(
      (n) => n.endsWith('.py') || n.endsWith('.md'),
    );
    expect([...PROJECT_SOURCE_FILES].sort()).toEqual(onDisk.sort());
  });
});
