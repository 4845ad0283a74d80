// Test support (not shipped code): runs the PyTorch project's Python (Debian's python3-torch at /usr/bin/python3)
// from vitest, and decides whether the tests that need it run.
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const PYTHON = '/usr/bin/python3';
export const TORCHRUN = '/usr/bin/torchrun';
/** The Python sources of the project, and the tests' own Python (check.py). */
export const PROJECT_DIR = fileURLToPath(new URL('./project/', import.meta.url));
export const CHECK_SCRIPT = fileURLToPath(new URL('./testing/check.py', import.meta.url));

function probeTorch(): { ok: boolean; reason: string } {
  const probe = spawnSync(
    PYTHON,
    ['-c', 'import torch, torch.distributed as d; print(torch.__version__, d.is_gloo_available())'],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  if (probe.error) return { ok: false, reason: `${PYTHON} cannot run (${probe.error.message})` };
  if (probe.status !== 0)
    return { ok: false, reason: `${PYTHON} has no torch (${probe.stderr.trim().split('\n').pop()})` };
  return { ok: true, reason: `torch ${probe.stdout.trim()}` };
}

/**
 * Whether PyTorch is there. Where it is not, the parity tests are skipped with the reason in their name, except in
 * CI: .ci/run installs python3-torch when it runs as root, so there (the CI variable set, or root) its absence fails.
 */
export const TORCH = probeTorch();
if (!TORCH.ok) {
  const message = `PyTorch parity tests need torch at ${PYTHON} (Debian: apt-get install python3-torch): ${TORCH.reason}`;
  if (process.env.CI || process.getuid?.() === 0) throw new Error(message);
  console.warn(`skipping: ${message}`);
}
export const SKIP_REASON = TORCH.ok ? '' : ` (skipped: ${TORCH.reason}; apt-get install python3-torch)`;

const run = promisify(execFile);

/** Runs a command; a non-zero exit throws with its output, so a failing Python script shows its traceback. */
export async function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const e = error as { message: string; stdout?: string; stderr?: string };
    throw new Error(
      `${command} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
      { cause: error },
    );
  }
}

/** `python check.py <command> ...args` with the project at `projectDir`, parsed from its JSON output. */
export async function check<T>(command: string, args: string[] = [], projectDir = PROJECT_DIR): Promise<T> {
  const stdout = await runCommand(PYTHON, [CHECK_SCRIPT, command, ...args], {
    env: { ...process.env, PROJECT_DIR: projectDir, PYTHONDONTWRITEBYTECODE: '1' },
  });
  return JSON.parse(stdout) as T;
}

/** max |a_i - b_i| (arrays of the same length). */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
