// Node-only: `npm run datasets -- cifar10 [--out DIR] [--url URL]` downloads and unpacks datasets that are
// too large to ship with the app. Fashion-MNIST ships in public/datasets/fashion-mnist and needs nothing.
import { createHash } from 'node:crypto';
import { createReadStream, realpathSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import cliProgress from 'cli-progress';
import { parseTar } from 'nanotar';
import { CIFAR10_RECORD_BYTES } from '../engine/data/cifar10';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
const CIFAR10_ARCHIVE = 'cifar-10-binary.tar.gz';
const CIFAR10_FILES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
  'test_batch.bin',
  'batches.meta.txt',
];
/** The files of the binary version's archive that the reader needs; everything else in it is skipped. */
const CIFAR10_MEMBER = /^(data_batch_\d+\.bin|test_batch\.bin|batches\.meta\.txt)$/;

export interface DownloadProgress {
  /** bytes in the .part file so far, including those kept from an earlier, interrupted attempt */
  receivedBytes: number;
  /** size of the whole file when the server says it, else null */
  totalBytes: number | null;
}

export interface DownloadOptions {
  onProgress?: (progress: DownloadProgress) => void;
  /** called before each retry after an interrupted or failed attempt */
  onRetry?: (info: { attempt: number; error: unknown; resumeFrom: number }) => void;
  /** lowercase hex MD5 of the whole file; a mismatch deletes the download and throws */
  expectedMd5?: string;
  /** attempts in this call before giving up (the .part file stays, so the next call resumes); default 5 */
  maxAttempts?: number;
  /** pause before a retry, in ms; default 2000 */
  retryDelayMs?: number;
  /** abort an attempt when no bytes arrive for this long, in ms; default 60000 */
  stallTimeoutMs?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  md5: string;
  /** HTTP requests made (1 when nothing went wrong) */
  attempts: number;
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    url: string,
  ) {
    super(`GET ${url} answered HTTP ${status}; check the URL (--url)`);
  }
}

/** MD5 of a file, streamed (the CIFAR-10 archive is 170 MB). */
export async function md5OfFile(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sizeOrZero(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** "bytes 100-199/1000" -> { start: 100, total: 1000 } (total null for "*"). */
function parseContentRange(header: string | null): { start: number; total: number | null } | null {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (!match) return null;
  return { start: Number(match[1]), total: match[2] === '*' ? null : Number(match[2]) };
}

/**
 * One HTTP attempt: asks for the bytes after what `partPath` already holds (Range: bytes=N-). A 206 with a
 * matching Content-Range appends; a 200 (server ignores Range) truncates and starts over. Returns true
 * when the file is complete, false when the stream ended short (the caller retries).
 */
async function downloadAttempt(url: string, partPath: string, options: DownloadOptions): Promise<boolean> {
  let offset = await sizeOrZero(partPath);
  const stall = new AbortController();
  const stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
  let stallTimer = setTimeout(
    () => stall.abort(new Error(`no data for ${stallTimeoutMs / 1000} s`)),
    stallTimeoutMs,
  );
  const resetStallTimer = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(
      () => stall.abort(new Error(`no data for ${stallTimeoutMs / 1000} s`)),
      stallTimeoutMs,
    );
  };
  try {
    // identity: a server that marks .tar.gz as Content-Encoding gzip must not get it unzipped under us.
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const response = await fetch(url, { headers, signal: stall.signal, redirect: 'follow' });
    if (response.status === 416 && offset > 0) {
      // Nothing after our last byte: the .part file is already whole (the MD5 check decides).
      await response.body?.cancel();
      return true;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new HttpStatusError(response.status, url);
    }
    let total: number | null = null;
    let append = false;
    if (response.status === 206) {
      const range = parseContentRange(response.headers.get('content-range'));
      append = range !== null && range.start === offset;
      total = range?.total ?? null;
      if (!append) {
        // A range we did not ask for: safer to start over than to splice.
        await response.body?.cancel();
        await rm(partPath, { force: true });
        return false;
      }
    } else {
      const length = response.headers.get('content-length');
      total = length === null ? null : Number(length);
      offset = 0;
    }
    const file = await open(partPath, append ? 'a' : 'w');
    let received = offset;
    try {
      options.onProgress?.({ receivedBytes: received, totalBytes: total });
      if (response.body) {
        for await (const chunk of response.body) {
          await file.write(chunk);
          received += chunk.byteLength;
          resetStallTimer();
          options.onProgress?.({ receivedBytes: received, totalBytes: total });
        }
      }
    } finally {
      await file.close();
    }
    return total === null || received === total;
  } finally {
    clearTimeout(stallTimer);
  }
}

/**
 * Downloads `url` to `dest` through `dest`.part, resuming an interrupted download with an HTTP Range request
 * (from this call's retries or from an earlier run that left the .part file), restarting from byte 0 when the
 * server ignores Range. With `expectedMd5` the finished file is verified; on a mismatch both files are deleted
 * and an error says so. An existing `dest` whose MD5 already matches is kept without downloading.
 */
export async function downloadWithResume(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const expectedMd5 = options.expectedMd5?.toLowerCase();
  if (expectedMd5 && (await sizeOrZero(dest)) > 0) {
    const md5 = await md5OfFile(dest);
    if (md5 === expectedMd5) return { path: dest, bytes: await sizeOrZero(dest), md5, attempts: 0 };
  }
  const partPath = `${dest}.part`;
  const maxAttempts = options.maxAttempts ?? 5;
  let attempts = 0;
  for (;;) {
    attempts++;
    let complete = false;
    let failure: unknown = new Error('the connection closed before the whole file arrived');
    try {
      complete = await downloadAttempt(url, partPath, options);
    } catch (error) {
      // A 4xx will not get better by retrying.
      if (error instanceof HttpStatusError && error.status < 500) throw error;
      failure = error;
    }
    if (complete) break;
    const resumeFrom = await sizeOrZero(partPath);
    if (attempts >= maxAttempts) {
      throw new Error(
        `downloading ${url} failed ${attempts} times (last: ${String(failure)}); ${resumeFrom} bytes are kept in ${partPath}: run the command again to resume`,
        { cause: failure },
      );
    }
    options.onRetry?.({ attempt: attempts, error: failure, resumeFrom });
    await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 2000));
  }
  const md5 = await md5OfFile(partPath);
  if (expectedMd5 && md5 !== expectedMd5) {
    await rm(partPath, { force: true });
    await rm(dest, { force: true });
    throw new Error(
      `MD5 of the download from ${url} is ${md5}, expected ${expectedMd5}: the file is corrupt or the URL serves a different file; it was deleted, run the command again (or check --url)`,
    );
  }
  await rename(partPath, dest);
  return { path: dest, bytes: await sizeOrZero(dest), md5, attempts };
}

/** A Uint8Array that starts at byte 0 of its own ArrayBuffer (nanotar reads `.buffer` and ignores byteOffset). */
function ownBuffer(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

/**
 * Unpacks the CIFAR-10 binary archive (cifar-10-batches-bin/data_batch_1..5.bin, test_batch.bin,
 * batches.meta.txt) flat into `outDir`, each file written under a temporary name then renamed so a crash
 * leaves no half file. Returns the names written, sorted.
 */
export async function extractCifarTarball(tgzPath: string, outDir: string): Promise<string[]> {
  let tar: Uint8Array;
  try {
    tar = ownBuffer(await promisify(gunzip)(await readFile(tgzPath)));
  } catch (error) {
    throw new Error(`${tgzPath} is not a readable .tar.gz (${String(error)}); delete it and download again`, {
      cause: error,
    });
  }
  const members = parseTar(tar, {
    filter: (item) => item.type === 'file' && CIFAR10_MEMBER.test(basename(item.name)),
  });
  const names = members.map((member) => basename(member.name));
  if (!names.includes('test_batch.bin') || !names.some((name) => name.startsWith('data_batch_'))) {
    throw new Error(
      `${tgzPath} holds no data_batch_N.bin / test_batch.bin: it is not the CIFAR-10 binary version (the file is ${CIFAR10_ARCHIVE}, not the python or matlab one)`,
    );
  }
  await mkdir(outDir, { recursive: true });
  for (const member of members) {
    const name = basename(member.name);
    const data = member.data ?? new Uint8Array(0);
    if (name.endsWith('.bin') && data.length % CIFAR10_RECORD_BYTES !== 0) {
      throw new Error(
        `${member.name} in ${tgzPath} is ${data.length} bytes, not a multiple of ${CIFAR10_RECORD_BYTES}: the archive is corrupt; delete it and download again`,
      );
    }
    await writeFile(join(outDir, `${name}.tmp`), data);
    await rename(join(outDir, `${name}.tmp`), join(outDir, name));
  }
  return names.sort();
}

/** The command's options: parseArgs reads them and --help prints them, from this one table. */
const OPTIONS = {
  out: {
    type: 'string',
    value: 'DIR',
    help: 'folder for the dataset files (default public/datasets/<dataset>)',
  },
  url: { type: 'string', value: 'URL', help: `archive to download (default ${CIFAR10_URL})` },
  md5: { type: 'string', value: 'HEX', help: `expected MD5 of the archive (default ${CIFAR10_MD5})` },
  'keep-archive': { type: 'boolean', help: 'keep the downloaded .tar.gz next to the extracted files' },
  force: { type: 'boolean', help: 'download again even when the folder already holds the dataset' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

export function datasetsHelp(): string {
  const rows = Object.entries(OPTIONS).map(([name, option]) => {
    const flag = `--${name}${'value' in option ? ` ${option.value}` : ''}${'short' in option ? `, -${option.short}` : ''}`;
    return `  ${flag.padEnd(20)} ${option.help}`;
  });
  return [
    'usage: npm run datasets -- <dataset> [options]',
    '',
    'datasets:',
    '  cifar10              CIFAR-10 binary version (170 MB download, resumable, MD5-checked)',
    '  fashion-mnist        ships with the app in public/datasets/fashion-mnist: nothing to download',
    '',
    'options:',
    ...rows,
  ].join('\n');
}

export interface CommandOutput {
  log(line: string): void;
  error(line: string): void;
}

/** True when `dir` already holds all files of the official binary version, each of the right size. */
async function cifarComplete(dir: string): Promise<boolean> {
  for (const name of CIFAR10_FILES) {
    const size = await sizeOrZero(join(dir, name));
    if (size === 0 || (name.endsWith('.bin') && size !== 10_000 * CIFAR10_RECORD_BYTES)) return false;
  }
  return true;
}

function progressBar(enabled: boolean): { update(progress: DownloadProgress): void; stop(): void } {
  if (!enabled) return { update() {}, stop() {} };
  const megabytes = (bytes: number) => (bytes / 1e6).toFixed(1);
  const bar = new cliProgress.SingleBar(
    {
      format: 'cifar10 |{bar}| {percentage}% | {received}/{totalMb} MB | ETA {eta_formatted}',
      noTTYOutput: true,
      notTTYSchedule: 5000,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update({ receivedBytes, totalBytes }) {
      const total = totalBytes ?? Math.max(receivedBytes, 1);
      const payload = {
        received: megabytes(receivedBytes),
        totalMb: totalBytes === null ? '?' : megabytes(totalBytes),
      };
      if (!started) bar.start(total, receivedBytes, payload);
      else bar.setTotal(total);
      started = true;
      bar.update(receivedBytes, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Runs `npm run datasets -- ...` with the arguments after the script name; resolves to the exit code. */
export async function runDatasetsCommand(
  argv: string[],
  output: CommandOutput = console,
  showProgress = process.stderr.isTTY === true,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (error) {
    output.error(`${(error as Error).message}\n\n${datasetsHelp()}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    output.log(datasetsHelp());
    return 0;
  }
  const dataset = positionals[0];
  if (dataset === 'fashion-mnist') {
    output.log('Fashion-MNIST ships with the app in public/datasets/fashion-mnist: nothing to download.');
    return 0;
  }
  if (dataset !== 'cifar10' || positionals.length > 1) {
    output.error(
      `${dataset === undefined ? 'name a dataset' : `cannot download '${positionals.join(' ')}'`}; supported: cifar10\n\n${datasetsHelp()}`,
    );
    return 2;
  }
  const outDir = values.out ?? 'public/datasets/cifar10';
  if (!values.force && (await cifarComplete(outDir))) {
    output.log(`CIFAR-10 is already in ${outDir} (use --force to download it again).`);
    return 0;
  }
  await mkdir(outDir, { recursive: true });
  const archive = join(outDir, CIFAR10_ARCHIVE);
  const url = values.url ?? CIFAR10_URL;
  const bar = progressBar(showProgress);
  try {
    output.log(`downloading ${url}`);
    const result = await downloadWithResume(url, archive, {
      expectedMd5: values.md5 ?? CIFAR10_MD5,
      onProgress: bar.update,
      onRetry: ({ attempt, error, resumeFrom }) =>
        output.error(`\nattempt ${attempt} broke off (${String(error)}); resuming from byte ${resumeFrom}`),
    });
    bar.stop();
    output.log(`MD5 ${result.md5} ok (${(result.bytes / 1e6).toFixed(1)} MB); extracting to ${outDir}`);
    const names = await extractCifarTarball(archive, outDir);
    if (!values['keep-archive']) await rm(archive, { force: true });
    output.log(`wrote ${names.join(', ')}`);
    return 0;
  } catch (error) {
    bar.stop();
    output.error(`datasets: ${(error as Error).message}`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  process.exitCode = await runDatasetsCommand(process.argv.slice(2));
}
