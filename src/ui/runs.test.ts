import { describe, expect, it, vi } from 'vitest';
import { defaultRunConfig } from '../engine/config';
import type { WorkerEvent } from '../worker/protocol';
import { colourFromId, nextRunColour, RUN_PALETTE, CLASS_PALETTE, classColour, runColour } from './colours';
import { importedRunName, runLegend } from './labels';
import { groupByRun, historyRecords } from './persistence';
import { actions, usePlayground } from './store';
import { WorkerClient, type WorkerLike } from './worker_client';

describe('run colours', () => {
  it('gives a new run the colour fewest runs use, independent of which runs are compared', () => {
    expect(nextRunColour([])).toBe(0);
    expect(nextRunColour([0, 1, 2])).toBe(3);
    expect(nextRunColour([0, 2])).toBe(1); // a deleted run's colour is reused first
    expect(nextRunColour(RUN_PALETTE.map((_, i) => i))).toBe(0); // all used once: start again
  });

  it('keeps old runs stable (from their id) and classes on a palette of their own', () => {
    expect(colourFromId('run-abc')).toBe(colourFromId('run-abc'));
    expect(runColour(RUN_PALETTE.length + 1)).toBe(RUN_PALETTE[1]);
    for (const colour of CLASS_PALETTE) expect(RUN_PALETTE).not.toContain(colour);
    expect(classColour(3)).toBe(CLASS_PALETTE[3]);
    expect(classColour(40)).toMatch(/^hsl\(/);
  });
});

describe('run names', () => {
  it('names the loss once in a legend', () => {
    const config = defaultRunConfig({
      name: 'tiny-A · Barlow Twins',
      loss: { id: 'barlow_twins', params: {} },
      batchSize: 8,
    });
    expect(runLegend({ id: 'r', config })).toBe('tiny-A · Barlow Twins · lambda=0.0051 · B=8');
    const plain = defaultRunConfig({
      name: 'tiny-A',
      loss: { id: 'ntxent', params: { tau: 0.5 } },
      batchSize: 8,
    });
    expect(runLegend({ id: 'r', config: plain })).toBe('tiny-A · NT-Xent (SimCLR) tau=0.5 · B=8');
  });

  it('names imported runs after the weights and the file, and never twice the same', () => {
    expect(importedRunName('tiny-A', ['tiny-a.safetensors'], [])).toBe(
      'tiny-A (imported from tiny-a.safetensors)',
    );
    expect(importedRunName('', ['model.json', 'weights.bin'], [])).toBe(
      'model (imported from model.json + weights.bin)',
    );
    const first = importedRunName('tiny-A', ['w.zip'], []);
    expect(importedRunName('tiny-A', ['w.zip'], [first])).toBe(`${first} #2`);
    expect(importedRunName('tiny-A', ['w.zip'], [first, `${first} #2`])).toBe(`${first} #3`);
    expect(importedRunName('x'.repeat(300), ['w.zip'], []).length).toBeLessThanOrEqual(200);
  });
});

describe('append-only history records', () => {
  it('keys every step and eval by run and step, and groups them back by run in order', () => {
    const records = historyRecords('a', {
      steps: [1, 2].map((step) => ({ step, epoch: 0, loss: step, lr: 0, imagesPerSecond: 0 })),
      evals: [],
    });
    expect(records.steps.map(([key]) => key)).toEqual([
      ['a', 1],
      ['a', 2],
    ]);
    const groups = groupByRun(
      [
        ['a', 1],
        ['a', 2],
        ['b', 1],
      ],
      ['a1', 'a2', 'b1'],
    );
    expect(groups.get('a')).toEqual(['a1', 'a2']);
    expect(groups.get('b')).toEqual(['b1']);
  });
});

describe('notices', () => {
  it('lists a recurring message once with a count, and runs onClose once when it goes', () => {
    actions.reset();
    const onClose = vi.fn();
    actions.notify('error', 'storage is full', { key: 'storage', onClose });
    actions.notify('error', 'storage is full', { key: 'storage' });
    const notices = usePlayground.getState().notices;
    expect(notices).toHaveLength(1);
    expect(notices[0].count).toBe(2);
    actions.dismiss(notices[0].id);
    expect(usePlayground.getState().notices).toHaveLength(0);
    expect(onClose).toHaveBeenCalledTimes(1);
  });

  it('lets info notices expire and keeps errors until dismissed', () => {
    actions.reset();
    actions.notify('info', 'saved');
    actions.notify('error', 'failed');
    const [info, error] = usePlayground.getState().notices;
    expect(info.ttlMs).toBeGreaterThan(0);
    expect(error.ttlMs).toBeNull();
  });
});

/** A worker stand-in the test drives: it records what it was sent and can crash. */
class FakeWorker implements WorkerLike {
  onmessage: ((message: MessageEvent<WorkerEvent>) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  onmessageerror: ((event: MessageEvent) => void) | null = null;
  sent: unknown[] = [];
  terminated = false;
  postMessage(message: unknown): void {
    this.sent.push(message);
  }
  terminate(): void {
    this.terminated = true;
  }
  reply(event: WorkerEvent): void {
    this.onmessage?.({ data: event } as MessageEvent<WorkerEvent>);
  }
}

describe('WorkerClient', () => {
  it('detects a crashed worker: ends it, rejects pending requests and reports once', async () => {
    const fake = new FakeWorker();
    const events: WorkerEvent[] = [];
    const crashes: string[] = [];
    const client = new WorkerClient(
      (event) => events.push(event),
      (message) => crashes.push(message),
      () => fake,
    );
    const pending = client.request({ type: 'probe-datasets' });
    fake.onerror?.({
      message: 'Uncaught RuntimeError: Aborted()',
      preventDefault: () => undefined,
    } as ErrorEvent);
    await expect(pending).rejects.toThrow(/the engine crashed \(Uncaught RuntimeError: Aborted\(\)\)/);
    expect(fake.terminated).toBe(true);
    expect(client.alive).toBe(false);
    fake.onmessageerror?.({} as MessageEvent);
    expect(crashes).toHaveLength(1);
    // nothing more is sent to, or taken from, the dead worker
    client.send({ type: 'pause', runId: 'r' });
    expect(fake.sent).toHaveLength(1);
    fake.reply({ type: 'run-state', runId: 'r', state: 'running' });
    expect(events).toHaveLength(0);
    await expect(client.request({ type: 'probe-datasets' })).rejects.toThrow(/restarting/);
  });

  it('answers requests by id and passes other events on', async () => {
    const fake = new FakeWorker();
    const events: WorkerEvent[] = [];
    const client = new WorkerClient(
      (event) => events.push(event),
      undefined,
      () => fake,
    );
    const reply = client.request({ type: 'probe-datasets' });
    const requestId = (fake.sent[0] as { requestId: string }).requestId;
    fake.reply({ type: 'run-state', runId: 'r', state: 'queued' });
    fake.reply({ type: 'datasets-result', requestId, available: { cifar10: false } });
    expect((await reply).available).toEqual({ cifar10: false });
    expect(events).toEqual([{ type: 'run-state', runId: 'r', state: 'queued' }]);
  });
});

describe('checkpoints and storage errors', () => {
  it('records a checkpoint only once it is saved, and shows a full storage once with what to do', async () => {
    const { recordCheckpoint, restoredRun } = await import('./controller');
    const { StorageError } = await import('./persistence');
    actions.reset();
    const run = restoredRun({ id: 'cp', config: defaultRunConfig(), status: 'running', step: 6 });
    actions.addRun({ ...run, status: 'running' });
    const full = () => Promise.reject(new StorageError('browser storage is full while saving …', true));
    const saved: string[] = [];
    await recordCheckpoint('cp', 3, new Uint8Array(1), { save: full, saved: (id) => saved.push(id) });
    await recordCheckpoint('cp', 6, new Uint8Array(1), { save: full, saved: (id) => saved.push(id) });
    expect(usePlayground.getState().runs.cp.lastCheckpointStep).toBeNull();
    expect(saved).toEqual([]);
    const notices = usePlayground.getState().notices;
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ kind: 'error', count: 2 });
    expect(notices[0].text).toMatch(/storage is full.*Delete runs or dropped datasets/);
    await recordCheckpoint('cp', 9, new Uint8Array(1), {
      save: async () => undefined,
      saved: (id) => saved.push(id),
    });
    expect(usePlayground.getState().runs.cp.lastCheckpointStep).toBe(9);
    expect(saved).toEqual(['cp']);
  });
});
