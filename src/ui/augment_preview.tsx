import { useEffect, useRef, useState } from 'react';
import type { RunConfig } from '../engine/config';
import type { PreviewView } from '../worker/protocol';
import { previewAugment } from './controller';

function ViewCanvas({ view, label }: { view: PreviewView; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = canvas.current?.getContext('2d');
    if (!context) return;
    context.putImageData(new ImageData(new Uint8ClampedArray(view.rgba), view.width, view.height), 0, 0);
  }, [view]);
  return (
    <canvas
      ref={canvas}
      width={view.width}
      height={view.height}
      className="preview-cell"
      aria-label={label}
    />
  );
}

/** A few training images and their augmented views under the config being edited (computed in the worker). */
export function AugmentPreview({
  config,
  datasetKey,
}: {
  config: RunConfig | null;
  datasetKey: string | null;
}) {
  const [grid, setGrid] = useState<{ views: PreviewView[][]; labels: number[]; classes: string[] } | null>(
    null,
  );
  const [error, setError] = useState<string | null>(null);
  const [seed, setSeed] = useState(1);
  const [open, setOpen] = useState(false);
  const key = config
    ? JSON.stringify([config.dataset, config.augment, config.views, datasetKey, seed])
    : null;
  useEffect(() => {
    if (!open || !config || key === null) return;
    let cancelled = false;
    const timer = setTimeout(() => {
      previewAugment(config, datasetKey, seed)
        .then((result) => {
          if (!cancelled) {
            setGrid(result);
            setError(null);
          }
        })
        .catch(
          (reason: unknown) =>
            !cancelled && setError(reason instanceof Error ? reason.message : String(reason)),
        );
    }, 300);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
    // the key captures every input that changes the preview
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, open]);
  return (
    <div className="augment-preview">
      <div className="row">
        <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Hide' : 'Show'} augmentation preview
        </button>
        {open && (
          <button type="button" onClick={() => setSeed(seed + 1)}>
            New random views
          </button>
        )}
      </div>
      {open && error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {open && grid && (
        <table className="preview-grid" data-testid="augment-preview">
          <thead>
            <tr>
              <th scope="col">class</th>
              <th scope="col">original</th>
              {grid.views[0]?.slice(1).map((_, v) => (
                <th scope="col" key={v}>
                  view {v + 1}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {grid.views.map((row, i) => (
              <tr key={i}>
                <th scope="row">{grid.classes[grid.labels[i]] ?? grid.labels[i]}</th>
                {row.map((view, v) => (
                  <td key={v}>
                    <ViewCanvas view={view} label={`image ${i + 1} ${v === 0 ? 'original' : `view ${v}`}`} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
