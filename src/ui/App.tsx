import { useEffect } from 'react';
import { CompareView } from './CompareView';
import { ConfigPanel } from './ConfigPanel';
import { applySharedLink, initialise } from './controller';
import { Header, Notices } from './Header';
import { RunList } from './RunList';
import { usePlayground } from './store';

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
      {loaded ? (
        <main className="layout">
          <div className="left">
            <ConfigPanel />
          </div>
          <div className="right">
            <RunList />
            <CompareView />
          </div>
        </main>
      ) : (
        <p className="muted">Loading saved runs…</p>
      )}
    </div>
  );
}
