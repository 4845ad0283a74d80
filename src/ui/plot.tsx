import Plotly from 'plotly.js-basic-dist-min';
import { useEffect, useRef, useSyncExternalStore } from 'react';

export interface PlotProps {
  data: Plotly.Data[];
  layout: Partial<Plotly.Layout>;
  /** Short name: the test hook (data-testid="plot-<id>"). */
  id: string;
  /** Accessible description of what the chart shows (role="img"). */
  label: string;
  height?: number;
  /** Shown over the chart instead of empty axes while it has nothing to draw. */
  empty?: string | null;
}

interface ThemeColours {
  paper: string;
  text: string;
  grid: string;
}

/** The page's colour scheme, followed live (a system light/dark switch restyles every chart). */
const darkQuery =
  typeof window !== 'undefined' ? window.matchMedia?.('(prefers-color-scheme: dark)') : undefined;

function subscribeScheme(onChange: () => void): () => void {
  darkQuery?.addEventListener('change', onChange);
  return () => darkQuery?.removeEventListener('change', onChange);
}

function currentScheme(): 'dark' | 'light' {
  return darkQuery?.matches ? 'dark' : 'light';
}

export function useColourScheme(): 'dark' | 'light' {
  return useSyncExternalStore(subscribeScheme, currentScheme, () => 'light');
}

let cachedTheme: { scheme: string; colours: ThemeColours } | null = null;

/** The CSS theme colours, read once per colour scheme (getComputedStyle forces a style recalculation). */
function themeColours(scheme: string): ThemeColours {
  if (cachedTheme?.scheme === scheme) return cachedTheme.colours;
  const styles = getComputedStyle(document.documentElement);
  const colours = {
    paper: styles.getPropertyValue('--panel').trim() || '#fff',
    text: styles.getPropertyValue('--text').trim() || '#222',
    grid: styles.getPropertyValue('--grid').trim() || '#ddd',
  };
  cachedTheme = { scheme, colours };
  return colours;
}

/**
 * Redraws wait in a queue and run one per task, with a frame in between: React commits every chart's effect in one
 * task, and seven Plotly redraws back to back would block the main thread for a long time. Charts in view go first;
 * charts out of view are drawn in idle time after them, so they are ready when scrolled to.
 */
const pending = new Map<HTMLElement, () => void>();
const background = new Map<HTMLElement, () => void>();
const visible = new WeakSet<HTMLElement>();
let draining = false;
let idleScheduled = false;
/** Smoothed milliseconds one chart takes to draw here (a slow machine draws less often). */
let drawMs = 0;

function timed(draw: () => void): void {
  const started = performance.now();
  draw();
  const took = performance.now() - started;
  drawMs = drawMs === 0 ? took : drawMs * 0.7 + took * 0.3;
}

/**
 * How often charts that follow a training run redraw: once a second, or less often where drawing is slow, so
 * drawing takes at most about a fifth of the main thread.
 */
export function redrawInterval(): number {
  return Math.max(1000, Math.round(drawMs * 5));
}

const visibility =
  typeof IntersectionObserver === 'undefined'
    ? null
    : new IntersectionObserver(
        (entries) => {
          for (const entry of entries) {
            const node = entry.target as HTMLElement;
            if (!entry.isIntersecting) {
              visible.delete(node);
              continue;
            }
            visible.add(node);
            const draw = background.get(node);
            if (draw) {
              background.delete(node);
              scheduleDraw(node, draw);
            }
          }
        },
        { rootMargin: '200px' },
      );

function whenIdle(callback: () => void): void {
  if (typeof requestIdleCallback === 'function') requestIdleCallback(callback, { timeout: 1500 });
  else setTimeout(callback, 200);
}

function drainBackground(): void {
  idleScheduled = false;
  if (draining || pending.size > 0) {
    scheduleIdle(); // charts in view first
    return;
  }
  const entry = background.entries().next();
  if (entry.done) return;
  const [node, draw] = entry.value;
  background.delete(node);
  timed(draw);
  if (background.size > 0) scheduleIdle();
}

function scheduleIdle(): void {
  if (idleScheduled) return;
  idleScheduled = true;
  whenIdle(drainBackground);
}

function scheduleDraw(node: HTMLElement, draw: () => void): void {
  if (visibility && !visible.has(node)) {
    background.set(node, draw);
    scheduleIdle();
    return;
  }
  pending.set(node, draw); // a newer draw of the same chart replaces the queued one
  if (draining) return;
  draining = true;
  const next = () => {
    const entry = pending.entries().next();
    if (entry.done) {
      draining = false;
      return;
    }
    const [key, job] = entry.value;
    pending.delete(key);
    timed(job);
    requestAnimationFrame(() => setTimeout(next, 0));
  };
  requestAnimationFrame(() => setTimeout(next, 0));
}

/** A thin React wrapper over Plotly.react: redraws in place when data, layout or the colour scheme change. */
export function Plot({ data, layout, id, label, height = 260, empty = null }: PlotProps) {
  const element = useRef<HTMLDivElement>(null);
  const drawn = useRef<{ data: Plotly.Data[]; layout: string } | null>(null);
  const scheme = useColourScheme();
  useEffect(() => {
    const node = element.current;
    if (!node) return;
    // layouts are often fresh objects with the same content: redraw only when something really changed
    const layoutKey = JSON.stringify([layout, height, scheme]);
    if (drawn.current && drawn.current.data === data && drawn.current.layout === layoutKey) return;
    drawn.current = { data, layout: layoutKey };
    const colours = themeColours(scheme);
    scheduleDraw(
      node,
      () =>
        void Plotly.react(
          node,
          data,
          {
            height,
            margin: { l: 50, r: 10, t: 30, b: 40 },
            paper_bgcolor: colours.paper,
            plot_bgcolor: colours.paper,
            font: { color: colours.text, size: 11 },
            // one HTML legend serves all run charts (Plotly legends cost text measurements on every redraw)
            showlegend: false,
            legend: { orientation: 'h', y: -0.3, yanchor: 'top' },
            ...layout,
            xaxis: { gridcolor: colours.grid, zerolinecolor: colours.grid, ...layout.xaxis },
            yaxis: { gridcolor: colours.grid, zerolinecolor: colours.grid, ...layout.yaxis },
            ...(layout.yaxis2 ? { yaxis2: { gridcolor: colours.grid, ...layout.yaxis2 } } : {}),
          },
          { displaylogo: false, responsive: true },
        ),
    );
  }, [data, layout, height, scheme]);
  useEffect(() => {
    const node = element.current;
    if (node) visibility?.observe(node);
    return () => {
      if (!node) return;
      visibility?.unobserve(node);
      pending.delete(node);
      background.delete(node);
      Plotly.purge(node);
    };
  }, []);
  return (
    <div className="plot-frame" style={{ minHeight: height }}>
      <div
        ref={element}
        className={`plot${empty ? ' plot-empty' : ''}`}
        style={{ minHeight: height }}
        role="img"
        aria-label={label}
        data-testid={`plot-${id}`}
        data-scheme={scheme}
      />
      {empty && (
        <p className="plot-placeholder" aria-hidden="true">
          {empty}
        </p>
      )}
    </div>
  );
}
