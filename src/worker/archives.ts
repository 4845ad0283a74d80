import { Gunzip, Inflate } from 'fflate';

/**
 * Decompression and archive reading with stated limits, for everything a user or a link hands the app: the
 * output is counted while it is produced (a streaming inflate fed in small slices), so a small "bomb" stops at
 * the limit instead of filling memory, and archive directories are checked before anything is inflated.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Thrown when an input would decompress past its limit; the message names the input and the limit. */
export class SizeLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SizeLimitError';
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= MiB) return `${Number((bytes / MiB).toFixed(1))} MiB`;
  if (bytes >= KiB) return `${Number((bytes / KiB).toFixed(1))} KiB`;
  return `${bytes} bytes`;
}

/** Input is pushed in slices of this size: one slice inflates to at most ~1032x its size before the count is checked. */
const SLICE = 16 * KiB;

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/**
 * Inflates raw deflate ('deflate') or gzip ('gzip') data, stopping with a SizeLimitError as soon as the output
 * passes `limit` bytes. `what` names the input in messages ("the shared link", "cifar-10-binary.tar.gz").
 */
export function inflateCapped(
  bytes: Uint8Array,
  options: { format: 'deflate' | 'gzip'; limit: number; what: string; slice?: number },
): Uint8Array {
  const { format, limit, what } = options;
  const slice = options.slice ?? SLICE;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let ended = false;
  const stream = format === 'gzip' ? new Gunzip() : new Inflate();
  stream.ondata = (chunk: Uint8Array, final: boolean) => {
    total += chunk.length;
    if (total > limit)
      throw new SizeLimitError(
        `${what} decompresses to more than ${formatBytes(limit)}, the most this app accepts for it; it is damaged or not what the app expects`,
      );
    if (chunk.length > 0) chunks.push(chunk);
    if (final) ended = true;
  };
  for (let offset = 0; offset < bytes.length; offset += slice) {
    const end = Math.min(bytes.length, offset + slice);
    stream.push(bytes.subarray(offset, end), end === bytes.length);
  }
  if (bytes.length === 0) stream.push(new Uint8Array(0), true);
  if (!ended) throw new Error(`${what} ends before its compressed data does (it is truncated)`);
  return concat(chunks, total);
}

/** One member of a tar archive: a view into the archive's bytes (nothing is copied). */
export interface TarMember {
  name: string;
  bytes: Uint8Array;
}

const BLOCK = 512;

function text(bytes: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(start, end));
}

/** A header's octal number field; null when it is not one (GNU base-256 sizes are refused: no legitimate member needs them). */
function octal(bytes: Uint8Array, start: number, length: number): number | null {
  const field = text(bytes, start, length).trim();
  if (!/^[0-7]{1,12}$/.test(field)) return null;
  return parseInt(field, 8);
}

function checksumOk(block: Uint8Array): boolean {
  const stored = octal(block, 148, 8);
  if (stored === null) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === stored;
}

/**
 * Reads the regular files of a tar archive (ustar, pax and GNU long names). Every header is validated (checksum,
 * octal size that fits in what is left of the archive) before its data is touched, so a bogus size is an error,
 * never a loop or an allocation; at most `maxMembers` entries are read.
 */
export function readTar(bytes: Uint8Array, options: { what: string; maxMembers?: number }): TarMember[] {
  const { what } = options;
  const maxMembers = options.maxMembers ?? 10_000;
  const members: TarMember[] = [];
  let offset = 0;
  let entries = 0;
  let longName: string | null = null;
  while (offset + BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break; // end-of-archive marker
    if (!checksumOk(header))
      throw new Error(`${what} is not a tar archive, or is damaged (bad header checksum at byte ${offset})`);
    entries += 1;
    if (entries > maxMembers)
      throw new SizeLimitError(`${what} has more than ${maxMembers} entries, the most this app reads`);
    const size = octal(header, 124, 12);
    const dataStart = offset + BLOCK;
    if (size === null || size > bytes.length - dataStart)
      throw new Error(
        `${what} is damaged: an entry at byte ${offset} declares ${size === null ? 'an unreadable' : `a ${formatBytes(size)}`} size, more than the ${formatBytes(Math.max(0, bytes.length - dataStart))} left in the archive`,
      );
    const data = bytes.subarray(dataStart, dataStart + size);
    const type = String.fromCharCode(header[156] || 0x30);
    const magic = text(header, 257, 6);
    const prefix = magic.startsWith('ustar') ? text(header, 345, 155) : '';
    const baseName = text(header, 0, 100);
    const name = longName ?? (prefix ? `${prefix}/${baseName}` : baseName);
    if (type === 'L') {
      longName = text(data, 0, Math.min(size, 4096));
    } else if (type === 'x') {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(text(data, 0, Math.min(size, 65_536)));
      longName = path ? path[1] : null;
    } else {
      if (type === '0' || type === '7') members.push({ name, bytes: data });
      longName = null;
    }
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
  return members;
}

const u16 = (bytes: Uint8Array, at: number) => bytes[at] | (bytes[at + 1] << 8);
const u32 = (bytes: Uint8Array, at: number) =>
  (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;

/**
 * The members of a zip archive, inflated. The central directory is read and checked first: at most
 * `maxMembers` entries, each declaring no more than `memberLimit` bytes and all together no more than
 * `totalLimit`; then each member is inflated with its declared size as a running limit (a member that
 * inflates past its declaration stops there and is refused).
 */
export function unzipCapped(
  bytes: Uint8Array,
  options: { what: string; maxMembers: number; memberLimit: number; totalLimit: number },
): Record<string, Uint8Array> {
  const { what, maxMembers, memberLimit, totalLimit } = options;
  const damaged = (why: string) => new Error(`${what} is not a valid zip file (${why})`);
  // end of central directory: 22 bytes plus a comment of up to 65535 bytes at the end of the file
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65_535); at--) {
    if (u32(bytes, at) === 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw damaged('no zip directory at its end');
  const count = u16(bytes, eocd + 10);
  let cursor = u32(bytes, eocd + 16);
  if (count === 0xffff || cursor === 0xffffffff)
    throw new SizeLimitError(`${what} is a zip64 archive; no file this app reads needs one`);
  if (count > maxMembers)
    throw new SizeLimitError(
      `${what} has ${count} files, more than the ${maxMembers} this app reads from it`,
    );
  const entries: { name: string; method: number; compressed: number; size: number; local: number }[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    if (cursor + 46 > bytes.length || u32(bytes, cursor) !== 0x02014b50) throw damaged('damaged directory');
    const nameLength = u16(bytes, cursor + 28);
    const entry = {
      method: u16(bytes, cursor + 10),
      compressed: u32(bytes, cursor + 20),
      size: u32(bytes, cursor + 24),
      local: u32(bytes, cursor + 42),
      name: new TextDecoder().decode(bytes.subarray(cursor + 46, cursor + 46 + nameLength)),
    };
    cursor += 46 + nameLength + u16(bytes, cursor + 30) + u16(bytes, cursor + 32);
    if (entry.size > memberLimit)
      throw new SizeLimitError(
        `${what}: ${entry.name} unpacks to ${formatBytes(entry.size)}, more than the ${formatBytes(memberLimit)} this app accepts`,
      );
    total += entry.size;
    if (total > totalLimit)
      throw new SizeLimitError(
        `${what} unpacks to more than ${formatBytes(totalLimit)}, the most this app accepts`,
      );
    entries.push(entry);
  }
  const files: Record<string, Uint8Array> = {};
  for (const entry of entries) {
    if (entry.name.endsWith('/')) continue; // a folder
    const local = entry.local;
    if (local + 30 > bytes.length || u32(bytes, local) !== 0x04034b50)
      throw damaged(`damaged entry ${entry.name}`);
    const start = local + 30 + u16(bytes, local + 26) + u16(bytes, local + 28);
    if (start + entry.compressed > bytes.length) throw damaged(`${entry.name} is cut short`);
    const data = bytes.subarray(start, start + entry.compressed);
    let out: Uint8Array;
    if (entry.method === 0) out = data.slice();
    else if (entry.method === 8)
      out = inflateCapped(data, { format: 'deflate', limit: entry.size, what: `${what}: ${entry.name}` });
    else
      throw damaged(
        `${entry.name} uses compression method ${entry.method}; only stored and deflate are read`,
      );
    if (out.length !== entry.size)
      throw damaged(
        `${entry.name} unpacks to ${out.length} bytes, not the ${entry.size} its directory declares`,
      );
    files[entry.name] = out;
  }
  return files;
}
