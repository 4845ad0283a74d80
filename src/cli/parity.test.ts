import { describe, expect, it } from 'vitest';
import { defaultRunConfig, type RunConfigInput } from '../engine/config';
import type { EngineEvent } from '../engine/events';
import { tinyRun } from '../engine/trainer_testing';
import { runCli } from './cli_testing';
import {
  engineRows,
  formatParityTable,
  PARITY_OPTIONS,
  PLAIN_TORCH_PRESET,
  torchReferenceProblem,
  type ParityRow,
} from './parity';

const parity = (args: string[]) => runCli('parity.ts', args);

const step = (n: number, loss: number) => ({ type: 'step', step: n, loss }) as unknown as EngineEvent;
const evalAt = (n: number, knn: number) =>
  ({ type: 'eval', step: n, h: { knnTop1: knn } }) as unknown as EngineEvent;

describe('npm run parity', () => {
  it('--help documents every option; bad arguments are refused with the fix', async () => {
    const help = await parity(['--help']);
    expect(help.code).toBe(0);
    for (const name of Object.keys(PARITY_OPTIONS)) expect(help.stdout).toContain(`--${name}`);
    const missing = await parity(['--config', 'examples/simclr-cifar10.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--config and --data-dir are required/);
    const preset = await parity([
      '--config',
      'examples/simclr-cifar10.json',
      '--data-dir',
      '.',
      '--torch-preset',
      'x',
    ]);
    expect(preset.code).toBe(2);
    expect(preset.stderr).toMatch(/the one preset is 'plain'/);
    const field = await parity([
      '--config',
      'examples/simclr-cifar10.json',
      '--data-dir',
      '.',
      '--set',
      'nn.init="x"',
    ]);
    expect(field.code).toBe(2);
    expect(field.stderr).toMatch(/nn\.init/);
    const base = ['--config', 'examples/simclr-cifar10.json', '--data-dir', '.'];
    const backend = await parity([...base, '--backend', 'webgl']);
    expect(backend.code).toBe(2);
    expect(backend.stderr).toMatch(/--backend must be 'wasm' or 'webgpu', got 'webgl'/);
    const device = await parity([...base, '--device', 'mps']);
    expect(device.code).toBe(2);
    expect(device.stderr).toMatch(/--device must be 'cpu' or 'cuda', got 'mps'/);
  }, 240_000);

  it('the PyTorch reference takes NT-Xent, two views, a resnet and CIFAR-10, and says what else it lacks', () => {
    const ok = defaultRunConfig({ dataset: { id: 'cifar10' } });
    expect(torchReferenceProblem(ok)).toBeNull();
    expect(torchReferenceProblem(defaultRunConfig())).toMatch(/dataset.id must be 'cifar10'/);
    expect(torchReferenceProblem({ ...ok, loss: { id: 'dcl', params: {} } })).toMatch(/loss.id/);
    expect(torchReferenceProblem({ ...ok, encoder: { type: 'convnet', channels: [8] } })).toMatch(/resnet/);
    // the plain preset's overrides are valid RunConfig values
    const overrides = Object.fromEntries(PLAIN_TORCH_PRESET.set.map((s) => s.split('=')));
    expect(overrides['nn.init']).toBe('"torch"');
    const plain = defaultRunConfig({
      nn: { init: 'torch', padding: 'symmetric', batchNormViews: 'per-view' },
      dataset: { id: 'cifar10', standardize: 'none' },
    });
    expect(plain.nn).toEqual({ init: 'torch', padding: 'symmetric', batchNormViews: 'per-view' });
  });

  it('engine events become one row per evaluation with the mean and last loss of the epoch before it', () => {
    const events = [
      evalAt(0, 0.3),
      step(1, 6),
      step(2, 5),
      evalAt(2, 0.4),
      step(3, 4),
      step(4, 2),
      evalAt(4, 0.5),
    ];
    expect(engineRows(events, 2, 7)).toEqual([
      { side: 'engine', seed: 7, epoch: 0, knn: 0.3, lossMean: null, lossLast: null },
      { side: 'engine', seed: 7, epoch: 1, knn: 0.4, lossMean: 5.5, lossLast: 5 },
      { side: 'engine', seed: 7, epoch: 2, knn: 0.5, lossMean: 3, lossLast: 2 },
    ]);
  });

  it('the table pairs the sides per seed and epoch, with the difference and the mean over seeds', () => {
    const row = (side: 'engine' | 'torch', seed: number, epoch: number, knn: number): ParityRow => ({
      side,
      seed,
      epoch,
      knn,
      lossMean: epoch ? 5 + seed : null,
      lossLast: epoch ? 4.5 : null,
    });
    const table = formatParityTable([
      row('engine', 0, 0, 0.3),
      row('torch', 0, 0, 0.31),
      row('engine', 0, 1, 0.42),
      row('torch', 0, 1, 0.4),
      row('engine', 1, 1, 0.44),
      row('torch', 1, 1, 0.4),
    ]);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/engine kNN\s+torch kNN\s+engine-torch/);
    expect(lines.find((l) => l.startsWith('0      1.00'))).toMatch(
      /42\.0%\s+40\.0%\s+\+2\.0 \|\s+5\.000 \/ 4\.500/,
    );
    expect(lines.find((l) => l.startsWith('0      0.00'))).toMatch(/30\.0%\s+31\.0%\s+-1\.0/);
    // mean over seeds 0 and 1 at epoch 1: engine 43.0%, torch 40.0%, loss (5 + 6) / 2
    expect(lines.find((l) => l.startsWith('mean   1.00'))).toMatch(/43\.0%\s+40\.0%\s+\+3\.0 \|\s+5\.500/);
  });
});

describe('the RunConfig choices of the parity work change the run, deterministically', () => {
  const resnet: RunConfigInput = { encoder: { type: 'resnet', widths: [4, 8], blocks: [1, 1] } };

  it('defaults: PyTorch init, TensorFlow padding, joint BatchNorm, channel standardisation', () => {
    const config = defaultRunConfig();
    expect(config.nn).toEqual({ init: 'torch', padding: 'same', batchNormViews: 'joint' });
    expect(config.dataset.standardize).toBe('channel');
  });

  it('each of nn.init, nn.padding, nn.batchNormViews and dataset.standardize changes the first losses', async () => {
    const base = (await tinyRun('cpu', resnet)).losses;
    expect(base).toHaveLength(2);
    const variants: RunConfigInput[] = [
      { nn: { init: 'tfjs' } },
      { nn: { padding: 'symmetric' } },
      { nn: { batchNormViews: 'per-view' } },
      {
        dataset: {
          id: 'synthetic',
          standardize: 'none',
          synthetic: { classes: 4, trainCount: 64, testCount: 32, size: 8, channels: 3 },
        },
      },
    ];
    for (const variant of variants) {
      const { losses } = await tinyRun('cpu', { ...resnet, ...variant });
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(Math.abs(losses[0] - base[0]), JSON.stringify(variant)).toBeGreaterThan(1e-6);
    }
    const again = await tinyRun('cpu', {
      ...resnet,
      nn: { init: 'torch', padding: 'symmetric', batchNormViews: 'per-view' },
    });
    const twice = await tinyRun('cpu', {
      ...resnet,
      nn: { init: 'torch', padding: 'symmetric', batchNormViews: 'per-view' },
    });
    expect(twice.losses).toEqual(again.losses);
  }, 240_000);
});
