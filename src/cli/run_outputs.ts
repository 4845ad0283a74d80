// Node-only: the CLI's output folder, written so that a crash (kill -9, power loss, a full disk) at any moment
// leaves whole files: every file is written under a temporary name, fsynced and renamed over the old one, and
// metrics.jsonl is appended line by line as events happen.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { open, readFile, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export const METRICS_FILE = 'metrics.jsonl';
export const SUPERSEDED_FILE = 'metrics.superseded.jsonl';
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
const TMP_SUFFIX = '.tmp';

/** Flushes a folder's entry table, so a rename in it survives a power loss (a no-op where folders cannot be opened). */
async function syncFolder(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open a folder; the rename is still atomic there
  } finally {
    await handle?.close();
  }
}

/**
 * Writes `data` to `file` atomically: `file`.tmp is written and fsynced, then renamed over `file`, then the folder
 * is fsynced. A crash at any point leaves either the old file or the new one, never a mix; a failure removes the
 * temporary file and throws, leaving the old file as it was.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = file + TMP_SUFFIX;
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true, recursive: false }).catch(() => undefined);
    throw error;
  }
  await syncFolder(path.dirname(file));
}

/** writeFileAtomic, synchronously: when it returns, the new file is on disk under its name. */
export function writeFileAtomicSync(file: string, data: Uint8Array | string): void {
  const tmp = file + TMP_SUFFIX;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (error) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the temporary name may be something we cannot remove (a folder): the next start reports it
    }
    throw error;
  }
  try {
    const dir = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Windows cannot open a folder; the rename is still atomic there
  }
}

/** Removes temporary files a killed run left behind (`*.tmp` of this module's writes). */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((name) => name.endsWith(TMP_SUFFIX));
  await Promise.all(stale.map((name) => rm(path.join(dir, name), { force: true }).catch(() => undefined)));
  return stale;
}

/** metrics.jsonl: one JSON event a line, appended (and in the OS's hands) the moment it is logged. */
export class MetricsLog {
  private fd: number | null;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'a');
  }

  append(event: object): void {
    if (this.fd === null) return;
    writeSync(this.fd, JSON.stringify(event) + '\n');
  }

  /** fsync: the lines written so far survive a power loss too. */
  flush(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Prepares metrics.jsonl for a run resumed from a checkpoint at `step`: the events recorded up to that step stay;
 * the lines from the first event past it onwards (written by a run that went on after that checkpoint and then
 * crashed or was stopped) are superseded by what the resumed run will record: they move, in order, to the end of
 * metrics.superseded.jsonl, and metrics.jsonl is rewritten (atomically) without them. A torn last line (a crash
 * mid-write) counts as superseded too. Returns how many lines moved.
 */
export async function supersedeAfter(dir: string, step: number): Promise<number> {
  const file = path.join(dir, METRICS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return 0;
  }
  const lines = text.split('\n').filter((line) => line.length > 0);
  const cut = lines.findIndex((line) => {
    try {
      const event = JSON.parse(line) as { step?: unknown };
      return typeof event.step === 'number' && event.step > step;
    } catch {
      return true;
    }
  });
  if (cut < 0) {
    // a last line without its newline (a crash mid-write) would glue onto the next append
    if (text.length > 0 && !text.endsWith('\n')) await writeFileAtomic(file, text + '\n');
    return 0;
  }
  const superseded = lines.slice(cut);
  const supersededFile = path.join(dir, SUPERSEDED_FILE);
  let previous = '';
  try {
    previous = await readFile(supersededFile, 'utf8');
  } catch {
    // first time
  }
  await writeFileAtomic(supersededFile, previous + superseded.join('\n') + '\n');
  const kept = lines.slice(0, cut);
  await writeFileAtomic(file, kept.length > 0 ? kept.join('\n') + '\n' : '');
  return superseded.length;
}

/**
 * Writes each checkpoint to `file` the moment it is taken, synchronously and atomically (writeFileAtomicSync):
 * training goes on only once it is on disk, so a checkpoint the log reports is the one a crash leaves, and none
 * waits in memory. A failed write is reported through `onError` and the run goes on; the next checkpoint tries
 * again. `beforeWrite` runs first (the CLI fsyncs metrics.jsonl there, so the events up to a checkpoint are on
 * disk before the checkpoint is).
 */
export class CheckpointWriter {
  /** Step of the last checkpoint that reached the disk in this process (null: none yet). */
  lastWrittenStep: number | null = null;
  /** The error of the last attempt, when it failed (null after a success). */
  lastError: Error | null = null;

  constructor(
    readonly file: string,
    private readonly onError: (step: number, error: Error) => void,
    private readonly beforeWrite: () => void = () => undefined,
  ) {}

  /** Writes the checkpoint of `step`; returns whether it reached the disk. */
  write(step: number, bytes: Uint8Array): boolean {
    try {
      this.beforeWrite();
      writeFileAtomicSync(this.file, bytes);
      this.lastWrittenStep = step;
      this.lastError = null;
      return true;
    } catch (error) {
      this.lastError = error as Error;
      this.onError(step, error as Error);
      return false;
    }
  }
}
