import Plotly from 'plotly.js-basic-dist-min';
import { useEffect, useRef } from 'react';

export interface PlotProps {
  data: Plotly.Data[];
  layout: Partial<Plotly.Layout>;
  /** Accessible name of the chart (also the test hook). */
  label: string;
  height?: number;
}

let cachedTheme: { dark: boolean; colours: { paper: string; text: string; grid: string } } | null = null;

/** The CSS theme colours, read once per colour scheme (getComputedStyle forces a style recalculation). */
function themeColours(): { paper: string; text: string; grid: string } {
  const dark = window.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false;
  if (cachedTheme?.dark === dark) return cachedTheme.colours;
  const styles = getComputedStyle(document.documentElement);
  const colours = {
    paper: styles.getPropertyValue('--panel').trim() || '#fff',
    text: styles.getPropertyValue('--text').trim() || '#222',
    grid: styles.getPropertyValue('--grid').trim() || '#ddd',
  };
  cachedTheme = { dark, colours };
  return colours;
}

/**
 * Redraws wait in a queue and run one per task, with a frame in between: React commits every chart's
 * effect in one task, and seven Plotly redraws back to back would block the main thread for a long time.
 */
const pending = new Map<HTMLElement, () => void>();
/** Draws of charts scrolled out of view wait here until they scroll in (no work for charts nobody sees). */
const hidden = new Map<HTMLElement, () => void>();
const visible = new WeakSet<HTMLElement>();
let draining = false;

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
            const draw = hidden.get(node);
            if (draw) {
              hidden.delete(node);
              scheduleDraw(node, draw);
            }
          }
        },
        { rootMargin: '200px' },
      );

function scheduleDraw(node: HTMLElement, draw: () => void): void {
  if (visibility && !visible.has(node)) {
    hidden.set(node, draw);
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
    job();
    requestAnimationFrame(() => setTimeout(next, 0));
  };
  requestAnimationFrame(() => setTimeout(next, 0));
}

/** A thin React wrapper over Plotly.react: redraws in place when data or layout change, purges on unmount. */
export function Plot({ data, layout, label, height = 260 }: PlotProps) {
  const element = useRef<HTMLDivElement>(null);
  const drawn = useRef<{ data: Plotly.Data[]; layout: string } | null>(null);
  useEffect(() => {
    const node = element.current;
    if (!node) return;
    // layouts are often fresh objects with the same content: redraw only when something really changed
    const layoutKey = JSON.stringify([layout, height]);
    if (drawn.current && drawn.current.data === data && drawn.current.layout === layoutKey) return;
    drawn.current = { data, layout: layoutKey };
    const colours = themeColours();
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
            xaxis: { gridcolor: colours.grid, ...layout.xaxis },
            yaxis: { gridcolor: colours.grid, ...layout.yaxis },
          },
          { displaylogo: false, responsive: true },
        ),
    );
  }, [data, layout, height]);
  useEffect(() => {
    const node = element.current;
    if (node) visibility?.observe(node);
    return () => {
      if (!node) return;
      visibility?.unobserve(node);
      pending.delete(node);
      hidden.delete(node);
      Plotly.purge(node);
    };
  }, []);
  return (
    <div
      ref={element}
      className="plot"
      style={{ minHeight: height }}
      role="img"
      aria-label={label}
      data-testid={`plot-${label}`}
    />
  );
}
