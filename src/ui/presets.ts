import type { RunConfigInput } from '../engine/config';

/**
 * The config panel's presets are the example configs in examples/ (the files `npm run train -- --config` takes):
 * one source for the app and the command line. Each is a partial RunConfig completed by the schema defaults.
 */
export interface ConfigPreset {
  id: string;
  label: string;
  /** The example file, relative to the repository root. */
  file: string;
  config: RunConfigInput;
}

const EXAMPLES = import.meta.glob<RunConfigInput>('../../examples/*.json', {
  eager: true,
  import: 'default',
});

/** Menu order and labels; every file in examples/ appears here once (a test holds the two together). */
const MENU: { id: string; label: string; example: string }[] = [
  { id: 'simclr-fashion', label: 'SimCLR · Fashion-MNIST', example: 'simclr-fashion-mnist' },
  { id: 'supcon', label: 'SupCon · Fashion-MNIST', example: 'supcon-fashion-mnist' },
  { id: 'barlow', label: 'Barlow Twins · Fashion-MNIST', example: 'barlow-twins-fashion-mnist' },
  { id: 'mv-dhel', label: 'MV-DHEL · 4 views · Fashion-MNIST', example: 'mv-dhel-4views-fashion-mnist' },
  { id: 'tiny', label: 'Tiny test run (synthetic)', example: 'tiny-synthetic' },
  { id: 'quick-synthetic', label: 'Quick run (synthetic)', example: 'quick-synthetic' },
  { id: 'pixpro-synthetic', label: 'PixPro · synthetic', example: 'pixpro-synthetic' },
  { id: 'cmim-synthetic', label: 'cMIM · synthetic', example: 'cmim-synthetic' },
  { id: 'pixpro-fashion', label: 'PixPro · Fashion-MNIST', example: 'pixpro-fashion-mnist' },
  { id: 'cmim-fashion', label: 'cMIM · Fashion-MNIST', example: 'cmim-fashion-mnist' },
  { id: 'mcl-synthetic', label: 'MCL · 3 stages (synthetic)', example: 'mcl-synthetic' },
  {
    id: 'supremix-synthetic',
    label: 'SupReMix · shape-size regression (synthetic)',
    example: 'supremix-synthetic',
  },
  { id: 'm3col-synthetic', label: 'M3CoL · mixup contrastive (synthetic)', example: 'm3col-synthetic' },
  { id: 'simclr-cifar', label: 'SimCLR · CIFAR-10', example: 'simclr-cifar10' },
  { id: 'supcon-cifar', label: 'SupCon · CIFAR-10', example: 'supcon-cifar10' },
  { id: 'dcl-cifar', label: 'DCL · CIFAR-10', example: 'dcl-cifar10' },
  { id: 'barlow-cifar', label: 'Barlow Twins · CIFAR-10', example: 'barlow-twins-cifar10' },
  { id: 'mv-dhel-cifar', label: 'MV-DHEL · 4 views · CIFAR-10', example: 'mv-dhel-4views-cifar10' },
  {
    id: 'beclr-few-shot',
    label: 'BECLR · few-shot episodes (synthetic)',
    example: 'beclr-few-shot-synthetic',
  },
  {
    id: 'core-tuning',
    label: 'Core-tuning · fine-tuning stage (synthetic)',
    example: 'core-tuning-synthetic',
  },
  { id: 'sepclr', label: 'SepCLR · contrastive analysis (synthetic)', example: 'sepclr-synthetic' },
];

export const CONFIG_PRESETS: ConfigPreset[] = MENU.map(({ id, label, example }) => {
  const file = `examples/${example}.json`;
  const config = EXAMPLES[`../../${file}`];
  if (config === undefined) throw new Error(`preset '${id}': ${file} is missing`);
  return { id, label, file, config };
});

/** The example files the presets do not list (a test keeps this empty). */
export function unlistedExamples(): string[] {
  const listed = new Set(CONFIG_PRESETS.map((preset) => `../../${preset.file}`));
  return Object.keys(EXAMPLES).filter((path) => !listed.has(path));
}

export function presetById(id: string): ConfigPreset | undefined {
  return CONFIG_PRESETS.find((preset) => preset.id === id);
}
