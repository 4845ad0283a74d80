import { transferables, type WorkerCommand, type WorkerEvent } from '../worker/protocol';

type RequestCommand = Extract<WorkerCommand, { requestId: string }>;
type ReplyOf<T extends WorkerEvent['type']> = Extract<WorkerEvent, { type: T }>;

/** The answer type each request command gets. */
interface Replies {
  export: ReplyOf<'export-result'>;
  'preview-augment': ReplyOf<'preview-result'>;
  'import-weights': ReplyOf<'import-result'>;
  evaluate: ReplyOf<'evaluate-result'>;
}

let nextRequest = 0;

/**
 * The UI's handle on the engine worker: fire-and-forget commands, request/reply commands as promises, and
 * a listener for everything else (engine events, backend status, scheduling states).
 */
export class WorkerClient {
  private readonly worker: Worker;
  private readonly pending = new Map<
    string,
    { resolve: (event: WorkerEvent) => void; reject: (error: Error) => void }
  >();

  constructor(onEvent: (event: WorkerEvent) => void) {
    this.worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), {
      type: 'module',
      name: 'engine',
    });
    this.worker.onmessage = (message: MessageEvent<WorkerEvent>) => {
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
    this.worker.onerror = (error) => {
      onEvent({ type: 'device-lost', message: `the engine worker crashed: ${error.message}` });
    };
  }

  send(command: Exclude<WorkerCommand, RequestCommand>): void {
    this.worker.postMessage(command, transferables(command));
  }

  request<C extends RequestCommand['type']>(
    command: Omit<Extract<RequestCommand, { type: C }>, 'requestId'> & { type: C },
  ): Promise<Replies[C]> {
    const requestId = `r${++nextRequest}`;
    const full = { ...command, requestId } as unknown as RequestCommand;
    return new Promise<Replies[C]>((resolve, reject) => {
      this.pending.set(requestId, { resolve: resolve as (event: WorkerEvent) => void, reject });
      this.worker.postMessage(full);
    });
  }
}
