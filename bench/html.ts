// `--html FILE` / `--svg FILE`: per scenario, the latency percentile curve and
// the throughput over time of each broker, so differences show at a glance.
import { decodeHistogram, percentileCurve } from './histogram.js';
import type { MachineInfo } from './machine.js';
import { describeMachine } from './machine.js';
import type { RunResult } from './runner.js';
import type { SessionResult } from './session.js';
import { groupRuns, renderTable } from './report.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const W = 520;
const H = 280;
const PAD = { l: 64, r: 16, t: 28, b: 44 };

interface Series { name: string; points: Array<[number, number]> }

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(min: number, max: number, n = 5): number[] {
  if (!(max > min)) return [min];
  const step0 = (max - min) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step) out.push(v);
  return out;
}

/** One line chart as an SVG group at (x, y). `xNines` plots percentiles on a 1/(1-p) log axis. */
function chart(x: number, y: number, title: string, series: Series[], o: { xLabel: string; yLabel: string; xNines?: boolean; yLog?: boolean }): string {
  const tx = (v: number) => (o.xNines ? Math.min(5, -Math.log10(Math.max(1e-5, 1 - v / 100))) : v);
  const ty = (v: number) => (o.yLog ? Math.log10(Math.max(v, 1e-3)) : v);
  const all = series.flatMap((s) => s.points.filter(([, b]) => Number.isFinite(b)).map(([a, b]) => [tx(a), ty(b)] as [number, number]));
  const xmin = o.xNines ? 0 : Math.min(0, ...all.map((p) => p[0]));
  const xmax = o.xNines ? 5 : Math.max(1, ...all.map((p) => p[0]));
  const ymin = o.yLog ? Math.floor(Math.min(...all.map((p) => p[1]), 0)) : 0;
  const ymax = o.yLog ? Math.ceil(Math.max(...all.map((p) => p[1]), ymin + 1)) : Math.max(1, ...all.map((p) => p[1])) * 1.05;
  const px = (v: number) => PAD.l + ((v - xmin) / (xmax - xmin)) * (W - PAD.l - PAD.r);
  const py = (v: number) => H - PAD.b - ((v - ymin) / (ymax - ymin || 1)) * (H - PAD.t - PAD.b);
  const parts: string[] = [`<g transform="translate(${x},${y})" font-family="sans-serif" font-size="11">`];
  parts.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<rect x="${PAD.l}" y="${PAD.t}" width="${W - PAD.l - PAD.r}" height="${H - PAD.t - PAD.b}" fill="none" stroke="#999"/>`);
  const xt = o.xNines ? [0, 1, 2, 3, 4, 5] : niceTicks(xmin, xmax);
  const xtLabel = (v: number) => (o.xNines ? ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%'][v]! : String(+v.toFixed(2)));
  for (const t of xt) parts.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${PAD.t}" y2="${H - PAD.b}" stroke="#eee"/><text x="${px(t)}" y="${H - PAD.b + 14}" text-anchor="middle">${xtLabel(t)}</text>`);
  const yt = o.yLog ? Array.from({ length: ymax - ymin + 1 }, (_, i) => ymin + i) : niceTicks(ymin, ymax);
  const ytLabel = (v: number) => (o.yLog ? String(+(10 ** v).toPrecision(3)) : v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : String(+v.toFixed(2)));
  for (const t of yt) parts.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/><text x="${PAD.l - 4}" y="${py(t) + 4}" text-anchor="end">${ytLabel(t)}</text>`);
  parts.push(`<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(12,${H / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(([, b]) => Number.isFinite(b)).map(([a, b]) => `${px(tx(a)).toFixed(1)},${py(ty(b)).toFixed(1)}`);
    const color = COLORS[i % COLORS.length];
    if (pts.length) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    parts.push(`<rect x="${PAD.l + 8}" y="${PAD.t + 8 + i * 15}" width="10" height="10" fill="${color}"/><text x="${PAD.l + 22}" y="${PAD.t + 17 + i * 15}">${esc(s.name)}</text>`);
  });
  parts.push('</g>');
  return parts.join('');
}

/** For each scenario: the median-throughput run of each broker is the one drawn. */
function representative(runs: RunResult[]): RunResult {
  const sorted = [...runs].sort((a, b) => a.consumedPerSec - b.consumedPerSec);
  return sorted[sorted.length >> 1]!;
}

function chartsFor(session: SessionResult): Array<{ label: string; latency: string; throughput: string }> {
  const labels = [...new Set(session.runs.map((r) => r.label))];
  return labels.map((label) => {
    const byBroker = new Map<string, RunResult[]>();
    for (const r of session.runs.filter((x) => x.label === label)) {
      if (!byBroker.has(r.broker)) byBroker.set(r.broker, []);
      byBroker.get(r.broker)!.push(r);
    }
    const latency: Series[] = [];
    const throughput: Series[] = [];
    for (const [broker, runs] of byBroker) {
      const r = representative(runs);
      const h = decodeHistogram(r.histogram);
      latency.push({ name: `${broker} (${r.driver})`, points: percentileCurve(h) });
      h.destroy();
      throughput.push({ name: `${broker} delivered`, points: r.timeline.map((p) => [p.t, p.consumedPerSec]) });
    }
    return {
      label,
      latency: chart(0, 0, `${label}: latency by percentile`, latency, { xLabel: 'percentile', yLabel: 'latency (ms, log)', xNines: true, yLog: true }),
      throughput: chart(W, 0, `${label}: deliveries over time`, throughput, { xLabel: 'seconds', yLabel: 'msg/s' }),
    };
  });
}

export function renderSvg(session: SessionResult): string {
  const charts = chartsFor(session);
  const body = charts.map((c, i) => `<g transform="translate(0,${i * H})">${c.latency}${c.throughput}</g>`).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${Math.max(1, charts.length) * H}" viewBox="0 0 ${2 * W} ${Math.max(1, charts.length) * H}">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}

export function renderHtml(session: SessionResult, machine: MachineInfo): string {
  const charts = chartsFor(session)
    .map((c) => `<h2>${esc(c.label)}</h2>\n<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H}">${c.latency}${c.throughput}</svg>`)
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>warren bench</title>
<style>body{font-family:sans-serif;margin:2em}pre{font-size:12px;background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body>
<h1>warren bench</h1>
<p>${esc(describeMachine(machine))}<br>${session.brokers.map((b) => `${esc(b.name)}: ${esc(b.version)}`).join('<br>')}</p>
<pre>${esc(renderTable(groupRuns(session.runs)))}</pre>
${charts}
</body></html>
`;
}
