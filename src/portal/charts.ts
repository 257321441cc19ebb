// Charts as server-rendered SVG: bars per day for a meter, and a run history. Numbers are turned into
// coordinates here; every label is escaped, since the markup goes into the page as it is.

/** Text for SVG: the five characters XML gives meaning to, as entities. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const width = 720;
const height = 220;
const left = 56;
const bottom = 28;
const top = 12;

function scale(max: number): { max: number; y: (v: number) => number } {
  const m = max <= 0 ? 1 : max;
  const plot = height - bottom - top;
  return { max: m, y: (v) => top + plot - (v / m) * plot };
}

/** A bar per day: `points` in day order; the label names the chart for screen readers. */
export function barChart(label: string, points: readonly { day: string; value: number }[]): string {
  const max = Math.max(0, ...points.map((p) => p.value));
  const { y } = scale(max);
  const step = (width - left - 8) / Math.max(1, points.length);
  const bars = points
    .map((p, i) => {
      const x = left + i * step + step * 0.15;
      const h = y(0) - y(p.value);
      return (
        `<rect class="bar" x="${x.toFixed(1)}" y="${y(p.value).toFixed(1)}" width="${(step * 0.7).toFixed(1)}" ` +
        `height="${h.toFixed(1)}"><title>${escapeXml(`${p.day}: ${p.value}`)}</title></rect>`
      );
    })
    .join('');
  const first = points[0]?.day ?? '';
  const last = points.at(-1)?.day ?? '';
  return (
    `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(label)}">` +
    `<title>${escapeXml(label)}</title>` +
    `<line class="axis" x1="${left}" y1="${y(0)}" x2="${width - 8}" y2="${y(0)}"/>` +
    `<text x="${left - 6}" y="${top + 10}" text-anchor="end">${escapeXml(String(max))}</text>` +
    `<text x="${left - 6}" y="${y(0)}" text-anchor="end">0</text>` +
    bars +
    `<text x="${left}" y="${height - 8}">${escapeXml(first)}</text>` +
    `<text x="${width - 8}" y="${height - 8}" text-anchor="end">${escapeXml(last)}</text>` +
    '</svg>'
  );
}

/**
 * Two series over the same runs: `bars` (counts, such as leaks) and `line` (a share from 0 to 1, such as
 * coverage), oldest first.
 */
export function runChart(
  label: string,
  runs: readonly { at: string; bars: number; line: number | null }[],
): string {
  const max = Math.max(1, ...runs.map((r) => r.bars));
  const { y } = scale(max);
  const plot = height - bottom - top;
  const share = (v: number) => top + plot - v * plot;
  const step = (width - left - 48) / Math.max(1, runs.length);
  const bars = runs
    .map((r, i) => {
      const x = left + i * step + step * 0.2;
      return (
        `<rect class="bar2" x="${x.toFixed(1)}" y="${y(r.bars).toFixed(1)}" width="${(step * 0.6).toFixed(1)}" ` +
        `height="${(y(0) - y(r.bars)).toFixed(1)}"><title>${escapeXml(`${r.at}: ${r.bars} leaks`)}</title></rect>`
      );
    })
    .join('');
  const line = runs
    .map((r, i) =>
      r.line === null ? null : `${(left + (i + 0.5) * step).toFixed(1)},${share(r.line).toFixed(1)}`,
    )
    .filter((p): p is string => p !== null)
    .join(' ');
  return (
    `<svg class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(label)}">` +
    `<title>${escapeXml(label)}</title>` +
    `<line class="axis" x1="${left}" y1="${y(0)}" x2="${width - 48}" y2="${y(0)}"/>` +
    `<text x="${left - 6}" y="${top + 10}" text-anchor="end">${max} leaks</text>` +
    `<text x="${left - 6}" y="${y(0)}" text-anchor="end">0</text>` +
    `<text x="${width - 44}" y="${top + 10}">100%</text><text x="${width - 44}" y="${y(0)}">0%</text>` +
    bars +
    (line === '' ? '' : `<polyline class="line" points="${line}"/>`) +
    `<text x="${left}" y="${height - 8}">${escapeXml(runs[0]?.at.slice(0, 10) ?? '')}</text>` +
    `<text x="${width - 48}" y="${height - 8}" text-anchor="end">${escapeXml(runs.at(-1)?.at.slice(0, 10) ?? '')}</text>` +
    '</svg>'
  );
}
