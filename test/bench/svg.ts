// The plot of docs/benchmarks.md, written by hand (no plotting dependency): attach p50 against
// ports on the bridge, both axes logarithmic, one line per series.
import type { Series } from './types.js';
import { percentile } from './stats.js';

const W = 640;
const H = 400;
const M = { left: 64, right: 20, top: 36, bottom: 84 };
const COLORS: Record<Series['key'], string> = { 'ovsvlan': '#1f77b4', 'ovs-docker': '#d62728', 'bridge': '#2ca02c' };

const round = (v: number): number => Math.round(v * 10) / 10;
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Decade ticks 1, 2, 5 × 10^k covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) out.push(v);
    }
  }
  return out;
}

/** An SVG document plotting attach p50 (ms) against ports on the bridge for each series. */
export function attachPlot(series: readonly Series[], title: string): string {
  const points = series.flatMap((s) => s.windows.map((w) => ({ x: w.ports, y: percentile(w.attach, 0.5) })))
    .filter((p) => p.x > 0 && Number.isFinite(p.y) && p.y > 0);
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const x0 = Math.min(10, ...xs);
  const x1 = Math.max(1000, ...xs);
  const y0 = 10 ** Math.floor(Math.log10(Math.min(...ys, 10)));
  const y1 = 10 ** Math.ceil(Math.log10(Math.max(...ys, 10)));
  const px = (x: number): number => round(M.left + ((Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * (W - M.left - M.right));
  const py = (y: number): number => round(H - M.bottom - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * (H - M.top - M.bottom));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (const t of ticks(x0, x1).filter((v) => [1, 10, 100, 1000, 10000].includes(v) || v === x0 || v === x1)) {
    out.push(`<line x1="${px(t)}" y1="${M.top}" x2="${px(t)}" y2="${H - M.bottom}" stroke="#ddd"/>`,
      `<text x="${px(t)}" y="${H - M.bottom + 16}" text-anchor="middle">${t.toLocaleString('en-US')}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    out.push(`<line x1="${M.left}" y1="${py(t)}" x2="${W - M.right}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - M.bottom + 34}" text-anchor="middle">ports on the bridge (log)</text>`,
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">attach p50, ms (log)</text>`);
  series.forEach((s, i) => {
    const pts = s.windows.filter((w) => w.ports > 0 && w.attach.length > 0).map((w) => [px(w.ports), py(Math.max(y0, percentile(w.attach, 0.5)))] as const);
    const color = COLORS[s.key];
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([x, y]) => `${x},${y}`).join(' ')}"/>`);
    for (const [x, y] of pts) out.push(`<circle cx="${x}" cy="${y}" r="4" fill="${color}"/>`);
    const lx = M.left + (i % 3) * 190;
    const ly = H - 22;
    out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 18}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${lx + 24}" y="${ly}">${esc(s.label)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}
