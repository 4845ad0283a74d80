import { useEffect, useState } from 'react';
import { loadPreset } from './controller';
import { isSoftwareAdapter } from './datasets_info';
import { actions, usePlayground, type Notice } from './store';

const WEBGPU_HINT =
  'To train on the GPU, use a recent Chrome or Edge (WebGPU on by default), or enable chrome://flags/#enable-unsafe-webgpu.';

/** The preset that fits a slow device: a few steps of a tiny network on synthetic data, about a minute. */
export const SMALL_PRESET = 'tiny';

/** Backend status: the WebGPU adapter in use (marked when it is a software one), or the fallback and why. */
export function BackendStatus() {
  const backend = usePlayground((state) => state.backend);
  if (!backend)
    return (
      <span className="backend pending" data-testid="backend-status" role="status">
        Starting the engine…
      </span>
    );
  const kernels =
    backend.kernels.length > 0 ? (
      <span className="kernels" title={`Project kernels in use: ${backend.kernels.join(', ')}`}>
        {' '}
        · {backend.kernels.length} project kernels
      </span>
    ) : null;
  if (backend.active === 'webgpu') {
    const software = isSoftwareAdapter(backend);
    return (
      <span className={`backend ${software ? 'slow' : 'ok'}`} data-testid="backend-status" role="status">
        WebGPU · {backend.adapter ?? 'unknown adapter'}
        {software ? ' (software adapter: about 1000× slower than a GPU)' : ''}
        {kernels}
      </span>
    );
  }
  if (backend.active === 'none') {
    return (
      <span className="backend fallback" data-testid="backend-status" role="status">
        No backend could start: {backend.skipped.map((s) => s.reason).join('; ')}. {WEBGPU_HINT}
      </span>
    );
  }
  const reason = backend.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  return (
    <span className="backend fallback" data-testid="backend-status" role="status">
      Fallback: {backend.active} (slower){kernels}.{' '}
      {reason && <span className="reason">Why: {reason}. </span>}
      <span className="hint">{WEBGPU_HINT}</span>
    </span>
  );
}

/**
 * On a software adapter or a CPU fallback, a notice that says how slow training is here, with a one-click switch
 * to the preset that fits (until dismissed or used).
 */
export function SlowDeviceNotice() {
  const backend = usePlayground((state) => state.backend);
  const presetId = usePlayground((state) => state.presetId);
  const [dismissed, setDismissed] = useState(false);
  if (!backend || dismissed || backend.active === 'none') return null;
  const software = isSoftwareAdapter(backend);
  if (!software && backend.active === 'webgpu') return null;
  const where = software
    ? `WebGPU runs on a software adapter (${backend.adapter}), which emulates a GPU on the processor: training is about 1000× slower than on a GPU.`
    : `Training runs on the ${backend.active} backend (no WebGPU), much slower than on a GPU.`;
  return (
    <section className="slow-device" aria-label="Slow device" data-testid="slow-device">
      <p>
        {where} The Fashion-MNIST and CIFAR-10 presets would take hours here; the tiny preset trains in about
        a minute.
      </p>
      <div className="slow-device-actions">
        <button
          type="button"
          className="primary"
          disabled={presetId === SMALL_PRESET}
          onClick={() => loadPreset(SMALL_PRESET)}
        >
          {presetId === SMALL_PRESET ? 'Tiny preset loaded' : 'Switch to the tiny preset'}
        </button>
        <button type="button" onClick={() => setDismissed(true)}>
          Hide this notice
        </button>
      </div>
    </section>
  );
}

function NoticeItem({ notice }: { notice: Notice }) {
  useEffect(() => {
    if (notice.ttlMs === null) return;
    const timer = setTimeout(() => actions.dismiss(notice.id), notice.ttlMs);
    return () => clearTimeout(timer);
  }, [notice.id, notice.ttlMs]);
  return (
    <div
      className={`notice ${notice.kind}`}
      role={notice.kind === 'error' ? 'alert' : 'status'}
      data-testid={`notice-${notice.kind}`}
    >
      <div className="notice-body">
        <span className="notice-text">
          {notice.text}
          {notice.count > 1 && <span className="notice-count"> (×{notice.count})</span>}
        </span>
        {notice.details && (
          <details>
            <summary>Details</summary>
            <p className="notice-details">{notice.details}</p>
          </details>
        )}
      </div>
      <div className="notice-actions">
        {notice.action && (
          <button
            type="button"
            onClick={() => {
              notice.action?.run();
              actions.dismiss(notice.id, true);
            }}
          >
            {notice.action.label}
          </button>
        )}
        <button type="button" onClick={() => actions.dismiss(notice.id)} aria-label="Dismiss">
          ×
        </button>
      </div>
    </div>
  );
}

export function Notices() {
  const notices = usePlayground((state) => state.notices);
  return (
    <div className="notices" aria-live="polite" aria-label="Notices">
      {notices.map((notice) => (
        <NoticeItem key={notice.id} notice={notice} />
      ))}
    </div>
  );
}

export function Header() {
  return (
    <header className="app-header">
      <h1>Contrastive playground</h1>
      <BackendStatus />
    </header>
  );
}
