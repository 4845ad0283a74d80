// Node-only: `npm run datasets -- cifar10 [--out DIR] [--url URL]` downloads and unpacks datasets that are
// too large to ship with the app. Fashion-MNIST ships in public/datasets/fashion-mnist and needs nothing.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, realpathSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import cliProgress from 'cli-progress';
import { CIFAR10_RECORD_BYTES } from '../engine/data/cifar10';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
const CIFAR10_ARCHIVE = 'cifar-10-binary.tar.gz';
/** The folder of the binary version's archive; members anywhere else are not CIFAR-10's and are skipped. */
const CIFAR10_FOLDER = 'cifar-10-batches-bin';
const CIFAR10_BATCHES = [
  'data_batch_1.bin',
  'data_batch_2.bin',
  'data_batch_3.bin',
  'data_batch_4.bin',
  'data_batch_5.bin',
  'test_batch.bin',
];
const CIFAR10_FILES = [...CIFAR10_BATCHES, 'batches.meta.txt'];
/** Records in one official batch file; a batch in an archive may hold fewer, never more. */
const CIFAR10_BATCH_RECORDS = 10_000;
const MAX_META_BYTES = 64 * 1024;
/**
 * The most the archive may be, compressed (the official one is 170,498,071 bytes) and decompressed (its tar is
 * about 184.4 MB: six 30,730,000-byte batches plus headers): above that it is not CIFAR-10 but a runaway download
 * or a decompression bomb, and it is stopped before the disk or memory fills.
 */
export const CIFAR10_MAX_ARCHIVE_BYTES = 256 * 1024 * 1024;
export const CIFAR10_MAX_TAR_BYTES = 192 * 1024 * 1024;
const MAX_REDIRECTS = 10;

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
  /** the most the file may be; a larger one is stopped and deleted (default CIFAR10_MAX_ARCHIVE_BYTES) */
  maxBytes?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  md5: string;
  /** HTTP requests made (1 when nothing went wrong) */
  attempts: number;
  /** the server gzip-encoded the response although asked not to, and one layer was taken off */
  decodedContentEncoding: boolean;
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    url: string,
  ) {
    super(`GET ${url} answered HTTP ${status}; check the URL (--url)`);
  }
}

/** A failure that retrying cannot fix (redirect loops, bad redirects, oversized files). */
class PermanentError extends Error {}

interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** the URL that answered, after redirects */
  url: string;
}

function requestOnce(
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
  if (!client)
    return Promise.reject(new PermanentError(`cannot download ${url.href}: only http and https URLs work`));
  return new Promise((resolve, reject) => {
    // node:http, not fetch: fetch undoes a Content-Encoding by itself, which hides what the server sent
    const request = client.get(url, { headers, signal }, resolve);
    request.on('error', reject);
  });
}

/**
 * GET with redirects followed by hand (at most MAX_REDIRECTS), so that a loop is named as one: "redirect loop:
 * A -> B -> A". The body of the final response is left unread for the caller.
 */
async function httpGet(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<HttpResponse> {
  const visited: string[] = [];
  let current = url;
  for (;;) {
    visited.push(current);
    const response = await requestOnce(new URL(current), headers, signal);
    const status = response.statusCode ?? 0;
    if (![301, 302, 303, 307, 308].includes(status))
      return { status, headers: response.headers, body: response, url: current };
    response.resume();
    const location = response.headers.location;
    if (!location)
      throw new PermanentError(
        `GET ${current} answered HTTP ${status} (a redirect) without a Location to go to; check --url`,
      );
    const next = new URL(location, current).href;
    if (visited.includes(next)) {
      throw new PermanentError(
        `redirect loop: ${[...visited, next].join(' -> ')}; the server sends the request in a circle, so the file cannot be fetched from ${url} (check --url)`,
      );
    }
    if (visited.length > MAX_REDIRECTS)
      throw new PermanentError(
        `GET ${url} was redirected more than ${MAX_REDIRECTS} times (last to ${next}); check --url`,
      );
    current = next;
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

/** Marks a .part file that holds a gzip Content-Encoded body, which must never be extended with a Range request. */
const encodedMarker = (partPath: string) => `${partPath}.encoded`;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * One HTTP attempt: asks for the bytes after what `partPath` already holds (Range: bytes=N-), unencoded
 * (Accept-Encoding: identity). A 206 with a matching Content-Range appends; a 200 (server ignores Range)
 * truncates and starts over. A body the server gzip-encodes anyway is stored as it came (and marked, so it is
 * never resumed with a Range); downloadWithResume takes the layer off afterwards. Returns true when the file is
 * complete, false when the stream ended short (the caller retries).
 */
async function downloadAttempt(url: string, partPath: string, options: DownloadOptions): Promise<boolean> {
  const maxBytes = options.maxBytes ?? CIFAR10_MAX_ARCHIVE_BYTES;
  if (await exists(encodedMarker(partPath))) {
    // an encoded body cannot be continued byte-exactly: start over
    await rm(partPath, { force: true });
    await rm(encodedMarker(partPath), { force: true });
  }
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
    const response = await httpGet(url, headers, stall.signal);
    const encoding = String(response.headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    const encoded = encoding !== 'identity' && encoding !== '';
    if (encoded && encoding !== 'gzip' && encoding !== 'x-gzip') {
      response.body.resume();
      throw new PermanentError(
        `${url} came with Content-Encoding ${encoding} although the request asked for none (Accept-Encoding: identity); ` +
          'only a gzip encoding can be undone here: use another --url',
      );
    }
    if (response.status === 416 && offset > 0) {
      // Nothing after our last byte: the .part file is already whole (the MD5 check decides).
      response.body.resume();
      return true;
    }
    if (response.status < 200 || response.status > 299) {
      response.body.resume();
      throw new HttpStatusError(response.status, url);
    }
    let total: number | null = null;
    let append = false;
    if (response.status === 206) {
      const range = parseContentRange(String(response.headers['content-range'] ?? ''));
      append = range !== null && range.start === offset && !encoded;
      total = range?.total ?? null;
      if (!append) {
        // A range we did not ask for, or an encoded one: safer to start over than to splice.
        response.body.resume();
        await rm(partPath, { force: true });
        return false;
      }
    } else {
      const length = response.headers['content-length'];
      total = length === undefined ? null : Number(length);
      offset = 0;
    }
    if (total !== null && total > maxBytes) {
      response.body.resume();
      throw new PermanentError(
        `${url} is ${total.toLocaleString('en-US')} bytes, more than the ${maxBytes.toLocaleString('en-US')} this archive can be; check --url`,
      );
    }
    if (encoded) await (await open(encodedMarker(partPath), 'w')).close();
    const file = await open(partPath, append ? 'a' : 'w');
    let received = offset;
    try {
      options.onProgress?.({ receivedBytes: received, totalBytes: total });
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        received += chunk.byteLength;
        if (received > maxBytes) {
          response.body.destroy();
          await file.close();
          await rm(partPath, { force: true });
          throw new PermanentError(
            `${url} sent more than ${maxBytes.toLocaleString('en-US')} bytes, more than this archive can be; the download was stopped and deleted (check --url)`,
          );
        }
        await file.write(chunk);
        resetStallTimer();
        options.onProgress?.({ receivedBytes: received, totalBytes: total });
      }
    } finally {
      await file.close().catch(() => undefined);
    }
    return total === null || received === total;
  } finally {
    clearTimeout(stallTimer);
  }
}

/**
 * Takes the gzip layer a server put on the archive off `source` into `dest`, streamed, stopping at `maxBytes`.
 * Returns false (and removes `dest`) when `source` does not decompress.
 */
async function gunzipFile(source: string, dest: string, maxBytes: number): Promise<boolean> {
  let total = 0;
  try {
    await pipeline(
      createReadStream(source),
      createGunzip(),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          total += chunk.length;
          if (total > maxBytes) throw new PermanentError(`decoding the download passed ${maxBytes} bytes`);
          yield chunk;
        }
      },
      createWriteStream(dest),
    );
    return true;
  } catch (error) {
    await rm(dest, { force: true });
    if (error instanceof PermanentError) throw error;
    return false;
  }
}

async function startsWithGzipMagic(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/**
 * Downloads `url` to `dest` through `dest`.part, resuming an interrupted download with an HTTP Range request
 * (from this call's retries or from an earlier run that left the .part file), restarting from byte 0 when the
 * server ignores Range. With `expectedMd5` the finished file is verified; on a mismatch both files are deleted
 * and an error says so. An existing `dest` whose MD5 already matches is kept without downloading. A server that
 * gzip-encodes the response anyway is coped with: either it only labelled the .tar.gz as gzip-encoded (the bytes
 * are the archive) or it compressed it once more (one layer is taken off); the MD5 (or, without one, whether the
 * result is still gzip) tells which.
 */
export async function downloadWithResume(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const expectedMd5 = options.expectedMd5?.toLowerCase();
  if (expectedMd5 && (await sizeOrZero(dest)) > 0) {
    const md5 = await md5OfFile(dest);
    if (md5 === expectedMd5)
      return { path: dest, bytes: await sizeOrZero(dest), md5, attempts: 0, decodedContentEncoding: false };
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
      // A 4xx, a redirect loop or an oversized file will not get better by retrying.
      if (error instanceof PermanentError) throw error;
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
  let chosen = partPath;
  let decodedContentEncoding = false;
  if (await exists(encodedMarker(partPath))) {
    const decoded = `${partPath}.decoded`;
    const decodes = await gunzipFile(partPath, decoded, options.maxBytes ?? CIFAR10_MAX_ARCHIVE_BYTES);
    const useDecoded =
      decodes &&
      (expectedMd5
        ? (await md5OfFile(partPath)) !== expectedMd5 && (await md5OfFile(decoded)) === expectedMd5
        : await startsWithGzipMagic(decoded));
    if (useDecoded) {
      chosen = decoded;
      decodedContentEncoding = true;
      await rm(partPath, { force: true });
    } else await rm(decoded, { force: true });
    await rm(encodedMarker(partPath), { force: true });
  }
  const md5 = await md5OfFile(chosen);
  if (expectedMd5 && md5 !== expectedMd5) {
    await rm(chosen, { force: true });
    await rm(dest, { force: true });
    throw new Error(
      `MD5 of the download from ${url} is ${md5}, expected ${expectedMd5}: the file is corrupt or the URL serves a different file; it was deleted, run the command again (or check --url)`,
    );
  }
  await rename(chosen, dest);
  return { path: dest, bytes: await sizeOrZero(dest), md5, attempts, decodedContentEncoding };
}

/** Reads a tar header's numeric field: octal digits, padded with spaces, ended by a NUL; anything else is refused. */
function tarNumber(field: Uint8Array, what: string, member: string): number {
  const end = field.indexOf(0);
  const text = new TextDecoder('latin1').decode(end < 0 ? field : field.subarray(0, end)).trim();
  // an empty field is 0 (some writers leave a folder's size blank); anything but octal digits is refused
  if (text === '') return 0;
  if (!/^[0-7]{1,11}$/.test(text)) {
    throw new Error(
      `the tar member ${JSON.stringify(member)} has ${what} field ${JSON.stringify(text)}, not an octal number: the archive is damaged or hostile`,
    );
  }
  return parseInt(text, 8);
}

function tarString(field: Uint8Array): string {
  const end = field.indexOf(0);
  return new TextDecoder('utf-8').decode(end < 0 ? field : field.subarray(0, end));
}

interface TarMember {
  name: string;
  /** '0' (or NUL) regular file, '5' folder, 'L' GNU long name, 'x'/'g' pax headers, others links and devices */
  type: string;
  size: number;
}

/** Parses and checks one 512-byte ustar/GNU header (checksum, octal size); null for an all-zero block. */
function parseTarHeader(block: Uint8Array, index: number): TarMember | null {
  if (block.every((byte) => byte === 0)) return null;
  const rawName = tarString(block.subarray(0, 100));
  const member = rawName || `#${index}`;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  if (tarNumber(block.subarray(148, 156), 'checksum', member) !== sum)
    throw new Error(
      `the tar header of ${JSON.stringify(member)} has a wrong checksum: the archive is damaged`,
    );
  const size = tarNumber(block.subarray(124, 136), 'size', member);
  const type = String.fromCharCode(block[156] || 0x30);
  const magic = tarString(block.subarray(257, 263));
  const prefix = magic.startsWith('ustar') ? tarString(block.subarray(345, 500)) : '';
  return { name: prefix ? `${prefix}/${rawName}` : rawName, type, size };
}

/** The pax extended header's path=, if any ("<len> path=<value>\n" records). */
function paxPath(data: Uint8Array): string | null {
  const text = new TextDecoder('utf-8').decode(data);
  const match = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text);
  return match ? match[1] : null;
}

/** Byte source over an async iterable of chunks: exact reads and skips without buffering more than one chunk. */
class ChunkReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private readonly iterator: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** Calls `sink` with consecutive pieces totalling `length` bytes; returns false if the stream ends first. */
  async take(length: number, sink: (piece: Uint8Array) => void | Promise<void>): Promise<boolean> {
    let left = length;
    while (left > 0) {
      if (this.offset >= this.chunk.length) {
        const next = await this.iterator.next();
        if (next.done) return false;
        this.chunk = next.value;
        this.offset = 0;
        continue;
      }
      const piece = this.chunk.subarray(
        this.offset,
        this.offset + Math.min(left, this.chunk.length - this.offset),
      );
      this.offset += piece.length;
      left -= piece.length;
      await sink(piece);
    }
    return true;
  }

  async read(length: number): Promise<Uint8Array | null> {
    const out = new Uint8Array(length);
    let at = 0;
    const whole = await this.take(length, (piece) => {
      out.set(piece, at);
      at += piece.length;
    });
    return whole ? out : null;
  }
}

/**
 * Unpacks the CIFAR-10 binary archive (cifar-10-batches-bin/data_batch_1..5.bin, test_batch.bin,
 * batches.meta.txt) flat into `outDir`. Streamed: the gzip layer is undone with a running cap
 * (CIFAR10_MAX_TAR_BYTES, after a look at the gzip trailer's declared size) and the tar is read member by member
 * by this function itself, every header checked (checksum, an octal size within what the member can be). Only
 * members of the official folder are taken (`evil/data_batch_1.bin` is skipped), each at most once, and all six
 * batches must be there. Files go to temporary names and are renamed into place only when the whole archive
 * checked out, so a bad archive changes nothing in `outDir`. Returns the names written, sorted.
 */
export async function extractCifarTarball(tgzPath: string, outDir: string): Promise<string[]> {
  const damaged = (why: string) =>
    new Error(`${tgzPath} is not a readable .tar.gz (${why}); delete it and download again`);
  const size = await sizeOrZero(tgzPath);
  if (size < 18) throw damaged(`it is ${size} bytes`);
  const handle = await open(tgzPath, 'r');
  let magic: Buffer;
  let declared: number;
  try {
    magic = (await handle.read(Buffer.alloc(2), 0, 2, 0)).buffer;
    declared = (await handle.read(Buffer.alloc(4), 0, 4, size - 4)).buffer.readUInt32LE(0);
  } finally {
    await handle.close();
  }
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) throw damaged('it does not start with the gzip magic bytes');
  const capNote = `the CIFAR-10 binary tar is about 184.4 MB; ${CIFAR10_MAX_TAR_BYTES.toLocaleString('en-US')} bytes is the most this reads`;
  if (declared > CIFAR10_MAX_TAR_BYTES)
    throw new Error(
      `${tgzPath} says it decompresses to ${declared.toLocaleString('en-US')} bytes (gzip trailer): ${capNote}; it is not the CIFAR-10 archive`,
    );

  let inflated = 0;
  const gunzip = createGunzip();
  const source = createReadStream(tgzPath).pipe(gunzip);
  const capped = Readable.from(
    (async function* () {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        inflated += chunk.length;
        if (inflated > CIFAR10_MAX_TAR_BYTES)
          throw new Error(
            `${tgzPath} decompresses to more than ${inflated.toLocaleString('en-US')} bytes: ${capNote}; it is not the CIFAR-10 archive (or a decompression bomb)`,
          );
        yield chunk;
      }
    })(),
  );
  const reader = new ChunkReader(capped);
  await mkdir(outDir, { recursive: true });
  const written = new Map<string, string>(); // name -> temporary path
  const skipped: string[] = [];
  try {
    let longName: string | null = null;
    for (let index = 0; ; index++) {
      let header: Uint8Array | null;
      try {
        header = await reader.read(512);
      } catch (error) {
        if (/decompresses to more than/.test(String(error))) throw error;
        throw damaged(String(error));
      }
      if (header === null) break; // the stream ended at a member boundary (end blocks missing): accepted
      const member = parseTarHeader(header, index);
      if (member === null) break; // end-of-archive block
      const padded = Math.ceil(member.size / 512) * 512;
      if (member.type === 'L' || member.type === 'x') {
        if (member.size > 64 * 1024) throw damaged(`a ${member.size}-byte long-name header`);
        const data = await reader.read(padded);
        if (data === null) throw damaged('it ends inside a member');
        longName =
          member.type === 'L'
            ? tarString(data.subarray(0, member.size))
            : paxPath(data.subarray(0, member.size));
        continue;
      }
      const name = (longName ?? member.name).replace(/^(\.\/)+/, '');
      longName = null;
      const match = new RegExp(`^${CIFAR10_FOLDER}/([^/]+)$`).exec(name);
      const wanted =
        (member.type === '0' || member.type === '7') && match !== null && CIFAR10_FILES.includes(match[1]);
      if (!wanted) {
        if (/(data_batch_\d+|test_batch)\.bin$/.test(name)) skipped.push(name);
        if (!(await reader.take(padded, () => undefined))) throw damaged('it ends inside a member');
        continue;
      }
      const file = match![1];
      if (written.has(file)) throw damaged(`${name} appears twice`);
      const maxSize = file.endsWith('.bin') ? CIFAR10_BATCH_RECORDS * CIFAR10_RECORD_BYTES : MAX_META_BYTES;
      if (file.endsWith('.bin') && (member.size === 0 || member.size % CIFAR10_RECORD_BYTES !== 0)) {
        throw new Error(
          `${name} in ${tgzPath} is ${member.size} bytes, not a multiple of ${CIFAR10_RECORD_BYTES}: the archive is corrupt; delete it and download again`,
        );
      }
      if (member.size > maxSize)
        throw damaged(`${name} is ${member.size} bytes, more than the ${maxSize} such a file is`);
      const tmp = join(outDir, `${file}.tmp`);
      written.set(file, tmp);
      const out = await open(tmp, 'w');
      try {
        let left = member.size;
        const whole = await reader.take(padded, async (piece) => {
          const useful = piece.subarray(0, Math.max(0, Math.min(piece.length, left)));
          left -= useful.length;
          if (useful.length > 0) await out.write(useful);
        });
        if (!whole) throw damaged(`it ends inside ${name}`);
        await out.sync();
      } finally {
        await out.close();
      }
    }
    const missing = CIFAR10_BATCHES.filter((file) => !written.has(file));
    if (missing.length === CIFAR10_BATCHES.length) {
      throw new Error(
        `${tgzPath} holds no data_batch_N.bin / test_batch.bin in ${CIFAR10_FOLDER}/: it is not the CIFAR-10 binary version (the file is ${CIFAR10_ARCHIVE}, not the python or matlab one)` +
          (skipped.length ? `; skipped ${skipped.join(', ')} (outside ${CIFAR10_FOLDER}/)` : ''),
      );
    }
    if (missing.length > 0) {
      throw new Error(
        `${tgzPath} lacks ${missing.join(', ')}: CIFAR-10 needs all of ${CIFAR10_BATCHES.join(', ')} in ${CIFAR10_FOLDER}/; ` +
          `the download is incomplete or not the official archive, so nothing was extracted` +
          (skipped.length ? ` (skipped ${skipped.join(', ')}: outside ${CIFAR10_FOLDER}/)` : ''),
      );
    }
    const names = [...written.keys()].sort();
    for (const [file, tmp] of written) await rename(tmp, join(outDir, file));
    written.clear();
    return names;
  } finally {
    gunzip.destroy();
    await Promise.all([...written.values()].map((tmp) => rm(tmp, { force: true })));
  }
}

/** The command's options: parseArgs reads them and --help prints them, from this one table. */
const OPTIONS = {
  out: {
    type: 'string',
    value: 'DIR',
    help: 'folder for the dataset files (default public/datasets/<dataset>)',
  },
  url: { type: 'string', value: 'URL', help: `archive to download (default ${CIFAR10_URL})` },
  md5: {
    type: 'string',
    value: 'HEX',
    help: `expected MD5 of the archive, 32 hex digits (default ${CIFAR10_MD5})`,
  },
  'no-verify': {
    type: 'boolean',
    help: 'do not check the MD5 (for a mirror serving another build of the archive; the extraction checks still run)',
  },
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
  const noVerify = values['no-verify'] === true;
  if (noVerify && values.md5 !== undefined) {
    output.error('--md5 and --no-verify contradict each other: give one of them');
    return 2;
  }
  if (values.md5 !== undefined && !/^[0-9a-fA-F]{32}$/.test(values.md5)) {
    output.error(
      `--md5 ${JSON.stringify(values.md5)} is not an MD5 (32 hex digits, e.g. ${CIFAR10_MD5}); to skip the check pass --no-verify instead`,
    );
    return 2;
  }
  const expectedMd5 = noVerify ? undefined : (values.md5 ?? CIFAR10_MD5).toLowerCase();
  await mkdir(outDir, { recursive: true });
  const archive = join(outDir, CIFAR10_ARCHIVE);
  const url = values.url ?? CIFAR10_URL;
  const bar = progressBar(showProgress);
  try {
    output.log(`downloading ${url}`);
    const result = await downloadWithResume(url, archive, {
      expectedMd5,
      onProgress: bar.update,
      onRetry: ({ attempt, error, resumeFrom }) =>
        output.error(`\nattempt ${attempt} broke off (${String(error)}); resuming from byte ${resumeFrom}`),
    });
    bar.stop();
    if (result.decodedContentEncoding)
      output.log('the server gzip-encoded the archive although asked not to; that layer was taken off');
    output.log(
      expectedMd5
        ? `MD5 ${result.md5} ok (${(result.bytes / 1e6).toFixed(1)} MB); extracting to ${outDir}`
        : `MD5 not checked (--no-verify; the archive's is ${result.md5}, ${(result.bytes / 1e6).toFixed(1)} MB); extracting to ${outDir}`,
    );
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
