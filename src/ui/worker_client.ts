import { transferables, type WorkerCommand, type WorkerEvent } from '../worker/protocol';

type RequestCommand = Extract<WorkerCommand, { requestId: string }>;
type ReplyOf<T extends WorkerEvent['type']> = Extract<WorkerEvent, { type: T }>;

/** The answer type each request command gets. */
interface Replies {
  export: ReplyOf<'export-result'>;
  'preview-augment': ReplyOf<'preview-result'>;
  'import-weights': ReplyOf<'import-result'>;
  evaluate: ReplyOf<'evaluate-result'>;
  'probe-datasets': ReplyOf<'datasets-result'>;
}

/** The part of a Worker the client uses (tests pass a fake). */
export interface WorkerLike {
  onmessage: ((message: MessageEvent<WorkerEvent>) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  onmessageerror: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
  terminate(): void;
}

export function createEngineWorker(): WorkerLike {
  return new Worker(new URL('../worker/engine.worker.ts', import.meta.url), {
    type: 'module',
    name: 'engine',
  }) as WorkerLike;
}

let nextRequest = 0;

/**
 * The UI's handle on the engine worker: fire-and-forget commands, request/reply commands as promises, and a
 * listener for everything else (engine events, backend status, scheduling states). A worker that throws an
 * uncaught error or sends an unreadable message is treated as crashed: it is ended, every pending request is
 * rejected, and `onCrash` is called once (the controller then starts a new client and resumes the runs).
 */
export class WorkerClient {
  private readonly worker: WorkerLike;
  private crashed = false;
  private readonly pending = new Map<
    string,
    { resolve: (event: WorkerEvent) => void; reject: (error: Error) => void }
  >();

  constructor(
    onEvent: (event: WorkerEvent) => void,
    private readonly onCrash: (message: string) => void = () => undefined,
    factory: () => WorkerLike = createEngineWorker,
  ) {
    this.worker = factory();
    this.worker.onmessage = (message: MessageEvent<WorkerEvent>) => {
      if (this.crashed) return;
      const event = message.data;
      if ('requestId' in event) {
        const waiting = this.pending.get(event.requestId);
        if (waiting) {
          this.pending.delete(event.requestId);
          if (event.type === 'request-failed') waiting.reject(new Error(event.message));
          else waiting.resolve(event);
          return;
        }
      }
      onEvent(event);
    };
    this.worker.onerror = (error: ErrorEvent) => {
      error.preventDefault?.();
      this.crash(`the engine crashed (${error.message || 'uncaught error in the worker'})`);
    };
    this.worker.onmessageerror = () => this.crash('the engine sent a message that could not be read');
  }

  get alive(): boolean {
    return !this.crashed;
  }

  private crash(message: string): void {
    if (this.crashed) return;
    this.crashed = true;
    this.worker.terminate();
    const error = new Error(`${message}; it was restarted, try again`);
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
    this.onCrash(message);
  }

  /** Ends the worker without reporting a crash. */
  terminate(): void {
    this.crashed = true;
    this.worker.terminate();
    for (const waiting of this.pending.values()) waiting.reject(new Error('the engine was shut down'));
    this.pending.clear();
  }

  send(command: Exclude<WorkerCommand, RequestCommand>): void {
    if (this.crashed) return;
    this.worker.postMessage(command, transferables(command));
  }

  request<C extends RequestCommand['type'] & keyof Replies>(
    command: Omit<Extract<RequestCommand, { type: C }>, 'requestId'> & { type: C },
  ): Promise<Replies[C]> {
    if (this.crashed) return Promise.reject(new Error('the engine is restarting; try again'));
    const requestId = `r${++nextRequest}`;
    const full = { ...command, requestId } as unknown as RequestCommand;
    return new Promise<Replies[C]>((resolve, reject) => {
      this.pending.set(requestId, { resolve: resolve as (event: WorkerEvent) => void, reject });
      this.worker.postMessage(full, transferables(full));
    });
  }
}
