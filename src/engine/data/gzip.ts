import { Gunzip } from 'fflate';

/**
 * Gzip decompression with a cap on the output, for files from outside (downloads, dropped files): a small
 * "gzip bomb" must not make the page or process allocate gigabytes. Two guards: the gzip trailer's ISIZE
 * (uncompressed size mod 2^32) is read first, so an honest file over the cap is refused before anything is
 * inflated; then the stream is inflated in small input slices with a running byte count, so a file whose
 * trailer lies stops within one slice's worth of output (deflate expands at most ~1032:1, 4 MiB per slice).
 */

const SLICE_BYTES = 4096;

/** Thrown when the output would pass the cap (tells "too large" apart from "damaged"). */
export class DecompressedSizeError extends Error {}

/** The gzip trailer's ISIZE: the last member's uncompressed size mod 2^32 (null for a file too short to have one). */
export function gzipDeclaredSize(bytes: Uint8Array): number | null {
  if (bytes.length < 18) return null;
  const n = bytes.length;
  return (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0;
}

/**
 * Inflates `bytes` (gzip, one or more members) and returns the output; throws DecompressedSizeError when the
 * output is, or claims to be, over `maxBytes`, and a plain Error when the data is not valid gzip or is truncated.
 * `what` names the input and `limitNote` says why the limit is what it is, in the error messages.
 */
export function gunzipCapped(
  bytes: Uint8Array,
  maxBytes: number,
  what: string,
  limitNote: string,
): Uint8Array {
  const tooLarge = (size: string) =>
    new DecompressedSizeError(
      `${what} decompresses to ${size}, more than the ${maxBytes.toLocaleString('en-US')} bytes allowed ` +
        `(${limitNote}); it is not a file this app reads, or it is a decompression bomb: use the original file`,
    );
  const declared = gzipDeclaredSize(bytes);
  const inflate = (keep: boolean) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let ended = false;
    const stream = new Gunzip((chunk, final) => {
      total += chunk.length;
      if (total > maxBytes) {
        throw tooLarge(
          keep
            ? `more than ${total.toLocaleString('en-US')} bytes`
            : `${declared!.toLocaleString('en-US')} bytes (its gzip trailer says)`,
        );
      }
      if (keep) chunks.push(chunk);
      if (final) ended = true;
    });
    try {
      for (let start = 0; start < bytes.length; start += SLICE_BYTES) {
        const end = Math.min(bytes.length, start + SLICE_BYTES);
        stream.push(bytes.subarray(start, end), end === bytes.length);
      }
    } catch (error) {
      if (error instanceof DecompressedSizeError) throw error;
      if (/unexpected EOF/i.test(String(error)))
        throw new Error(`${what} starts like gzip but ends early: the file is truncated`, { cause: error });
      throw new Error(
        `${what} starts like gzip but does not decompress (${String(error)}): the file is damaged`,
        {
          cause: error,
        },
      );
    }
    if (!ended) throw new Error(`${what} starts like gzip but ends early: the file is truncated`);
    return { chunks, total };
  };
  // An honest trailer over the cap is refused without keeping any output. A truncated file's "trailer" is
  // arbitrary bytes, so the stream is counted (output dropped) first to tell the two apart.
  if (declared !== null && declared > maxBytes) inflate(false);
  const { chunks, total } = inflate(true);
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
