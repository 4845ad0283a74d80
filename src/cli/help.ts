/** One command-line option as the CLIs declare them for node:util parseArgs, with its help text. */
export interface OptionHelp {
  short?: string;
  value?: string;
  help: string;
}

/** The options block of a --help text: `  -s, --name VALUE   help`, one line each, help in one column. */
export function optionLines(options: Readonly<Record<string, OptionHelp>>): string[] {
  return Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    return `  ${flag.padEnd(28)} ${o.help}`;
  });
}

/**
 * kernels/wasm/node's MAX_WASM_THREADS (tfjs' pool of 8), written out so that the CLIs' option tables stay free of
 * tfjs (train.ts loads none); a test checks the two agree.
 */
export const WASM_THREADS_MAX = 8;

/** The options that pick the engine, the same in every CLI that trains. */
export const ENGINE_OPTIONS = {
  backend: {
    type: 'string',
    short: 'b',
    value: 'NAME',
    help: 'wasm (default), cpu or webgpu (Dawn through the `webgpu` package)',
  },
  kernels: {
    type: 'string',
    short: 'k',
    value: 'WHICH',
    help: "project (default: the project's faster kernels) or stock (TF.js's own)",
  },
  threads: {
    type: 'string',
    short: 't',
    value: 'N',
    help: `wasm threads (default half the logical cores, as tfjs sizes it, 1 to ${WASM_THREADS_MAX}; 1 = tfjs' single-threaded build)`,
  },
} as const;
