import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CheckpointWriter,
  MetricsLog,
  removeStaleTemporaries,
  supersedeAfter,
  writeFileAtomic,
} from './run_outputs';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'run-outputs-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces the file whole, and a failed write leaves the old one and no temporary', async () => {
    const file = path.join(dir, 'model.json');
    await writeFileAtomic(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    // the temporary name is taken by a folder: the write fails, the file keeps its contents
    await mkdir(`${file}.tmp`);
    await writeFile(path.join(`${file}.tmp`, 'x'), '');
    await expect(writeFileAtomic(file, 'newer')).rejects.toThrow();
    expect(await readFile(file, 'utf8')).toBe('new');
  });

  it('removeStaleTemporaries clears what a killed run left', async () => {
    await writeFile(path.join(dir, 'checkpoint.safetensors.tmp'), '');
    await writeFile(path.join(dir, 'metrics.jsonl'), '');
    expect(await removeStaleTemporaries(dir)).toEqual(['checkpoint.safetensors.tmp']);
    expect(await readdir(dir)).toEqual(['metrics.jsonl']);
  });
});

describe('CheckpointWriter', () => {
  it('writes each checkpoint before returning; a failure is reported at once and the next checkpoint tries again', async () => {
    const file = path.join(dir, 'checkpoint.safetensors');
    const failures: string[] = [];
    let flushes = 0;
    const writer = new CheckpointWriter(
      file,
      (step, error) => failures.push(`${step}: ${error.message}`),
      () => (flushes += 1),
    );
    expect(writer.write(5, Uint8Array.from([5]))).toBe(true);
    expect(Array.from(await readFile(file))).toEqual([5]);
    // make the next write fail: its temporary name is a non-empty folder
    await mkdir(`${file}.tmp`);
    await writeFile(path.join(`${file}.tmp`, 'x'), '');
    expect(writer.write(10, Uint8Array.from([10]))).toBe(false);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^10: /);
    expect(writer.lastError).not.toBeNull();
    expect(writer.lastWrittenStep).toBe(5);
    expect(Array.from(await readFile(file))).toEqual([5]);
    await rm(`${file}.tmp`, { recursive: true });
    expect(writer.write(15, Uint8Array.from([15]))).toBe(true);
    expect(writer.lastError).toBeNull();
    expect(writer.lastWrittenStep).toBe(15);
    expect(Array.from(await readFile(file))).toEqual([15]);
    expect(flushes).toBe(3);
    expect(await readdir(dir)).toEqual(['checkpoint.safetensors']);
  });
});

describe('MetricsLog and supersedeAfter', () => {
  it('appends line by line, and a resume moves what was recorded past its checkpoint aside', async () => {
    const log = new MetricsLog(path.join(dir, 'metrics.jsonl'));
    log.append({ type: 'started', startStep: 0 });
    for (let step = 1; step <= 7; step++) {
      log.append({ type: 'step', step, loss: step });
      if (step % 3 === 0) log.append({ type: 'checkpoint', step });
    }
    // readable while still open (nothing waits in a buffer)
    expect((await readFile(path.join(dir, 'metrics.jsonl'), 'utf8')).split('\n')).toHaveLength(11);
    log.close();
    // a crash mid-line
    await writeFile(path.join(dir, 'metrics.jsonl'), '{"type":"step","st', { flag: 'a' });
    expect(await supersedeAfter(dir, 6)).toBe(2);
    const kept = (await readFile(path.join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n');
    expect(kept.map((l) => JSON.parse(l).step ?? 'start')).toEqual(['start', 1, 2, 3, 3, 4, 5, 6, 6]);
    const aside = (await readFile(path.join(dir, 'metrics.superseded.jsonl'), 'utf8')).trim().split('\n');
    expect(aside).toEqual(['{"type":"step","step":7,"loss":7}', '{"type":"step","st']);
    expect(await supersedeAfter(dir, 6)).toBe(0);
    expect(existsSync(path.join(dir, 'metrics.jsonl.tmp'))).toBe(false);
  });
});
