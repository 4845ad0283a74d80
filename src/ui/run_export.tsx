import { exportRun, type ExportKind } from './controller';
import type { RunRecord } from './types';

const EXPORTS: { kind: ExportKind; label: string }[] = [
  { kind: 'tfjs', label: 'TF.js model (zip)' },
  { kind: 'safetensors', label: 'safetensors' },
  { kind: 'embeddings', label: 'Embeddings TSV (zip)' },
  { kind: 'pytorch', label: 'PyTorch project (zip)' },
  { kind: 'history-csv', label: 'Metrics CSV' },
  { kind: 'history-json', label: 'Metrics JSON' },
  { kind: 'config', label: 'RunConfig JSON' },
];

/** Export buttons for one run. */
export function RunExport({ run }: { run: RunRecord }) {
  return (
    <div className="run-export" role="group" aria-label={`Export ${run.config.name || run.id}`}>
      {EXPORTS.map(({ kind, label }) => (
        <button
          key={kind}
          type="button"
          data-testid={`export-${kind}`}
          onClick={() => void exportRun(run.id, kind)}
        >
          {label}
        </button>
      ))}
    </div>
  );
}
