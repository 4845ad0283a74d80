/// <reference lib="webworker" />
import { transferables, type FilesCommand, type FilesEvent } from './protocol';
import { parseDroppedFiles } from './user_datasets';

/**
 * Parses dropped datasets (decompression, tar reading, image decoding) off the main thread and apart from the
 * engine worker, so neither the page nor a training run waits for it.
 */
function post(event: FilesEvent): void {
  self.postMessage(event, transferables(event));
}

self.onmessage = async (message: MessageEvent<FilesCommand>) => {
  const command = message.data;
  try {
    const dataset = await parseDroppedFiles(command.files);
    post({ type: 'dataset-result', requestId: command.requestId, dataset });
  } catch (error) {
    post({
      type: 'request-failed',
      requestId: command.requestId,
      message: error instanceof Error ? error.message : String(error),
    });
  }
};
