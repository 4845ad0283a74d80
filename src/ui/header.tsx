import { actions, usePlayground } from './store';

const WEBGPU_HINT =
  'To train on the GPU, use a recent Chrome or Edge (WebGPU on by default), or enable chrome://flags/#enable-unsafe-webgpu.';

/** Backend status: the WebGPU adapter in use, or the fallback and why WebGPU was not used. */
export function BackendStatus() {
  const backend = usePlayground((state) => state.backend);
  if (!backend)
    return (
      <span className="backend pending" data-testid="backend-status">
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
    return (
      <span className="backend ok" data-testid="backend-status">
        WebGPU · {backend.adapter ?? 'unknown adapter'}
        {kernels}
      </span>
    );
  }
  const reason = backend.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  return (
    <span className="backend fallback" data-testid="backend-status">
      Fallback: {backend.active} (slower){kernels}.{' '}
      {reason && <span className="reason">Why: {reason}. </span>}
      <span className="hint">{WEBGPU_HINT}</span>
    </span>
  );
}

export function Notices() {
  const notices = usePlayground((state) => state.notices);
  if (notices.length === 0) return null;
  return (
    <div className="notices" aria-live="polite">
      {notices.map((notice) => (
        <div
          key={notice.id}
          className={`notice ${notice.kind}`}
          role={notice.kind === 'error' ? 'alert' : 'status'}
          data-testid={`notice-${notice.kind}`}
        >
          <span>{notice.text}</span>
          <button type="button" onClick={() => actions.dismiss(notice.id)} aria-label="Dismiss">
            ×
          </button>
        </div>
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
