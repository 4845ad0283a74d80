// Self-contained SVG line charts for the HTML report (no library, no external file). No tfjs.

export interface ChartSeries {
  name: string;
  points: [number, number][];
  /** Mark each point (scatter-like plots, few points) instead of only drawing the line. */
  markers?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  logX?: boolean;
  width?: number;
  height?: number;
}

/** Distinct colours for up to 10 series (Tableau 10), then repeated. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** About `count` round tick values within [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * power;
  const ticks: number[] = [];
  // integer multiples of the step, so that zero is exactly 0 and no rounding error accumulates
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
    ticks.push(Number((k * step).toPrecision(12)) + 0);
  }
  return ticks;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(0);
  return String(Number(value.toPrecision(4)));
}

/** An SVG line chart as a string; series without finite points are listed in the legend but not drawn. */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 560;
  const height = spec.height ?? 320;
  const margin = { left: 62, right: 16, top: 30, bottom: 46 };
  const legendRows = spec.series.length;
  const legendHeight = legendRows > 0 ? 16 * legendRows + 8 : 0;
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const transformX = (x: number) => (spec.logX ? Math.log10(x) : x);
  const finite = spec.series.flatMap((s) =>
    s.points.filter(([x, y]) => Number.isFinite(transformX(x)) && Number.isFinite(y)),
  );
  const parts: string[] = [];
  const totalHeight = height + legendHeight;
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${totalHeight}" viewBox="0 0 ${width} ${totalHeight}" font-family="sans-serif" font-size="11">`,
    `<text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(spec.title)}</text>`,
  );
  if (finite.length === 0) {
    parts.push(
      `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#888">no data</text>`,
      '</svg>',
    );
    return parts.join('');
  }
  let [x0, x1] = [
    Math.min(...finite.map(([x]) => transformX(x))),
    Math.max(...finite.map(([x]) => transformX(x))),
  ];
  let [y0, y1] = [Math.min(...finite.map(([, y]) => y)), Math.max(...finite.map(([, y]) => y))];
  if (x0 === x1) [x0, x1] = [x0 - 0.5, x1 + 0.5];
  if (y0 === y1)
    [y0, y1] = [y0 - Math.max(1e-3, Math.abs(y0) * 0.05), y1 + Math.max(1e-3, Math.abs(y1) * 0.05)];
  const padY = (y1 - y0) * 0.05;
  y0 -= padY;
  y1 += padY;
  const px = (x: number) => margin.left + ((transformX(x) - x0) / (x1 - x0)) * plotW;
  const py = (y: number) => margin.top + (1 - (y - y0) / (y1 - y0)) * plotH;

  // axes, grid and ticks
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
  );
  for (const t of niceTicks(y0, y1)) {
    const y = py(t).toFixed(1);
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y}" y2="${y}" stroke="#eee"/>`,
      `<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`,
    );
  }
  const xTicks = spec.logX ? [...new Set(finite.map(([x]) => x))].sort((a, b) => a - b) : niceTicks(x0, x1);
  for (const t of xTicks) {
    const x = px(t).toFixed(1);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#eee"/>`,
      `<text x="${x}" y="${margin.top + plotH + 14}" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 32}" text-anchor="middle">${escapeXml(spec.xLabel)}${spec.logX ? ' (log scale)' : ''}</text>`,
    `<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  );

  spec.series.forEach((series, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const points = series.points.filter(([x, y]) => Number.isFinite(transformX(x)) && Number.isFinite(y));
    if (points.length > 1) {
      const d = points
        .map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${px(x).toFixed(1)} ${py(y).toFixed(1)}`)
        .join('');
      parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.6"/>`);
    }
    if (series.markers || points.length === 1) {
      for (const [x, y] of points)
        parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    }
    const ly = height + 4 + 16 * i;
    parts.push(
      `<rect x="${margin.left}" y="${ly}" width="12" height="10" fill="${colour}"/>`,
      `<text x="${margin.left + 18}" y="${ly + 9}">${escapeXml(series.name)}${points.length === 0 ? ' (no data)' : ''}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
