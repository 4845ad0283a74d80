import type { EngineEvent } from '../engine/events';
import type { RunOutcome } from '../engine/trainer';
import type { RunId } from './protocol';

/** The part of Trainer the scheduler drives (a fake implements it in tests). */
export interface SchedulableTrainer {
  readonly step: number;
  readonly lastCheckpointStep: number | null;
  run(options?: { untilStep?: number }): Promise<RunOutcome>;
  pause(): void;
  stop(): void;
  fail(message: string): void;
  checkpoint(): Promise<Uint8Array>;
  dispose(): void;
}

export type SlotState = 'queued' | 'running' | 'paused';

interface Slot {
  runId: RunId;
  trainer: SchedulableTrainer;
  state: SlotState;
  /** Set by delete: the run's events are no longer wanted. */
  deleted: boolean;
}

export interface SchedulerCallbacks {
  /** Events the scheduler itself synthesises for runs that are not inside run() (pause/stop/error between slices). */
  onEngineEvent(runId: RunId, event: EngineEvent): void;
  onStateChange(runId: RunId, state: SlotState): void;
}

/**
 * Trains several runs on one device by round-robin time slicing: each turn calls
 * `trainer.run({ untilStep: step + stepsPerSlice })`, so a run yields after a few steps and the next
 * queued run gets the device. Pause, resume, stop and delete take effect at the next step boundary.
 */
export class RunScheduler {
  private readonly slots: Slot[] = [];
  private current: Slot | null = null;
  private looping = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly callbacks: SchedulerCallbacks,
    private readonly stepsPerSlice = 1,
  ) {}

  has(runId: RunId): boolean {
    return this.slots.some((slot) => slot.runId === runId);
  }

  trainer(runId: RunId): SchedulableTrainer | null {
    return this.find(runId)?.trainer ?? null;
  }

  state(runId: RunId): SlotState | null {
    return this.find(runId)?.state ?? null;
  }

  /** Resolves when no run is left to train (tests and shutdown). */
  whenIdle(): Promise<void> {
    return this.idle;
  }

  /** Adds a built trainer to the queue and starts the loop if it is not running. */
  add(runId: RunId, trainer: SchedulableTrainer): void {
    if (this.has(runId))
      throw new Error(`run ${runId} is already in the worker; stop or delete it before starting it again`);
    this.slots.push({ runId, trainer, state: 'queued', deleted: false });
    this.callbacks.onStateChange(runId, 'queued');
    this.kick();
  }

  pause(runId: RunId): void {
    const slot = this.find(runId);
    if (!slot || slot.state === 'paused') return;
    if (slot === this.current) {
      slot.trainer.pause(); // run() resolves 'paused' and the trainer emits the event
    } else {
      this.setState(slot, 'paused');
      this.callbacks.onEngineEvent(runId, { type: 'paused', step: slot.trainer.step });
    }
  }

  resume(runId: RunId): void {
    const slot = this.find(runId);
    if (!slot || slot.state !== 'paused') return;
    this.setState(slot, 'queued');
    this.kick();
  }

  /** Stops a run; its final state is checkpointed (a 'checkpoint' event) so it can be resumed later. */
  async stop(runId: RunId): Promise<void> {
    const slot = this.find(runId);
    if (!slot) return;
    if (slot === this.current) {
      slot.trainer.stop();
      return; // the loop finishes it
    }
    this.remove(slot);
    this.callbacks.onEngineEvent(runId, { type: 'finished', step: slot.trainer.step, reason: 'stopped' });
    await this.finalise(slot, 'stopped');
  }

  delete(runId: RunId): void {
    const slot = this.find(runId);
    if (!slot) return;
    slot.deleted = true;
    if (slot === this.current) {
      slot.trainer.stop();
      return;
    }
    this.remove(slot);
    slot.trainer.dispose();
  }

  /** Fails every run (e.g. the GPU device was lost): each keeps its last checkpoint and can be resumed from it. */
  failAll(message: string): void {
    for (const slot of [...this.slots]) {
      if (slot === this.current) {
        slot.trainer.fail(message);
        continue;
      }
      this.remove(slot);
      if (!slot.deleted) {
        this.callbacks.onEngineEvent(slot.runId, {
          type: 'error',
          step: slot.trainer.step,
          message,
          lastCheckpointStep: slot.trainer.lastCheckpointStep,
        });
        this.callbacks.onEngineEvent(slot.runId, {
          type: 'finished',
          step: slot.trainer.step,
          reason: 'error',
        });
      }
      slot.trainer.dispose();
    }
  }

  private find(runId: RunId): Slot | undefined {
    return this.slots.find((slot) => slot.runId === runId);
  }

  private remove(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
  }

  private setState(slot: Slot, state: SlotState): void {
    if (slot.state === state) return;
    slot.state = state;
    if (!slot.deleted) this.callbacks.onStateChange(slot.runId, state);
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    this.idle = this.loop().finally(() => {
      this.looping = false;
    });
  }

  private async loop(): Promise<void> {
    for (;;) {
      // outside run() a 'running' slot is one that just yielded and is still the only one to train
      const slot = this.slots.find((candidate) => candidate.state !== 'paused');
      if (!slot) return;
      this.current = slot;
      this.setState(slot, 'running');
      let outcome: RunOutcome;
      try {
        outcome = await slot.trainer.run({ untilStep: slot.trainer.step + this.stepsPerSlice });
      } catch (error) {
        this.callbacks.onEngineEvent(slot.runId, {
          type: 'error',
          step: slot.trainer.step,
          message: error instanceof Error ? error.message : String(error),
          lastCheckpointStep: slot.trainer.lastCheckpointStep,
        });
        this.callbacks.onEngineEvent(slot.runId, {
          type: 'finished',
          step: slot.trainer.step,
          reason: 'error',
        });
        outcome = 'error';
      } finally {
        this.current = null;
      }
      if (slot.deleted) {
        this.remove(slot);
        slot.trainer.dispose();
        continue;
      }
      // round robin: the run that just trained goes to the back of the line
      this.remove(slot);
      this.slots.push(slot);
      if (outcome === 'yielded') {
        // another run may be waiting; this one goes back to the queue unless paused meanwhile
        const othersWaiting = this.slots.some((other) => other !== slot && other.state !== 'paused');
        if (slot.state === 'running' && othersWaiting) this.setState(slot, 'queued');
      } else if (outcome === 'paused') {
        this.setState(slot, 'paused');
      } else {
        this.remove(slot);
        await this.finalise(slot, outcome);
      }
    }
  }

  private async finalise(slot: Slot, outcome: RunOutcome): Promise<void> {
    try {
      // a stopped run keeps its exact state so "resume" continues where it stopped
      if (outcome === 'stopped' && !slot.deleted) await slot.trainer.checkpoint();
    } finally {
      slot.trainer.dispose();
    }
  }
}
