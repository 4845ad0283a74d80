/**
 * Safetensors (https://github.com/huggingface/safetensors) writer and reader, F32 and I32 only.
 *
 * Layout: [u64 little-endian N][N bytes of UTF-8 JSON header, space-padded to a multiple of 8][raw bytes].
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets into the raw bytes,
 * which follow the header immediately) plus an optional "__metadata__": {string: string}. Tensors are
 * little-endian, row-major, and together cover the raw bytes exactly, without gaps or overlaps.
 */

export type SafetensorsDtype = 'F32' | 'I32';

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  /** In file order (ascending data offsets). */
  tensors: SafetensorsTensor[];
  metadata: Record<string, string>;
}

const METADATA_KEY = '__metadata__';
const BYTES_PER_ELEMENT: Record<SafetensorsDtype, number> = { F32: 4, I32: 4 };
/** Valid safetensors dtypes this module does not read, to tell "unsupported" apart from "corrupt". */
const OTHER_SAFETENSORS_DTYPES = [
  'F64',
  'F16',
  'BF16',
  'I64',
  'I16',
  'I8',
  'U64',
  'U32',
  'U16',
  'U8',
  'BOOL',
  'F8_E4M3',
  'F8_E5M2',
];
/** The reference implementation refuses headers above 100 MB; so do we, before allocating anything. */
const MAX_HEADER_BYTES = 100_000_000;
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function elementCount(shape: number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

function isDimension(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function dtypeOf(data: Float32Array | Int32Array): SafetensorsDtype {
  return data instanceof Float32Array ? 'F32' : 'I32';
}

/**
 * Serialises tensors (in the given order) and string metadata to safetensors bytes.
 * Throws if a name repeats or is "__metadata__", a shape is not a list of non-negative integers, the data length
 * differs from the shape's element count, the data's array type differs from the dtype, or metadata is not
 * string-valued.
 */
export function writeSafetensors(
  tensors: SafetensorsTensor[],
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  const seen = new Set<string>();
  let offset = 0;
  for (const tensor of tensors) {
    const { name, dtype, shape, data } = tensor;
    if (name === METADATA_KEY)
      throw new Error(`safetensors: "${METADATA_KEY}" is reserved; rename that tensor`);
    if (seen.has(name))
      throw new Error(`safetensors: tensor name "${name}" appears twice; names must be unique`);
    seen.add(name);
    if (!Array.isArray(shape) || !shape.every(isDimension)) {
      throw new Error(
        `safetensors: tensor "${name}" has shape ${JSON.stringify(shape)}; expected non-negative integers`,
      );
    }
    if (BYTES_PER_ELEMENT[dtype] === undefined) {
      throw new Error(
        `safetensors: tensor "${name}" has dtype ${String(dtype)}; this writer supports F32 and I32`,
      );
    }
    if (dtypeOf(data) !== dtype) {
      throw new Error(
        `safetensors: tensor "${name}" says ${dtype} but its data is a ${data.constructor.name}`,
      );
    }
    if (data.length !== elementCount(shape)) {
      throw new Error(
        `safetensors: tensor "${name}" has ${data.length} values but shape [${shape.join(',')}] needs ${elementCount(shape)}`,
      );
    }
    const byteLength = data.length * BYTES_PER_ELEMENT[dtype];
    header[name] = { dtype, shape, data_offsets: [offset, offset + byteLength] };
    offset += byteLength;
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new Error(
        `safetensors: metadata "${key}" is a ${typeof value}; metadata values must be strings (JSON.stringify it)`,
      );
    }
  }
  // Metadata first, like the reference writer; readers must not depend on key order anyway.
  const json = JSON.stringify(
    Object.keys(metadata).length > 0 ? { [METADATA_KEY]: metadata, ...header } : header,
  );
  const jsonBytes = new TextEncoder().encode(json);
  const headerLength = Math.ceil(jsonBytes.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(jsonBytes, 8);
  out.fill(0x20, 8 + jsonBytes.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const { data } of tensors) {
    if (HOST_IS_LITTLE_ENDIAN) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    } else {
      for (let i = 0; i < data.length; i++) {
        if (data instanceof Float32Array) view.setFloat32(position + 4 * i, data[i], true);
        else view.setInt32(position + 4 * i, data[i], true);
      }
    }
    position += data.byteLength;
  }
  return out;
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, value: unknown): HeaderEntry {
  const where = `safetensors: tensor "${name}"`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(
      `${where} has header entry ${JSON.stringify(value)}; expected {dtype, shape, data_offsets}`,
    );
  }
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (dtype !== 'F32' && dtype !== 'I32') {
    if (typeof dtype === 'string' && OTHER_SAFETENSORS_DTYPES.includes(dtype)) {
      throw new Error(
        `${where} is ${dtype}; this reader supports F32 and I32 only (convert the file to float32)`,
      );
    }
    throw new Error(`${where} has unknown dtype ${JSON.stringify(dtype)}; expected "F32" or "I32"`);
  }
  if (!Array.isArray(shape) || !shape.every(isDimension)) {
    throw new Error(`${where} has shape ${JSON.stringify(shape)}; expected a list of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every(isDimension) ||
    offsets[0] > offsets[1]
  ) {
    throw new Error(
      `${where} has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] with 0 <= begin <= end`,
    );
  }
  const [begin, end] = offsets as [number, number];
  const expectedBytes = elementCount(shape) * BYTES_PER_ELEMENT[dtype];
  if (end - begin !== expectedBytes) {
    throw new Error(
      `${where}: shape [${shape.join(',')}] of ${dtype} needs ${expectedBytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype, shape, begin, end };
}

/**
 * Parses and validates safetensors bytes: header length within the file, header valid JSON object starting with
 * '{', every dtype F32/I32, every shape's byte size equal to its offsets' span, offsets contiguous from 0 and
 * ending exactly at the end of the file, and metadata string-valued. Throws an Error naming the problem.
 */
export function readSafetensors(input: Uint8Array | ArrayBuffer): SafetensorsFile {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length < 8) {
    throw new Error(`safetensors: file is ${bytes.length} bytes; it needs at least the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declaredHeaderLength = view.getBigUint64(0, true);
  if (declaredHeaderLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw new Error(
      `safetensors: header length ${declaredHeaderLength} exceeds the ${bytes.length - 8} bytes after it ` +
        `(or the 100 MB limit); the file is truncated or not safetensors`,
    );
  }
  const headerLength = Number(declaredHeaderLength);
  const headerText = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(8, 8 + headerLength));
  if (!headerText.startsWith('{')) {
    throw new Error('safetensors: header does not start with "{"; the file is not safetensors');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (error) {
    throw new Error(`safetensors: header is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new Error('safetensors: header must be a JSON object');
  }

  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new Error(`safetensors: "${METADATA_KEY}" must be an object of strings`);
      }
      for (const [key, entry] of Object.entries(value)) {
        if (typeof entry !== 'string') throw new Error(`safetensors: metadata "${key}" is not a string`);
      }
      metadata = value as Record<string, string>;
    } else {
      entries.push(parseEntry(name, value));
    }
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  for (const entry of entries) {
    if (entry.begin !== expectedBegin) {
      throw new Error(
        `safetensors: tensor "${entry.name}" starts at byte ${entry.begin} but the previous data ends at ${expectedBegin}; ` +
          `tensor data must be contiguous without gaps or overlaps`,
      );
    }
    expectedBegin = entry.end;
  }
  if (expectedBegin !== dataLength) {
    throw new Error(
      `safetensors: the tensors cover ${expectedBegin} bytes but ${dataLength} bytes follow the header; ` +
        `the file is truncated or has trailing data`,
    );
  }

  const tensors = entries.map(({ name, dtype, shape, begin, end }): SafetensorsTensor => {
    // Copy: the result must not alias `input`, and typed arrays need 4-byte-aligned offsets.
    const raw = bytes.slice(dataStart + begin, dataStart + end);
    let data: Float32Array | Int32Array =
      dtype === 'F32' ? new Float32Array(raw.buffer) : new Int32Array(raw.buffer);
    if (!HOST_IS_LITTLE_ENDIAN) {
      const rawView = new DataView(raw.buffer);
      const count = raw.length / 4;
      data = dtype === 'F32' ? new Float32Array(count) : new Int32Array(count);
      for (let i = 0; i < count; i++)
        data[i] = dtype === 'F32' ? rawView.getFloat32(4 * i, true) : rawView.getInt32(4 * i, true);
    }
    return { name, dtype, shape, data };
  });
  return { tensors, metadata };
}
