// Test support (not shipped code): runs a CLI script of src/cli through tsx and returns its exit code and output.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const tsx = path.resolve('node_modules/.bin/tsx');

/** `tsx src/cli/<script> ...args`; a non-zero exit is returned, not thrown. */
export async function runCli(
  script: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(tsx, [`src/cli/${script}`, ...args], { timeout: 240_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A CLI script of src/cli started through tsx (as `npm run` does), for tests that signal or kill it mid-run. */
export interface RunningCli {
  /** The tsx launcher's process (signals sent to it are relayed to the script's process). */
  child: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or the signal that ended the launcher) and the whole stderr. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function spawnCli(script: string, args: string[]): RunningCli {
  const child = spawn(tsx, [`src/cli/${script}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, stderr: () => stderr, exited };
}

/** Polls `check` every 50 ms until it returns a value (not undefined), or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
