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
