// Test support (not shipped code): runs a CLI script of src/cli through tsx and returns its exit code and output.
import { execFile } from 'node:child_process';
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
