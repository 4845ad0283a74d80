// The Chromium side of `npm run bench -- --backend browser`: same workloads as Node, on the browser's WebGPU.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { installKernels } from '../../src/kernels/install';
import { projectCodeRuns, runWorkload } from '../../src/cli/bench_workloads';
import type {
  BrowserBenchReply,
  BrowserBenchRequest,
  BrowserBenchRow,
} from '../../src/cli/bench_browser_protocol';

function log(message: string): void {
  console.log(`[bench] ${message}`);
  const pre = document.getElementById('log');
  if (pre) pre.textContent += `${message}\n`;
}

async function runBench(request: BrowserBenchRequest): Promise<BrowserBenchReply> {
  const report = await initBackend({ preferred: 'webgpu', environment: 'browser' });
  if (report.active !== 'webgpu') {
    return {
      error: `WebGPU unavailable in this Chromium: ${report.skipped.map((s) => s.reason).join('; ')}`,
    };
  }
  const rows: BrowserBenchRow[] = [];
  for (const workload of request.workloads) {
    const variants = projectCodeRuns('webgpu', workload) ? request.kernels : (['n/a'] as const);
    for (const kernels of variants) {
      // what initBackend registers on this adapter (on SwiftShader: no tiled input gradient, slower there)
      if (kernels === 'project') installKernels('webgpu', { kernels: 'project', adapter: report.adapter });
      else installKernels('webgpu', { kernels: 'stock' });
      log(`${workload}${kernels === 'n/a' ? '' : ` (${kernels} kernels)`} ...`);
      try {
        const onIteration = (phase: string, ms: number) => log(`  ${phase} iteration: ${ms.toFixed(0)} ms`);
        rows.push(
          await runWorkload(workload, {
            quick: request.quick,
            size: request.size,
            kernels,
            profile: request.profile,
            onIteration,
          }),
        );
      } catch (err) {
        rows.push({ workload, backend: tf.getBackend(), kernels, error: (err as Error).message });
      }
    }
  }
  installKernels('webgpu', { kernels: 'stock' });
  return { adapter: report.adapter ?? 'unknown adapter', userAgent: navigator.userAgent, rows };
}

(window as unknown as { runBench: typeof runBench }).runBench = runBench;
log('ready');
