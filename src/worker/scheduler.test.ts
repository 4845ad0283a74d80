import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../engine/events';
import type { RunOutcome } from '../engine/trainer';
import { RunScheduler, type SchedulableTrainer, type SlotState } from './scheduler';

/** A trainer that "trains" one step per awaited tick and logs which run stepped, in order. */
class FakeTrainer implements SchedulableTrainer {
  step = 0;
  lastCheckpointStep: number | null = null;
  checkpoints = 0;
  disposed = false;
  private pauseRequested = false;
  private stopRequested = false;
  private failure: string | null = null;

  constructor(
    private readonly name: string,
    private readonly totalSteps: number,
    private readonly log: string[],
    private readonly emit: (event: EngineEvent) => void,
  ) {}

  async run(options: { untilStep?: number } = {}): Promise<RunOutcome> {
    this.pauseRequested = false;
    while (this.step < this.totalSteps) {
      if (options.untilStep !== undefined && this.step >= options.untilStep) return 'yielded';
      if (this.failure) {
        this.emit({
          type: 'error',
          step: this.step,
          message: this.failure,
          lastCheckpointStep: this.lastCheckpointStep,
        });
        return 'error';
      }
      if (this.stopRequested) {
        this.emit({ type: 'finished', step: this.step, reason: 'stopped' });
        return 'stopped';
      }
      if (this.pauseRequested) {
        this.emit({ type: 'paused', step: this.step });
        return 'paused';
      }
      await Promise.resolve();
      this.step += 1;
      this.log.push(`${this.name}${this.step}`);
    }
    this.emit({ type: 'finished', step: this.step, reason: 'completed' });
    return 'completed';
  }
  pause() {
    this.pauseRequested = true;
  }
  stop() {
    this.stopRequested = true;
  }
  fail(message: string) {
    this.failure = message;
  }
  async checkpoint() {
    this.checkpoints += 1;
    this.lastCheckpointStep = this.step;
    return new Uint8Array([this.step]);
  }
  dispose() {
    this.disposed = true;
  }
}

function setup(stepsPerSlice = 1) {
  const log: string[] = [];
  const events: { runId: string; event: EngineEvent }[] = [];
  const states: { runId: string; state: SlotState }[] = [];
  const scheduler = new RunScheduler(
    {
      onEngineEvent: (runId, event) => events.push({ runId, event }),
      onStateChange: (runId, state) => states.push({ runId, state }),
    },
    stepsPerSlice,
  );
  const make = (name: string, total: number) =>
    new FakeTrainer(name, total, log, (event) => events.push({ runId: name, event }));
  return { log, events, states, scheduler, make };
}

describe('RunScheduler', () => {
  it('interleaves two runs step by step (round robin) and finishes both', async () => {
    const { log, events, scheduler, make } = setup(1);
    const a = make('a', 3);
    const b = make('b', 2);
    scheduler.add('a', a);
    scheduler.add('b', b);
    await scheduler.whenIdle();
    expect(log).toEqual(['a1', 'b1', 'a2', 'b2', 'a3']);
    expect(events.filter((e) => e.event.type === 'finished').map((e) => e.runId)).toEqual(['b', 'a']);
    expect(a.disposed && b.disposed).toBe(true);
    expect(scheduler.has('a') || scheduler.has('b')).toBe(false);
  });

  it('runs larger slices when stepsPerSlice > 1', async () => {
    const { log, scheduler, make } = setup(2);
    scheduler.add('a', make('a', 4));
    scheduler.add('b', make('b', 2));
    await scheduler.whenIdle();
    expect(log).toEqual(['a1', 'a2', 'b1', 'b2', 'a3', 'a4']);
  });

  it('pauses a waiting run, lets the other finish, and resumes it', async () => {
    const { log, events, scheduler, make } = setup(1);
    const a = make('a', 3);
    scheduler.add('a', a);
    scheduler.add('b', make('b', 2));
    scheduler.pause('b'); // b is queued, not inside run(): the scheduler emits its paused event
    expect(events.find((e) => e.runId === 'b')?.event).toEqual({ type: 'paused', step: 0 });
    await scheduler.whenIdle();
    expect(log).toEqual(['a1', 'a2', 'a3']);
    expect(scheduler.state('b')).toBe('paused');
    scheduler.resume('b');
    await scheduler.whenIdle();
    expect(log).toEqual(['a1', 'a2', 'a3', 'b1', 'b2']);
  });

  it('stop checkpoints the final state and disposes; delete emits nothing more', async () => {
    const { events, scheduler, make } = setup(1);
    const a = make('a', 100);
    const b = make('b', 100);
    scheduler.add('a', a);
    scheduler.add('b', b);
    await Promise.resolve();
    await scheduler.stop('b');
    expect(b.checkpoints).toBe(1);
    expect(b.disposed).toBe(true);
    scheduler.delete('a');
    await scheduler.whenIdle();
    expect(a.disposed).toBe(true);
    expect(a.checkpoints).toBe(0);
    expect(events.some((e) => e.runId === 'a' && e.event.type === 'checkpoint')).toBe(false);
    expect(scheduler.has('a')).toBe(false);
  });

  it('failAll turns every run into an error that names its last checkpoint', async () => {
    const { events, scheduler, make } = setup(1);
    const a = make('a', 100);
    const b = make('b', 100);
    await b.checkpoint();
    scheduler.add('a', a);
    scheduler.add('b', b);
    await Promise.resolve();
    scheduler.failAll('GPU device lost');
    await scheduler.whenIdle();
    const errors = events.filter((e) => e.event.type === 'error');
    expect(errors.map((e) => e.runId).sort()).toEqual(['a', 'b']);
    const bError = errors.find((e) => e.runId === 'b')?.event;
    expect(bError).toMatchObject({ message: 'GPU device lost', lastCheckpointStep: 0 });
    expect(a.disposed && b.disposed).toBe(true);
  });
});
