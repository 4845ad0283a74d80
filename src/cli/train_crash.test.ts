// The CLI under kill -9, Ctrl-C and failing disks: what is on disk afterwards, and how a resumed run continues.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointInfo } from '../engine/checkpoint';
import { firstNonFinite } from '../engine/finite';
import { readSafetensors } from '../engine/safetensors';
import { runCli, spawnCli, waitFor } from './cli_testing';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'train-crash-'));
  dirs.push(dir);
  return dir;
}

interface Event {
  type: string;
  step?: number;
  loss?: number;
  reason?: string;
  message?: string;
}

/** Every line of metrics.jsonl, parsed (a line that does not parse fails the test). */
async function events(out: string): Promise<Event[]> {
  const text = await readFile(path.join(out, 'metrics.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Event);
}

async function eventsIfAny(out: string): Promise<Event[]> {
  try {
    return await events(out);
  } catch {
    return [];
  }
}

const stepLosses = (list: Event[]) => list.filter((e) => e.type === 'step').map((e) => [e.step, e.loss]);

/** 40 steps of quick-synthetic, a checkpoint every 5, one thread (the same curve in every process). */
const RUN = [
  '--config',
  'examples/quick-synthetic.json',
  '--set',
  'epochs=5',
  '--set',
  'checkpointEvery=5',
  '--set',
  'eval.every=20',
  '--threads',
  '1',
];

describe('what survives a crash', () => {
  it('kill -9 after the second checkpoint leaves a readable checkpoint and every event up to it; --resume continues the same curve', async () => {
    const reference = await tempDir();
    const uninterrupted = await runCli('train.ts', [...RUN, '--out', reference, '--progress-every', '0.2']);
    expect(uninterrupted.code, uninterrupted.stderr).toBe(0);
    const full = await events(reference);
    expect(stepLosses(full)).toHaveLength(40);
    // without a terminal, progress comes as lines: a step line every few seconds, one per evaluation
    expect(uninterrupted.stderr).toMatch(/^step 1\/40 \(3%\) \| loss \d+\.\d{4} \| \d+ img\/s \| ETA \S+$/m);
    expect(uninterrupted.stderr).toMatch(
      /^step 40\/40 \(100%\) \| loss \d+\.\d{4} \| \d+ img\/s \| ETA 0s$/m,
    );
    expect(uninterrupted.stderr).toMatch(/^eval @ step 20: kNN\(h\) [\d.]+%/m);

    const out = await tempDir();
    const running = spawnCli('train.ts', [...RUN, '--out', out]);
    // the second periodic checkpoint (the first is the initial state at step 0)
    await waitFor('the checkpoint of step 10', async () =>
      (await eventsIfAny(out)).some((e) => e.type === 'checkpoint' && e.step === 10) ? true : undefined,
    );
    running.child.kill('SIGKILL');
    await running.exited;
    // the training process notices its launcher is gone and dies too: the folder stops changing
    let previous = '';
    await waitFor('the output folder to stop changing', async () => {
      const now = JSON.stringify(
        await Promise.all(
          ['metrics.jsonl', 'checkpoint.safetensors'].map(
            async (f) => (await stat(path.join(out, f))).mtimeMs,
          ),
        ),
      );
      const still = now === previous;
      previous = now;
      await new Promise((resolve) => setTimeout(resolve, 600));
      return still ? true : undefined;
    });

    const info = checkpointInfo(new Uint8Array(await readFile(path.join(out, 'checkpoint.safetensors'))));
    expect(info.step).toBeGreaterThanOrEqual(5);
    const crashed = await events(out);
    expect(crashed.some((e) => e.type === 'finished')).toBe(false);
    const recorded = crashed.filter((e) => e.type === 'step').map((e) => e.step);
    // every step up to (and past) the checkpoint, in order, once
    expect(recorded).toEqual(Array.from({ length: recorded.length }, (_, i) => i + 1));
    expect(recorded.length).toBeGreaterThanOrEqual(info.step);
    expect(crashed.some((e) => e.type === 'checkpoint' && e.step === info.step)).toBe(true);
    expect(existsSync(path.join(out, 'model.json'))).toBe(false);

    const resumed = await runCli('train.ts', ['--resume', '--out', out, '--threads', '1', '--quiet']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`resumed from step ${info.step}`));
    const after = await events(out);
    // one history: the steps up to the checkpoint kept, the rest recorded again by the resumed run
    expect(stepLosses(after).map(([step]) => step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    stepLosses(after).forEach(([step, loss], i) =>
      expect(loss, `step ${step}`).toBeCloseTo(stepLosses(full)[i][1]!, 5),
    );
    expect(after.find((e) => e.type === 'resumed')).toMatchObject({ step: info.step });
    expect(after.at(-1)).toMatchObject({ type: 'finished', reason: 'completed', step: 40 });
    if (recorded.length > info.step) {
      const superseded = (await readFile(path.join(out, 'metrics.superseded.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean);
      expect(JSON.parse(superseded[0]).step).toBe(info.step + 1);
    }
    expect(
      checkpointInfo(new Uint8Array(await readFile(path.join(out, 'checkpoint.safetensors')))).step,
    ).toBe(40);
    for (const file of ['model.json', 'weights.bin', 'model.safetensors', 'config.json'])
      expect(existsSync(path.join(out, file)), file).toBe(true);
  });

  it('Ctrl-C (SIGINT to the tsx launcher) stops within a step, writes everything and exits 130', async () => {
    const out = await tempDir();
    const running = spawnCli('train.ts', [
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'epochs=200',
      '--threads',
      '1',
      '--out',
      out,
    ]);
    const stepAtSignal = await waitFor('step 3', async () => {
      const steps = (await eventsIfAny(out)).filter((e) => e.type === 'step');
      return steps.length >= 3 ? steps.at(-1)!.step! : undefined;
    });
    running.child.kill('SIGINT');
    const { code, stderr } = await running.exited;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping after this step and writing everything/);
    const list = await events(out);
    const finished = list.filter((e) => e.type === 'finished').at(-1)!;
    expect(finished).toMatchObject({ type: 'finished', reason: 'stopped' });
    // the step running when the signal came, and at most the one after it (the file is read every 50 ms)
    expect(finished.step! - stepAtSignal).toBeLessThanOrEqual(2);
    expect(list.filter((e) => e.type === 'step').at(-1)!.step).toBe(finished.step);
    // the stopped step is checkpointed (right after 'finished', unless it was a checkpoint step anyway)
    expect(list.filter((e) => e.type === 'checkpoint').at(-1)).toEqual({
      type: 'checkpoint',
      step: finished.step,
    });
    expect(
      checkpointInfo(new Uint8Array(await readFile(path.join(out, 'checkpoint.safetensors')))).step,
    ).toBe(finished.step);
    expect(stderr).toMatch(new RegExp(`stopped at step ${finished.step}; wrote .*model\\.safetensors`));
    for (const file of ['model.json', 'weights.bin', 'model.safetensors'])
      expect(existsSync(path.join(out, file)), file).toBe(true);
  });

  it('a second Ctrl-C quits at once, keeping whole files', async () => {
    const out = await tempDir();
    const running = spawnCli('train.ts', [
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'epochs=200',
      '--set',
      'checkpointEvery=2',
      '--threads',
      '1',
      '--out',
      out,
    ]);
    await waitFor('step 3', async () =>
      (await eventsIfAny(out)).filter((e) => e.type === 'step').length >= 3 ? true : undefined,
    );
    running.child.kill('SIGINT');
    await waitFor('the first SIGINT to be seen', async () =>
      /SIGINT: stopping/.test(running.stderr()) ? true : undefined,
    );
    running.child.kill('SIGINT');
    const { code, stderr } = await running.exited;
    expect(code, stderr).toBe(130);
    await events(out); // every line whole
    checkpointInfo(new Uint8Array(await readFile(path.join(out, 'checkpoint.safetensors'))));
  });

  it('a failed checkpoint write is reported at once and the run goes on; the exit code says the checkpoint is missing', async () => {
    const out = await tempDir();
    // the checkpoint's temporary name is taken by a non-empty folder: every write fails
    await mkdir(path.join(out, 'checkpoint.safetensors.tmp'));
    await writeFile(path.join(out, 'checkpoint.safetensors.tmp', 'x'), '');
    const { code, stderr } = await runCli('train.ts', [
      '--config',
      'examples/quick-synthetic.json',
      '--set',
      'epochs=1',
      '--set',
      'checkpointEvery=2',
      '--out',
      out,
      '--quiet',
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /warning: the checkpoint of step 2 could not be written to .*training goes on and the next checkpoint tries again/,
    );
    expect(stderr).toMatch(
      /error: checkpoint\.safetensors could not be written .*no checkpoint of this run is on disk/,
    );
    const list = await events(out);
    expect(list.filter((e) => e.type === 'step')).toHaveLength(8);
    expect(list.filter((e) => e.type === 'checkpoint-write-failed').map((e) => e.step)).toEqual(
      expect.arrayContaining([0, 2, 4, 6, 8]),
    );
    expect(list.some((e) => e.type === 'finished' && e.reason === 'completed')).toBe(true);
    expect(existsSync(path.join(out, 'model.safetensors'))).toBe(true);
  });

  it('a run whose weights go NaN/Inf stops naming the step, keeps its last finite checkpoint and exports only finite weights', async () => {
    const out = await tempDir();
    const { code, stderr } = await runCli('train.ts', [
      '--config',
      'examples/quick-synthetic.json',
      // plain SGD with a huge step and decay multiplies the kernels by -99 a step: they overflow in ~20 steps
      '--set',
      'epochs=4',
      '--set',
      'optimizer.type="sgd"',
      '--set',
      'optimizer.lr=100',
      '--set',
      'optimizer.weightDecay=1',
      '--set',
      'optimizer.momentum=0',
      '--set',
      'checkpointEvery=4',
      '--set',
      'eval.every=0',
      '--threads',
      '1',
      '--out',
      out,
      '--quiet',
    ]);
    expect(code).toBe(1);
    const match =
      /error: the weights became NaN or Inf \(or too large to sum in float32\) at step (\d+) \(first: [\w/]+\) although the loss was [\d.]+; the run stopped and the weights were restored to the last good checkpoint \(step (\d+)\)/.exec(
        stderr,
      );
    expect(match, stderr).not.toBeNull();
    const [failedAt, kept] = [Number(match![1]), Number(match![2])];
    expect(kept).toBe(Math.floor((failedAt - 1) / 4) * 4);
    const checkpoint = readSafetensors(
      new Uint8Array(await readFile(path.join(out, 'checkpoint.safetensors'))),
    );
    expect(Number(checkpoint.metadata.step)).toBe(kept);
    for (const tensor of checkpoint.tensors) expect(firstNonFinite(tensor.data), tensor.name).toBe(-1);
    const model = readSafetensors(new Uint8Array(await readFile(path.join(out, 'model.safetensors'))));
    for (const tensor of model.tensors) expect(firstNonFinite(tensor.data), tensor.name).toBe(-1);
    const list = await events(out);
    expect(list.find((e) => e.type === 'error')).toMatchObject({ step: kept });
    expect(list.filter((e) => e.type === 'step').at(-1)!.step).toBe(failedAt - 1);
  });
});
