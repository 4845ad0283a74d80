import type { EngineEvent } from '../engine/events';
import { yieldToHost } from '../engine/host';
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

/** 'preparing': the worker is still building the run's trainer (loading data, building the network). */
export type SlotState = 'preparing' | 'queued' | 'running' | 'paused';

interface Slot {
  runId: RunId;
  /** null while preparing. */
  trainer: SchedulableTrainer | null;
  state: SlotState;
  /** Set by delete: the run's events are no longer wanted. */
  deleted: boolean;
  /** Asked for while the run was inside run() or still preparing; honoured at the next step boundary. */
  pauseRequested: boolean;
  stopRequested: boolean;
}

export interface SchedulerCallbacks {
  /** Events the scheduler itself synthesises for runs that are not inside run() (pause/stop/error between slices). */
  onEngineEvent(runId: RunId, event: EngineEvent): void;
  onStateChange(runId: RunId, state: SlotState): void;
}

export interface SchedulerOptions {
  stepsPerSlice?: number;
  /** Awaited between slices so worker messages (pause, stop, export...) are handled within one step. */
  yieldToHost?: () => Promise<void>;
}

/**
 * Trains several runs on one device by round-robin time slicing: each turn calls
 * `trainer.run({ untilStep: step + stepsPerSlice })`, so a run yields after a few steps and the next
 * queued run gets the device. Between slices the loop yields one macrotask to the host, so commands that
 * arrived meanwhile are handled even on backends whose steps resolve as microtasks (wasm, cpu). Pause, stop
 * and delete are recorded on the slot and honoured at the next step boundary, whatever the trainer does
 * with its own flags, and also while the run is still preparing.
 */
export class RunScheduler {
  private readonly slots: Slot[] = [];
  private current: Slot | null = null;
  /** Paused slots whose state still has to be checkpointed (done by the loop, never beside a training slice). */
  private readonly chores: Slot[] = [];
  private looping = false;
  private idle: Promise<void> = Promise.resolve();
  private readonly stepsPerSlice: number;
  private readonly yieldToHost: () => Promise<void>;

  constructor(
    private readonly callbacks: SchedulerCallbacks,
    options: SchedulerOptions | number = {},
  ) {
    const resolved = typeof options === 'number' ? { stepsPerSlice: options } : options;
    this.stepsPerSlice = resolved.stepsPerSlice ?? 1;
    this.yieldToHost = resolved.yieldToHost ?? yieldToHost;
  }

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

  /**
   * Registers a run whose trainer is being built, so pause / stop / delete sent meanwhile are kept and
   * applied by add(). Call add() with the trainer, or abandon() when building failed.
   */
  prepare(runId: RunId): void {
    if (this.has(runId))
      throw new Error(`run ${runId} is already in the worker; stop or delete it before starting it again`);
    this.slots.push(this.newSlot(runId, null, 'preparing'));
    this.callbacks.onStateChange(runId, 'preparing');
  }

  /** Forgets a run whose trainer could not be built. */
  abandon(runId: RunId): void {
    const slot = this.find(runId);
    if (slot && slot.trainer === null) this.remove(slot);
  }

  /**
   * Adds a built trainer to the queue and starts the loop if it is not running. For a run registered with
   * prepare(), a pause / stop / delete asked for while it was preparing takes effect now. Returns false
   * when the run was stopped or deleted meanwhile (the trainer is then disposed here).
   */
  add(runId: RunId, trainer: SchedulableTrainer): boolean {
    const existing = this.find(runId);
    if (existing && existing.trainer !== null)
      throw new Error(`run ${runId} is already in the worker; stop or delete it before starting it again`);
    const slot = existing ?? this.newSlot(runId, trainer, 'queued');
    if (!existing) this.slots.push(slot);
    slot.trainer = trainer;
    if (slot.deleted || slot.stopRequested) {
      this.remove(slot);
      if (!slot.deleted)
        this.callbacks.onEngineEvent(runId, { type: 'finished', step: trainer.step, reason: 'stopped' });
      trainer.dispose(); // nothing trained since the checkpoint it was built from: nothing to save
      return false;
    }
    if (slot.pauseRequested) {
      slot.pauseRequested = false;
      this.setState(slot, 'paused', true);
      this.callbacks.onEngineEvent(runId, { type: 'paused', step: trainer.step });
      return true;
    }
    this.setState(slot, 'queued', true);
    this.kick();
    return true;
  }

  pause(runId: RunId): void {
    const slot = this.find(runId);
    if (!slot || slot.state === 'paused') return;
    if (slot === this.current || slot.trainer === null) {
      // inside run() (or not built yet): the loop (or add) pauses it at the next step boundary. The trainer's
      // own pause flag is left alone: the scheduler answers at the boundary, and a flag left set would pause
      // the run again right after a resume.
      slot.pauseRequested = true;
      return;
    }
    this.setState(slot, 'paused');
    this.callbacks.onEngineEvent(runId, { type: 'paused', step: slot.trainer.step });
    this.chores.push(slot);
    this.kick();
  }

  resume(runId: RunId): void {
    const slot = this.find(runId);
    if (!slot) return;
    slot.pauseRequested = false;
    if (slot.state !== 'paused') return;
    this.setState(slot, 'queued');
    this.kick();
  }

  /** Stops a run; its final state is checkpointed (a 'checkpoint' event) so it can be resumed later. */
  async stop(runId: RunId): Promise<void> {
    const slot = this.find(runId);
    if (!slot) return;
    if (slot === this.current || slot.trainer === null) {
      slot.stopRequested = true;
      slot.trainer?.stop();
      return; // the loop (or add) finishes it
    }
    this.remove(slot);
    this.callbacks.onEngineEvent(runId, { type: 'finished', step: slot.trainer.step, reason: 'stopped' });
    await this.finalise(slot, 'stopped');
  }

  delete(runId: RunId): void {
    const slot = this.find(runId);
    if (!slot) return;
    slot.deleted = true;
    if (slot === this.current || slot.trainer === null) {
      slot.trainer?.stop();
      return;
    }
    this.remove(slot);
    slot.trainer.dispose();
  }

  /** Fails every run (e.g. the GPU device was lost): each keeps its last checkpoint and can be resumed from it. */
  failAll(message: string): void {
    for (const slot of [...this.slots]) {
      if (slot === this.current) {
        slot.trainer?.fail(message);
        continue;
      }
      if (slot.trainer === null) continue; // still preparing: it fails on its own when it reaches the device
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

  private newSlot(runId: RunId, trainer: SchedulableTrainer | null, state: SlotState): Slot {
    return { runId, trainer, state, deleted: false, pauseRequested: false, stopRequested: false };
  }

  private find(runId: RunId): Slot | undefined {
    return this.slots.find((slot) => slot.runId === runId);
  }

  private remove(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
  }

  private setState(slot: Slot, state: SlotState, force = false): void {
    if (slot.state === state && !force) return;
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
      for (let chore = this.chores.shift(); chore; chore = this.chores.shift()) {
        if (chore.state === 'paused' && this.slots.includes(chore)) await this.checkpointPaused(chore);
      }
      // outside run() a 'running' slot is one that just yielded and is still the only one to train
      const slot = this.slots.find(
        (candidate) =>
          candidate.trainer !== null && candidate.state !== 'paused' && candidate.state !== 'preparing',
      );
      if (!slot || slot.trainer === null) return;
      const trainer = slot.trainer;
      this.current = slot;
      this.setState(slot, 'running');
      let outcome: RunOutcome;
      try {
        outcome = await trainer.run({ untilStep: trainer.step + this.stepsPerSlice });
      } catch (error) {
        this.callbacks.onEngineEvent(slot.runId, {
          type: 'error',
          step: trainer.step,
          message: error instanceof Error ? error.message : String(error),
          lastCheckpointStep: trainer.lastCheckpointStep,
        });
        this.callbacks.onEngineEvent(slot.runId, { type: 'finished', step: trainer.step, reason: 'error' });
        outcome = 'error';
      } finally {
        this.current = null;
      }
      if (slot.deleted) {
        this.remove(slot);
        trainer.dispose();
      } else {
        // round robin: the run that just trained goes to the back of the line
        this.remove(slot);
        this.slots.push(slot);
        if (outcome === 'yielded' && slot.stopRequested) {
          // the trainer went on to its slice end instead of stopping: stop it here, at the step boundary
          this.remove(slot);
          this.callbacks.onEngineEvent(slot.runId, {
            type: 'finished',
            step: trainer.step,
            reason: 'stopped',
          });
          await this.finalise(slot, 'stopped');
        } else if (outcome === 'yielded' && slot.pauseRequested) {
          slot.pauseRequested = false;
          this.setState(slot, 'paused');
          this.callbacks.onEngineEvent(slot.runId, { type: 'paused', step: trainer.step });
          await this.checkpointPaused(slot);
        } else if (outcome === 'yielded') {
          // another run may be waiting; this one goes back to the queue
          const othersWaiting = this.slots.some(
            (other) => other !== slot && other.trainer !== null && other.state === 'queued',
          );
          if (slot.state === 'running' && othersWaiting) this.setState(slot, 'queued');
        } else if (outcome === 'paused') {
          slot.pauseRequested = false;
          this.setState(slot, 'paused');
          await this.checkpointPaused(slot);
        } else {
          this.remove(slot);
          await this.finalise(slot, outcome);
        }
      }
      // one macrotask between slices: commands posted to the worker meanwhile run now, not after the whole run
      await this.yieldToHost();
    }
  }

  /** A paused run's exact state is saved, so a reload (or a crash) resumes it at the step it paused at. */
  private async checkpointPaused(slot: Slot): Promise<void> {
    const trainer = slot.trainer;
    if (!trainer || slot.deleted || trainer.lastCheckpointStep === trainer.step) return;
    try {
      await trainer.checkpoint();
    } catch {
      // the run stays paused and resumable in this page; after a reload it resumes from its older checkpoint
    }
  }

  private async finalise(slot: Slot, outcome: RunOutcome): Promise<void> {
    const trainer = slot.trainer;
    if (!trainer) return;
    try {
      // a stopped run keeps its exact state so "resume" continues where it stopped
      if (outcome === 'stopped' && !slot.deleted && trainer.lastCheckpointStep !== trainer.step)
        await trainer.checkpoint();
    } finally {
      trainer.dispose();
    }
  }
}
