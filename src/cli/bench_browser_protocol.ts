import type { WorkloadId, WorkloadResult, WorkloadSize } from './bench_workloads';

/** What src/cli/bench.ts asks the Chromium page (bench/browser/main.ts) to run, through page.evaluate. */
export interface BrowserBenchRequest {
  workloads: WorkloadId[];
  kernels: Array<'stock' | 'project'>;
  quick: boolean;
  size: Partial<WorkloadSize>;
  profile: boolean;
}

/** One row per workload and kernel variant that ran, each either a result or the error it hit. */
export type BrowserBenchRow =
  | WorkloadResult
  | { workload: WorkloadId; backend: string; kernels: WorkloadResult['kernels']; error: string };

export type BrowserBenchReply =
  { adapter: string; userAgent: string; rows: BrowserBenchRow[] } | { error: string };
