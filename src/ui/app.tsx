import { lazy, Suspense, useEffect, useState } from 'react';
import { ConfigPanel } from './config_panel';
import { applySharedLink, initialise } from './controller';
import { Header, Notices, SlowDeviceNotice } from './header';
import { RunList } from './run_list';
import { usePlayground } from './store';

// the charts (and Plotly with them) load after the first paint, in their own chunk
const CompareView = lazy(() => import('./compare_view').then((module) => ({ default: module.CompareView })));
// the experiments (their definitions, verdict rules and report charts) load when their tab opens
const ExperimentsTab = lazy(() =>
  import('./experiments_tab').then((module) => ({ default: module.ExperimentsTab })),
);

const TABS = [
  { id: 'playground', name: 'Playground' },
  { id: 'experiments', name: 'Experiments' },
] as const;
type Tab = (typeof TABS)[number]['id'];

export function App() {
  const loaded = usePlayground((state) => state.loaded);
  const [tab, setTab] = useState<Tab>('playground');
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
      <nav className="tabs" role="tablist" aria-label="Views">
        {TABS.map(({ id, name }) => (
          <button
            key={id}
            type="button"
            role="tab"
            aria-selected={tab === id}
            className={tab === id ? 'tab active' : 'tab'}
            onClick={() => setTab(id)}
          >
            {name}
          </button>
        ))}
      </nav>
      {!loaded ? (
        <p className="muted loading">Loading saved runs…</p>
      ) : tab === 'experiments' ? (
        <Suspense fallback={<p className="muted loading">Loading the experiments…</p>}>
          <ExperimentsTab>
            <RunList />
            <CompareView />
          </ExperimentsTab>
        </Suspense>
      ) : (
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
      )}
    </div>
  );
}
