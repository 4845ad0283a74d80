import { lazy, Suspense, useEffect } from 'react';
import { ConfigPanel } from './config_panel';
import { applySharedLink, initialise } from './controller';
import { Header, Notices, SlowDeviceNotice } from './header';
import { RunList } from './run_list';
import { usePlayground } from './store';

// the charts (and Plotly with them) load after the first paint, in their own chunk
const CompareView = lazy(() => import('./compare_view').then((module) => ({ default: module.CompareView })));

export function App() {
  const loaded = usePlayground((state) => state.loaded);
  useEffect(() => {
    void initialise();
    const onHash = () => applySharedLink(window.location.hash);
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return (
    <div className="app">
      <Header />
      <Notices />
      <SlowDeviceNotice />
      {loaded ? (
        <main className="layout">
          <div className="left">
            <ConfigPanel />
          </div>
          <div className="right">
            <RunList />
            <Suspense fallback={<p className="muted">Loading charts…</p>}>
              <CompareView />
            </Suspense>
          </div>
        </main>
      ) : (
        <p className="muted loading">Loading saved runs…</p>
      )}
    </div>
  );
}
