import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../engine/events';
import type { RunOutcome } from '../engine/trainer';
import { RunScheduler, type SchedulableTrainer, type SlotState } from './scheduler';

/**
 * A trainer that "trains" one step per awaited microtask (as wasm's data() resolves) and logs which run stepped,
 * in order. Like Trainer, run() clears its pause flag when it starts and checks the slice end before the pause.
 */
class FakeTrainer implements SchedulableTrainer {
  step = 0;
  lastCheckpointStep: number | null = null;
  checkpoints = 0;
  disposed = false;
  /** Called inside run() while step `step` + 1 is in progress (a message arriving mid-step). */
  duringStep: ((step: number) => void) | null = null;
  private pauseRequested = false;
  private stopRequested = false;
  private failure: string | null = null;

  constructor(
    private readonly name: string,
    private readonly totalSteps: number,
    private readonly log: string[],
    private readonly emit: (event: EngineEvent) => void,
    /** 'macrotask': each step waits for the host (as WebGPU's data() waits on the GPU), so messages arrive mid-step. */
    private readonly wait: 'microtask' | 'macrotask' = 'microtask',
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
      this.duringStep?.(this.step);
      if (this.wait === 'macrotask') await new Promise((resolve) => setTimeout(resolve, 0));
      else await Promise.resolve();
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

/** The steps of the events of one type, in order. */
function stepsOf(events: { event: EngineEvent }[], type: 'paused' | 'finished'): number[] {
  return events.flatMap(({ event }) => (event.type === type ? [event.step] : []));
}

function setup(stepsPerSlice = 1, yieldToHost?: () => Promise<void>) {
  const log: string[] = [];
  const events: { runId: string; event: EngineEvent }[] = [];
  const states: { runId: string; state: SlotState }[] = [];
  const scheduler = new RunScheduler(
    {
      onEngineEvent: (runId, event) => events.push({ runId, event }),
      onStateChange: (runId, state) => states.push({ runId, state }),
    },
    { stepsPerSlice, yieldToHost },
  );
  const make = (name: string, total: number, wait: 'microtask' | 'macrotask' = 'microtask') =>
    new FakeTrainer(name, total, log, (event) => events.push({ runId: name, event }), wait);
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

  it('answers a pause posted as a macrotask within one step for a lone run whose steps are microtasks', async () => {
    const { events, scheduler, make } = setup(1);
    const a = make('a', 100_000);
    scheduler.add('a', a);
    let stepAtPause = -1;
    // a worker message is a macrotask: it runs only if the loop hands control back to the host
    setTimeout(() => {
      stepAtPause = a.step;
      scheduler.pause('a');
    }, 0);
    await scheduler.whenIdle();
    const paused = stepsOf(events, 'paused');
    expect(stepAtPause).toBeGreaterThanOrEqual(0);
    expect(paused).toHaveLength(1);
    expect(paused[0] - stepAtPause).toBeLessThanOrEqual(1);
    expect(scheduler.state('a')).toBe('paused');
    expect(a.step).toBeLessThan(100_000);
    // the paused state is checkpointed, so a reload resumes at the step it paused at
    expect(a.lastCheckpointStep).toBe(a.step);
  });

  it('answers a pause that arrives during a step within one step (the trainer forgets it at its next run())', async () => {
    const { events, scheduler, make } = setup(1);
    const a = make('a', 1000, 'macrotask');
    let stepAtPause = -1;
    let stateAtPause: string | null = null;
    a.duringStep = (step) => {
      if (step !== 3) return;
      stepAtPause = step;
      scheduler.pause('a'); // the run is inside its slice, waiting on its step
      stateAtPause = scheduler.state('a');
    };
    scheduler.add('a', a);
    await scheduler.whenIdle();
    expect(stateAtPause).toBe('running');
    const paused = stepsOf(events, 'paused');
    expect(paused).toHaveLength(1);
    expect(paused[0] - stepAtPause).toBeLessThanOrEqual(1);
    expect(scheduler.state('a')).toBe('paused');
  });

  it('answers a stop that arrives during a step within one step', async () => {
    const { events, scheduler, make } = setup(1);
    const a = make('a', 1000, 'macrotask');
    let stepAtStop = -1;
    a.duringStep = (step) => {
      if (step !== 3) return;
      stepAtStop = step;
      void scheduler.stop('a');
    };
    scheduler.add('a', a);
    await scheduler.whenIdle();
    const finished = stepsOf(events, 'finished');
    expect(finished).toHaveLength(1);
    expect(finished[0] - stepAtStop).toBeLessThanOrEqual(1);
    expect(a.checkpoints).toBe(1);
  });

  it('answers a stop posted as a macrotask within one step and checkpoints the stopped state', async () => {
    const { events, scheduler, make } = setup(1);
    const a = make('a', 100_000);
    scheduler.add('a', a);
    let stepAtStop = -1;
    setTimeout(() => {
      stepAtStop = a.step;
      void scheduler.stop('a');
    }, 0);
    await scheduler.whenIdle();
    const finished = stepsOf(events, 'finished');
    expect(finished).toHaveLength(1);
    expect(events.find((e) => e.event.type === 'finished')?.event).toMatchObject({ reason: 'stopped' });
    expect(finished[0] - stepAtStop).toBeLessThanOrEqual(1);
    expect(a.checkpoints).toBe(1);
    expect(a.disposed).toBe(true);
    expect(scheduler.has('a')).toBe(false);
  });

  it('does not answer a lone run within one step when the loop never yields to the host', async () => {
    // the same lone run with a yield that is only a microtask: the macrotask pause arrives after the run ended
    const { events, scheduler, make } = setup(1, () => Promise.resolve());
    const a = make('a', 2000);
    scheduler.add('a', a);
    setTimeout(() => scheduler.pause('a'), 0);
    await scheduler.whenIdle();
    expect(a.step).toBe(2000);
    expect(events.some((e) => e.event.type === 'paused')).toBe(false);
  });

  it('resumes a run paused at a step boundary and pauses it again on the next request', async () => {
    const { events, scheduler, make } = setup(1);
    const a = make('a', 100_000);
    scheduler.add('a', a);
    await new Promise((resolve) => setTimeout(resolve, 0));
    scheduler.pause('a');
    await scheduler.whenIdle();
    const first = a.step;
    scheduler.resume('a');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(a.step).toBeGreaterThan(first); // no pause flag left behind to stop it at once
    scheduler.pause('a');
    await scheduler.whenIdle();
    expect(events.filter((e) => e.event.type === 'paused')).toHaveLength(2);
    expect(scheduler.state('a')).toBe('paused');
  });

  it('keeps pause, stop and delete sent while a run is still being prepared', async () => {
    const { events, states, scheduler, make } = setup(1);
    scheduler.prepare('p');
    scheduler.pause('p');
    const p = make('p', 10);
    expect(scheduler.add('p', p)).toBe(true);
    expect(scheduler.state('p')).toBe('paused');
    expect(events.find((e) => e.runId === 'p')?.event).toEqual({ type: 'paused', step: 0 });
    expect(p.step).toBe(0);

    scheduler.prepare('s');
    await scheduler.stop('s');
    const s = make('s', 10);
    expect(scheduler.add('s', s)).toBe(false);
    expect(s.disposed).toBe(true);
    expect(events.find((e) => e.runId === 's')?.event).toMatchObject({ type: 'finished', reason: 'stopped' });
    expect(scheduler.has('s')).toBe(false);

    scheduler.prepare('d');
    scheduler.delete('d');
    const d = make('d', 10);
    expect(scheduler.add('d', d)).toBe(false);
    expect(d.disposed).toBe(true);
    expect(events.some((e) => e.runId === 'd')).toBe(false);
    expect(states.filter((e) => e.runId === 'd').map((e) => e.state)).toEqual(['preparing']);

    scheduler.prepare('f');
    scheduler.abandon('f');
    expect(scheduler.has('f')).toBe(false);
  });
});
