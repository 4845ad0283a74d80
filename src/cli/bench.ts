// Node-only: `npm run bench -- [options]` times the training step and friends on every backend (see --help).
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../engine/backend';
import {
  MAX_WASM_THREADS,
  defaultWasmThreads,
  installNodeWasmThreads,
  wasmThreadsInUse,
} from '../kernels/wasm/node';
import { installKernels } from '../kernels/install';
import {
  WORKLOAD_IDS,
  WORKLOADS,
  projectCodeRuns,
  runWorkload,
  type WorkloadId,
  type WorkloadResult,
  type WorkloadSize,
} from './bench_workloads';
import type { BrowserBenchReply, BrowserBenchRequest } from './bench_browser_protocol';

/** The option table: parseArgs reads it and --help prints it, so the two never disagree. */
export const BENCH_OPTIONS = {
  quick: {
    type: 'boolean',
    short: 'q',
    help: 'CI-sized: small batches, one or two timed steps (see the sizes below)',
  },
  backend: {
    type: 'string',
    short: 'b',
    value: 'LIST',
    help: 'comma list of wasm, cpu, webgpu (Node, Dawn), browser (webgpu in Chromium via Playwright), or all; default wasm',
  },
  workload: {
    type: 'string',
    short: 'w',
    value: 'LIST',
    help: `comma list of ${WORKLOAD_IDS.join(', ')}; default all`,
  },
  kernels: {
    type: 'string',
    short: 'k',
    value: 'WHICH',
    help: 'stock, project or both (default both, with the ratio). webgpu: project = the WGSL kernels + lean BatchNorm gradient; wasm: conv input gradient via XNNPACK + the gradient; cpu: the gradient',
  },
  steps: {
    type: 'string',
    short: 's',
    value: 'N',
    help: 'timed iterations per repeat (default per workload)',
  },
  repeats: {
    type: 'string',
    short: 'r',
    value: 'N',
    help: 'timed repeats; the median is reported (default per workload)',
  },
  warmup: { type: 'string', value: 'N', help: 'untimed iterations first (default per workload)' },
  batch: { type: 'string', value: 'N', help: 'override the batch (W1-W3) or the number of embeddings (W4)' },
  threads: {
    type: 'string',
    short: 't',
    value: 'N',
    help: `wasm threads (tfjs-backend-wasm's threaded build; default half the logical cores as tfjs sizes it, 1 to ${MAX_WASM_THREADS}; 1 = the single-threaded build)`,
  },
  profile: {
    type: 'boolean',
    short: 'p',
    help: 'also print the top kernels by time of one profiled iteration',
  },
  json: {
    type: 'string',
    short: 'j',
    value: 'FILE',
    help: 'also write every result (and the machine) as JSON',
  },
  chromium: {
    type: 'string',
    value: 'PATH',
    help: 'Chromium for --backend browser (default $CHROMIUM_PATH or /usr/bin/chromium)',
  },
  flags: {
    type: 'string',
    value: 'K=V,...',
    help: 'Node backends: tfjs environment flags to set once the backend has started, e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64 (true/false and numbers are parsed)',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

const BACKENDS = ['wasm', 'cpu', 'webgpu', 'browser'] as const;
type BenchBackend = (typeof BACKENDS)[number];
type KernelChoice = 'stock' | 'project';

export function benchHelp(): string {
  const lines = Object.entries(BENCH_OPTIONS).map(([name, o]) => {
    const flag = `${'short' in o ? `-${o.short}, ` : '    '}--${name}${'value' in o ? ` ${o.value}` : ''}`;
    return `  ${flag.padEnd(24)} ${o.help}`;
  });
  const sizes = WORKLOAD_IDS.map((id) => {
    const w = WORKLOADS[id];
    const size = (s: WorkloadSize) => `batch ${s.batch}, ${s.warmup} warm-up + ${s.repeats} x ${s.steps}`;
    return `  ${id}  ${w.description}\n      full: ${size(w.full)}; --quick: ${size(w.quick)}`;
  });
  return [
    'Usage: npm run bench -- [options]',
    '',
    'Times training steps (forward + loss + backward + optimizer, through the Trainer) and the loss and eval',
    'passes alone, after warm-up, as the median of several timed repeats; prints throughput and peak memory',
    'per workload and backend. On webgpu it times the stock TF.js kernels and the project kernels in the',
    'same process and reports the ratio.',
    '',
    'Options:',
    ...lines,
    '',
    'Workloads:',
    ...sizes,
    '',
    'Notes: tfjs keeps every activation of the step for the backward pass. Peaks measured on wasm (2 views):',
    'W2 ~10 MB an image with the project kernels (2.6 GB at batch 256), ~18 MB with the stock ones; W1 ~45 MB.',
    'The wasm heap stops at 4 GB: W2 at batch 256 fits with the project kernels only (stock: --batch 64), W1',
    'up to --batch 64. Dawn and Chromium without a GPU',
    'run WebGPU on SwiftShader (the CPU), ~1000x slower than a GPU: there --quick takes tens of minutes and only',
    'the kernel ratios mean anything.',
  ].join('\n');
}

export interface BenchRow extends Partial<WorkloadResult> {
  workload: WorkloadId;
  backend: string;
  kernels: WorkloadResult['kernels'];
  /** project / stock throughput, on the row of the project kernels. */
  speedupVsStock?: number;
  /** Why this workload could not run on this backend. */
  error?: string;
}

interface ParsedOptions {
  quick: boolean;
  backends: BenchBackend[];
  workloads: WorkloadId[];
  kernels: KernelChoice[];
  /** wasm threads */
  threads: number;
  size: Partial<WorkloadSize>;
  profile: boolean;
  json?: string;
  chromium: string;
  /** tfjs flags set after the backend starts (--flags) */
  flags: Record<string, boolean | number | string>;
}

/** Parses --flags 'A=1,B=true,C=text' into tfjs flag values; a flag tfjs does not know fails when it is set. */
export function parseFlags(raw: string | undefined): Record<string, boolean | number | string> {
  const flags: Record<string, boolean | number | string> = {};
  if (raw === undefined) return flags;
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0)
      throw new Error(`--flags: '${item}' is not NAME=VALUE (e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=64)`);
    const name = item.slice(0, eq);
    const text = item.slice(eq + 1);
    flags[name] =
      text === 'true'
        ? true
        : text === 'false'
          ? false
          : text !== '' && Number.isFinite(Number(text))
            ? Number(text)
            : text;
  }
  return flags;
}

function parseList<T extends string>(
  raw: string | undefined,
  allowed: readonly T[],
  fallback: T[],
  what: string,
): T[] {
  if (raw === undefined) return fallback;
  if (raw === 'all') return [...allowed];
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item))
      throw new Error(`unknown ${what} '${item}'; use ${allowed.join(', ')} or all`);
  }
  return items as T[];
}

function parseCount(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (name === 'warmup' ? 0 : 1))
    throw new Error(`--${name} must be a whole number >= ${name === 'warmup' ? 0 : 1}, got '${raw}'`);
  return value;
}

export function parseBenchArgs(argv: string[]): ParsedOptions | 'help' {
  const { values } = parseArgs({ args: argv, options: BENCH_OPTIONS, allowPositionals: false });
  if (values.help) return 'help';
  const kernels = values.kernels ?? 'both';
  if (!['stock', 'project', 'both'].includes(kernels))
    throw new Error(`--kernels must be stock, project or both, got '${kernels}'`);
  const size: Partial<WorkloadSize> = {};
  const steps = parseCount(values.steps, 'steps');
  const repeats = parseCount(values.repeats, 'repeats');
  const warmup = parseCount(values.warmup, 'warmup');
  const batch = parseCount(values.batch, 'batch');
  if (steps !== undefined) size.steps = steps;
  if (repeats !== undefined) size.repeats = repeats;
  if (warmup !== undefined) size.warmup = warmup;
  if (batch !== undefined) size.batch = batch;
  const threads = parseCount(values.threads, 'threads') ?? defaultWasmThreads();
  if (threads > MAX_WASM_THREADS)
    throw new Error(
      `--threads must be at most ${MAX_WASM_THREADS} (tfjs-backend-wasm's pool), got ${threads}`,
    );
  return {
    threads,
    quick: values.quick ?? false,
    backends: parseList(values.backend, BACKENDS, ['wasm'], 'backend'),
    workloads: parseList(values.workload, WORKLOAD_IDS, [...WORKLOAD_IDS], 'workload'),
    kernels: kernels === 'both' ? ['stock', 'project'] : [kernels as KernelChoice],
    size,
    profile: values.profile ?? false,
    json: values.json,
    flags: parseFlags(values.flags),
    chromium: values.chromium ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  };
}

/** Process CPU time (user + system, all threads) in milliseconds. */
const cpuClock = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Sets up a Node backend; returns a description of the device, or throws why it is unavailable. */
async function useNodeBackend(
  backend: Exclude<BenchBackend, 'browser'>,
  threads: number,
  flags: ParsedOptions['flags'],
): Promise<string> {
  if (backend === 'wasm') installNodeWasmThreads(threads);
  if (backend === 'webgpu') {
    // loaded only when asked for: it pulls in Dawn's native module
    const { installNodeWebGPU } = await import('../kernels/webgpu/node');
    await installNodeWebGPU();
  }
  const report = await initBackend({ preferred: backend, environment: 'node' });
  if (report.active !== backend) {
    throw new Error(report.skipped.map((s) => s.reason).join('; ') || `initBackend chose ${report.active}`);
  }
  for (const [name, value] of Object.entries(flags)) {
    // tf.env().set throws for a flag no backend registered: say which and how to spell one
    try {
      tf.env().set(name, value);
    } catch (err) {
      throw new Error(`--flags: cannot set ${name}=${String(value)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  const cpu = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'CPU'}`;
  if (backend === 'wasm') return `wasm, ${wasmThreadsInUse()} thread(s), on ${cpu}`;
  return report.adapter ?? `${backend} on ${cpu}`;
}

async function runNodeBackend(
  backend: Exclude<BenchBackend, 'browser'>,
  options: ParsedOptions,
  devices: Record<string, string>,
): Promise<BenchRow[]> {
  try {
    devices[backend] = await useNodeBackend(backend, options.threads, options.flags);
  } catch (err) {
    return options.workloads.map((workload) => ({
      workload,
      backend,
      kernels: 'n/a',
      error: `backend unavailable: ${(err as Error).message}`,
    }));
  }
  const rows: BenchRow[] = [];
  // project: what initBackend installs on this device (webgpu: the WGSL kernels, on SwiftShader without the tiled
  // input gradient; wasm: the SIMD and XNNPACK-based kernels), with the project gradients; stock: tfjs' own, except
  // what the backend cannot train without (wasm's filter gradient). See KERNELS in kernels/install.ts.
  const adapter = backend === 'webgpu' ? devices[backend] : undefined;
  const useProject = (): void => void installKernels(backend, { kernels: 'project', adapter });
  const useStock = (): void => void installKernels(backend, { kernels: 'stock' });
  for (const workload of options.workloads) {
    const variants = projectCodeRuns(backend, workload) ? options.kernels : (['n/a'] as const);
    for (const kernels of variants) {
      if (kernels === 'project') useProject();
      else useStock();
      log(`${workload} on ${backend}${kernels === 'n/a' ? '' : ` (${kernels} kernels)`} ...`);
      try {
        const onIteration = (phase: string, ms: number) => log(`  ${phase} iteration: ${ms.toFixed(0)} ms`);
        rows.push(
          await runWorkload(workload, {
            quick: options.quick,
            size: options.size,
            kernels,
            profile: options.profile,
            cpuClock,
            onIteration,
          }),
        );
      } catch (err) {
        const message = (err as Error).message;
        // tfjs-backend-wasm aborts without a message when its heap (at most 4 GB) cannot grow
        const hint =
          backend === 'wasm' && /^Aborted\(/.test(message)
            ? ' (wasm heap exhausted? try a smaller --batch; the wasm backend is unusable after this)'
            : '';
        rows.push({ workload, backend, kernels, error: `${message}${hint}` });
      }
    }
  }
  useStock();
  return rows;
}

/** Runs the workloads in Chromium's WebGPU: vite serves bench/browser/, Playwright drives the page. */
async function runBrowser(options: ParsedOptions, devices: Record<string, string>): Promise<BenchRow[]> {
  const failAll = (message: string): BenchRow[] =>
    options.workloads.map((workload) => ({
      workload,
      backend: 'browser-webgpu',
      kernels: 'n/a',
      error: message,
    }));
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const { createServer } = await import('vite');
  const server = await createServer({
    root,
    configFile: false,
    logLevel: 'warn',
    server: { host: '127.0.0.1', port: 0 },
  });
  const { chromium } = await import('playwright-core');
  let browser: Awaited<ReturnType<typeof chromium.launch>> | null = null;
  try {
    await server.listen();
    const base = server.resolvedUrls?.local[0];
    if (!base) return failAll('vite did not report a local URL');
    browser = await chromium.launch({
      executablePath: options.chromium,
      args: ['--enable-unsafe-webgpu', '--no-sandbox'],
    });
    const page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || message.text().startsWith('[bench]'))
        log(`  chromium: ${message.text()}`);
    });
    await page.goto(new URL('bench/browser/index.html', base).href);
    await page.waitForFunction(() => (window as { runBench?: unknown }).runBench !== undefined, null, {
      timeout: 180_000,
    });
    const request: BrowserBenchRequest = {
      workloads: options.workloads,
      kernels: options.kernels,
      quick: options.quick,
      size: options.size,
      profile: options.profile,
    };
    const reply = await page.evaluate(
      (req) =>
        (window as unknown as { runBench: (r: BrowserBenchRequest) => Promise<BrowserBenchReply> }).runBench(
          req,
        ),
      request,
    );
    if ('error' in reply) return failAll(reply.error);
    devices['browser-webgpu'] = `${reply.adapter} (${reply.userAgent})`;
    return reply.rows.map((row) => ({ ...row, backend: 'browser-webgpu' }));
  } catch (err) {
    return failAll(`Chromium run failed: ${(err as Error).message}`);
  } finally {
    await browser?.close();
    await server.close();
  }
}

/** Adds project / stock throughput to each project-kernel row that has a stock twin. */
export function addSpeedups(rows: BenchRow[]): BenchRow[] {
  return rows.map((row) => {
    if (row.kernels !== 'project' || row.throughput === undefined) return row;
    const stock = rows.find(
      (r) =>
        r.kernels === 'stock' &&
        r.workload === row.workload &&
        r.backend === row.backend &&
        r.throughput !== undefined,
    );
    return stock?.throughput ? { ...row, speedupVsStock: row.throughput / stock.throughput } : row;
  });
}

const megabytes = (bytes: number | null | undefined) => (bytes == null ? '-' : (bytes / 2 ** 20).toFixed(1));

/** The results as an aligned text table. */
export function formatTable(rows: BenchRow[]): string {
  const header = [
    'workload',
    'backend',
    'kernels',
    'batch',
    'ms/iter',
    'cpu ms/iter',
    'throughput',
    'unit',
    'peak MB',
    'GPU MB',
    'vs stock',
  ];
  const body = rows.map((r) =>
    r.error !== undefined
      ? [
          r.workload,
          r.backend,
          r.kernels,
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
          '-',
          `error: ${r.error.replace(/\s+/g, ' ')}`,
        ]
      : [
          r.workload,
          r.backend,
          r.kernels,
          String(r.batch),
          r.msPerIteration!.toFixed(1),
          r.cpuMsPerIteration == null ? '-' : r.cpuMsPerIteration.toFixed(1),
          r.throughput!.toFixed(1),
          r.unit!,
          megabytes(r.peakBytes),
          megabytes(r.gpuBytes),
          r.speedupVsStock === undefined ? '' : `${r.speedupVsStock.toFixed(2)}x`,
        ],
  );
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((cells) => (i === header.length - 1 ? 0 : cells[i].length))),
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function formatKernels(rows: BenchRow[]): string {
  return rows
    .filter((r) => r.kernelMs?.length)
    .map((r) => {
      const total = r.kernelMs!.reduce((s, k) => s + k.ms, 0);
      const top = r
        .kernelMs!.slice(0, 12)
        .map(
          (k) =>
            `    ${k.kernel.padEnd(28)} ${k.ms.toFixed(1).padStart(9)} ms  ${((100 * k.ms) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%  x${k.calls}`,
        );
      const calls = (r.slowestCalls ?? []).map(
        (c) =>
          `    ${c.kernel.padEnd(28)} ${c.ms.toFixed(1).padStart(9)} ms  inputs ${c.inputShapes.map((shape) => (shape == null ? '-' : `[${shape.join(',')}]`)).join(' ')}`,
      );
      return [
        `  ${r.workload} ${r.backend}${r.kernels === 'n/a' ? '' : ` ${r.kernels}`}: ${total.toFixed(1)} ms of kernel time`,
        ...top,
        ...(calls.length > 0 ? ['   slowest calls:', ...calls] : []),
      ].join('\n');
    })
    .join('\n');
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function main(argv: string[]): Promise<number> {
  let options: ParsedOptions | 'help';
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${benchHelp()}`);
    return 2;
  }
  if (options === 'help') {
    console.log(benchHelp());
    return 0;
  }
  const devices: Record<string, string> = {};
  let rows: BenchRow[] = [];
  for (const backend of options.backends) {
    rows.push(
      ...(backend === 'browser'
        ? await runBrowser(options, devices)
        : await runNodeBackend(backend, options, devices)),
    );
  }
  rows = addSpeedups(rows);
  const machine = {
    cpu: `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    tfjs: tf.version.tfjs,
    devices,
  };
  console.log(
    `\nmachine: ${machine.cpu}, ${machine.memoryGB} GB, ${machine.platform}, node ${machine.node}, tfjs ${machine.tfjs}`,
  );
  for (const [backend, device] of Object.entries(devices)) console.log(`  ${backend}: ${device}`);
  console.log(`\n${formatTable(rows)}`);
  if (options.profile) console.log(`\nkernel time of one profiled iteration:\n${formatKernels(rows)}`);
  const leaks = rows.filter((r) => r.tensorGrowth);
  if (leaks.length)
    console.log(`\nWARNING: tensors leaked in ${leaks.map((r) => `${r.workload}/${r.backend}`).join(', ')}`);
  if (options.json) {
    await writeFile(
      options.json,
      `${JSON.stringify({ date: new Date().toISOString(), machine, options, rows }, null, 2)}\n`,
    );
    console.log(`\nwrote ${options.json}`);
  }
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
