/**
 * A small WebAssembly assembler: just what the project's SIMD kernels need (i32 arithmetic, structured control
 * flow, f32 and v128 loads/stores, f32x4 arithmetic) and a module that imports its memory. The kernels are written
 * in TypeScript against this builder and assembled when first used, so the project ships no binary blobs and
 * needs no C toolchain. Encodings follow the WebAssembly core specification (binary format, with the fixed-width
 * SIMD proposal merged in 2.0).
 */

/** Value types (binary encodings). */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValueType = typeof I32 | typeof F32 | typeof V128;

/** Unsigned LEB128. */
export function uleb(value: number): number[] {
  if (!Number.isInteger(value) || value < 0) throw new Error(`uleb: ${value} is not a non-negative integer`);
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(value: number): number[] {
  if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) {
    throw new Error(`sleb: ${value} is not a 32-bit integer`);
  }
  const out: number[] = [];
  let v = value;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function utf8(name: string): number[] {
  const bytes = Array.from(new TextEncoder().encode(name));
  return [...uleb(bytes.length), ...bytes];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** An i32 operand: a constant, or the value of a local ({ local: index }). */
export type Operand = number | { local: number };

/** The local `index` as an operand. */
export function L(index: number): Operand {
  return { local: index };
}

/** Opcodes without immediates that the kernels use. */
const PLAIN = {
  'i32.eqz': [0x45],
  'i32.eq': [0x46],
  'i32.ne': [0x47],
  'i32.lt_s': [0x48],
  'i32.lt_u': [0x49],
  'i32.ge_s': [0x4e],
  'i32.and': [0x71],
  'i32.add': [0x6a],
  'i32.sub': [0x6b],
  'i32.mul': [0x6c],
  'i32.div_u': [0x6e],
  'i32.shl': [0x74],
  'i32.gt_s': [0x4a],
  select: [0x1b],
  'f32.sqrt': [0x91],
  'f32.add': [0x92],
  'f32.sub': [0x93],
  'f32.mul': [0x94],
  'f32.div': [0x95],
  drop: [0x1a],
  /** memory.copy(destination, source, bytes) and memory.fill(destination, byte value, bytes): bulk memory. */
  'memory.copy': [0xfc, 0x0a, 0x00, 0x00],
  'memory.fill': [0xfc, 0x0b, 0x00],
  'f32x4.splat': [0xfd, 0x13],
  'f32x4.ne': [0xfd, 0x42],
  'f32x4.gt': [0xfd, 0x44],
  'v128.and': [0xfd, 0x4e],
  'v128.or': [0xfd, 0x50],
  'f32x4.neg': [0xfd, 0xe1, 0x01],
  'f32x4.add': [0xfd, 0xe4, 0x01],
  'f32x4.sub': [0xfd, 0xe5, 0x01],
  'f32x4.mul': [0xfd, 0xe6, 0x01],
  'f32x4.div': [0xfd, 0xe7, 0x01],
  'f32x4.sqrt': [0xfd, 0xe3, 0x01],
  'f32x4.max': [0xfd, 0xe9, 0x01],
} as const;
export type PlainOp = keyof typeof PLAIN;

/** One function's body, written as a sequence of instructions (a stack machine, as in the text format). */
export class FunctionBuilder {
  private readonly code: number[] = [];
  private readonly localTypes: ValueType[] = [];
  /** Open blocks/loops, for checking that every one is closed. */
  private depth = 0;

  constructor(readonly params: ValueType[]) {}

  /** A new local of `type`; returns its index. */
  local(type: ValueType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  op(...names: PlainOp[]): this {
    for (const name of names) this.code.push(...PLAIN[name]);
    return this;
  }

  get(index: number): this {
    this.code.push(0x20, ...uleb(index));
    return this;
  }

  set(index: number): this {
    this.code.push(0x21, ...uleb(index));
    return this;
  }

  tee(index: number): this {
    this.code.push(0x22, ...uleb(index));
    return this;
  }

  i32(value: number): this {
    this.code.push(0x41, ...sleb(value));
    return this;
  }

  f32(value: number): this {
    this.code.push(0x43, ...new Uint8Array(new Float32Array([value]).buffer));
    return this;
  }

  /** Loads at [address on the stack + offset] (offset in bytes, a constant). */
  i32Load(offset = 0): this {
    this.code.push(0x28, 2, ...uleb(offset));
    return this;
  }

  /** Stores the i32 on top of the stack at [address below it + offset]. */
  i32Store(offset = 0): this {
    this.code.push(0x36, 2, ...uleb(offset));
    return this;
  }

  f32Load(offset = 0): this {
    this.code.push(0x2a, 2, ...uleb(offset));
    return this;
  }

  f32Store(offset = 0): this {
    this.code.push(0x38, 2, ...uleb(offset));
    return this;
  }

  v128Load(offset = 0): this {
    this.code.push(0xfd, 0x00, 4, ...uleb(offset));
    return this;
  }

  v128Store(offset = 0): this {
    this.code.push(0xfd, 0x0b, 4, ...uleb(offset));
    return this;
  }

  /** One f32 loaded into all four lanes. */
  load32Splat(offset = 0): this {
    this.code.push(0xfd, 0x09, 2, ...uleb(offset));
    return this;
  }

  /** A block (branch 0 inside it jumps to its end). */
  block(body: () => void): this {
    this.code.push(0x02, 0x40);
    this.nested(body);
    return this;
  }

  /** A loop (branch 0 inside it jumps back to its start). */
  loop(body: () => void): this {
    this.code.push(0x03, 0x40);
    this.nested(body);
    return this;
  }

  /** Pops an i32; runs `body` when it is non-zero. */
  if(body: () => void): this {
    this.code.push(0x04, 0x40);
    this.nested(body);
    return this;
  }

  /** Calls the module's function `index` (its position in the module's function list) with the arguments on the stack. */
  call(index: number): this {
    this.code.push(0x10, ...uleb(index));
    return this;
  }

  br(depth: number): this {
    this.code.push(0x0c, ...uleb(depth));
    return this;
  }

  brIf(depth: number): this {
    this.code.push(0x0d, ...uleb(depth));
    return this;
  }

  /** Pushes an operand: an i32 constant, or a local's value. */
  push(operand: Operand): this {
    return typeof operand === 'number' ? this.i32(operand) : this.get(operand.local);
  }

  /**
   * for (i = from; i < to; i += step) body, on i32s: `to` and `step` are read once, before the first iteration
   * (into fresh locals). Runs zero times when from >= to.
   */
  forRange(i: number, from: Operand, to: Operand, step: Operand, body: () => void): this {
    const end = this.local(I32);
    const inc = this.local(I32);
    this.push(from).set(i).push(to).set(end).push(step).set(inc);
    this.block(() => {
      this.get(i).get(end).op('i32.ge_s').brIf(0);
      this.loop(() => {
        body();
        this.get(i).get(inc).op('i32.add').tee(i).get(end).op('i32.lt_s').brIf(0);
      });
    });
    return this;
  }

  private nested(body: () => void): void {
    this.depth++;
    body();
    this.depth--;
    this.code.push(0x0b);
  }

  /** The function's entry in the code section. */
  encode(): number[] {
    if (this.depth !== 0) throw new Error('FunctionBuilder: a block is still open');
    const runs: number[][] = [];
    for (const type of this.localTypes) {
      const last = runs[runs.length - 1];
      if (last != null && last[1] === type) last[0]++;
      else runs.push([1, type]);
    }
    const body = [...vector(runs.map(([count, type]) => [...uleb(count), type])), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

export interface ModuleFunction {
  name: string;
  fn: FunctionBuilder;
}

/**
 * A module that imports its linear memory as env.memory (shared when the importer's memory is: a threaded
 * Emscripten build) and exports `functions` (all of them return nothing).
 */
export function assembleModule(
  functions: ModuleFunction[],
  memory: { shared: boolean },
): Uint8Array<ArrayBuffer> {
  // one function type per distinct parameter list
  const signatures: string[] = [];
  const typeIndex = functions.map(({ fn }) => {
    const key = fn.params.join(',');
    if (!signatures.includes(key)) signatures.push(key);
    return signatures.indexOf(key);
  });
  const types = signatures.map((key) => {
    const params = key === '' ? [] : key.split(',').map(Number);
    return [0x60, ...vector(params.map((p) => [p])), 0x00];
  });
  // memory limits: min 0 pages; a shared memory must state a maximum (65536 pages = 4 GiB, any actual one fits)
  const limits = memory.shared ? [0x03, 0, ...uleb(65536)] : [0x00, 0];
  const imports = [[...utf8('env'), ...utf8('memory'), 0x02, ...limits]];
  const exports = functions.map(({ name }, i) => [...utf8(name), 0x00, ...uleb(i)]);
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vector(types)),
    ...section(2, vector(imports)),
    ...section(3, vector(typeIndex.map((t) => uleb(t)))),
    ...section(7, vector(exports)),
    ...section(10, vector(functions.map(({ fn }) => fn.encode()))),
  ];
  return new Uint8Array(bytes);
}
