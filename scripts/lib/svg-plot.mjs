/**
 * A small SVG line chart for the soak report: one panel per series, stacked, sharing the x axis
 * (minutes). Plain SVG, no dependencies: the report must open in any browser or viewer.
 */

const WIDTH = 760;
const PANEL = 150;
const MARGIN = { left: 70, right: 20, top: 30, bottom: 30 };

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

/**
 * @param {{ title: string, x: number[], xLabel: string, panels: Array<{ label: string, values: number[], color?: string, band?: [number, number] }> }} chart
 * `band` shades a range of x (the warm-up excluded from the verdict).
 */
export function svgChart({ title, x, xLabel, panels }) {
  const height = MARGIN.top + panels.length * (PANEL + MARGIN.bottom) + 10;
  const innerW = WIDTH - MARGIN.left - MARGIN.right;
  const xMin = Math.min(...x, 0);
  const xMax = Math.max(...x, xMin + 1e-9);
  const sx = (v) => MARGIN.left + ((v - xMin) / (xMax - xMin)) * innerW;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="18" text-anchor="middle" font-size="14">${escape(title)}</text>`,
  ];
  panels.forEach((panel, i) => {
    const top = MARGIN.top + i * (PANEL + MARGIN.bottom);
    const finite = panel.values.filter(Number.isFinite);
    let lo = Math.min(...finite, 0);
    let hi = Math.max(...finite, lo + 1e-9);
    hi += (hi - lo) * 0.1;
    const sy = (v) => top + PANEL - ((v - lo) / (hi - lo)) * PANEL;
    parts.push(`<rect x="${MARGIN.left}" y="${top}" width="${innerW}" height="${PANEL}" fill="none" stroke="#999"/>`);
    if (panel.band) parts.push(`<rect x="${sx(panel.band[0])}" y="${top}" width="${Math.max(0, sx(panel.band[1]) - sx(panel.band[0]))}" height="${PANEL}" fill="#eee"/>`);
    for (const t of [lo, (lo + hi) / 2, hi]) {
      parts.push(`<text x="${MARGIN.left - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
      parts.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + innerW}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`);
    }
    parts.push(`<text x="${MARGIN.left + 6}" y="${top + 14}" font-weight="bold">${escape(panel.label)}</text>`);
    const points = x.map((xv, j) => [xv, panel.values[j]]).filter(([, v]) => Number.isFinite(v));
    parts.push(`<polyline fill="none" stroke="${panel.color ?? '#1f77b4'}" stroke-width="1.5" points="${points.map(([a, b]) => `${sx(a).toFixed(1)},${sy(b).toFixed(1)}`).join(' ')}"/>`);
    for (const [a, b] of points) parts.push(`<circle cx="${sx(a).toFixed(1)}" cy="${sy(b).toFixed(1)}" r="2" fill="${panel.color ?? '#1f77b4'}"/>`);
    for (const t of [xMin, (xMin + xMax) / 2, xMax]) parts.push(`<text x="${sx(t)}" y="${top + PANEL + 14}" text-anchor="middle">${fmt(t)}</text>`);
  });
  parts.push(`<text x="${WIDTH / 2}" y="${height - 4}" text-anchor="middle">${escape(xLabel)}</text>`, '</svg>');
  return parts.join('\n');
}
