/** The datasets a RunConfig can name. */
export const DATASET_IDS = ['fashion-mnist', 'cifar10', 'mnist', 'synthetic'] as const;
export type DatasetId = (typeof DATASET_IDS)[number];

/**
 * What each image's continuous target is (RunConfig dataset.target): none ('class', the labels only), the angle
 * in degrees of a seeded random rotation applied to the image ('rotation'), or the synthetic shape's radius in
 * percent of the image side ('size', synthetic dataset only). See data/targets.ts.
 */
export const DATASET_TARGETS = ['class', 'rotation', 'size'] as const;
export type DatasetTarget = (typeof DATASET_TARGETS)[number];

/** One split: pixels in NHWC uint8 order (count * H * W * C bytes) and int labels. */
export interface DatasetSplit {
  images: Uint8Array;
  labels: Int32Array;
  count: number;
  /** A continuous target per image (regression: supremix, the regression metrics); see DATASET_TARGETS. */
  targets?: Float32Array;
}

/** A dataset: its shape and class names up front, the pixels loaded lazily on first use. */
export interface Dataset {
  readonly name: string;
  /** [height, width, channels] */
  readonly imageShape: [number, number, number];
  readonly classes: string[];
  train(): Promise<DatasetSplit>;
  test(): Promise<DatasetSplit>;
}

/** Reads a named file relative to a dataset folder (Node: fs; browser: fetch or IndexedDB). */
export interface FileSource {
  read(name: string): Promise<Uint8Array>;
  /** Names present (may be unsupported by a fetch-based source, which then returns null). */
  list(): Promise<string[] | null>;
}
