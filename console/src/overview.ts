/** Overview: GET /api/overview?minutes=N, drawn as charts (SVG, no chart library needed for bars). */
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get } from './api.js';

interface OverviewData {
  readonly minutes: number;
  readonly perMinute: readonly { readonly minute: string; readonly decisions: number; readonly denials: number }[];
  readonly topReasons: readonly { readonly reason: string; readonly decision: string; readonly count: number }[];
  readonly breakGlass: number;
  readonly openCases: number | null;
  readonly auditBacklog: { readonly writable: boolean; readonly sinks: readonly { readonly name: string; readonly undelivered: number }[] };
  readonly policy: readonly { readonly bundle: string; readonly revision: string; readonly lastLoad: string | null }[];
  readonly upstreamCircuit: readonly { readonly upstream: string; readonly state: string }[];
}

const RANGES = [
  { minutes: 15, label: 'Last 15 minutes' },
  { minutes: 60, label: 'Last hour' },
  { minutes: 360, label: 'Last 6 hours' },
  { minutes: 1440, label: 'Last 24 hours' },
];

export function Overview() {
  const [minutes, setMinutes] = useState(60);
  const [data, setData] = useState<OverviewData | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    get<OverviewData>(`/overview?minutes=${minutes}`).then(setData, (e: unknown) => setError(String(e)));
  }, [minutes]);
  return h(
    'div',
    { class: 'overview' },
    h(
      'div',
      { class: 'toolbar' },
      h('label', { for: 'range' }, 'Time range '),
      h(
        'select',
        { id: 'range', value: String(minutes), onChange: (e: Event) => setMinutes(Number((e.target as HTMLSelectElement).value)) },
        RANGES.map((r) => h('option', { value: String(r.minutes) }, r.label)),
      ),
    ),
    error ? h('p', { role: 'alert' }, error) : null,
    data ? body(data) : h('p', {}, 'Loading…'),
  );
}

function body(d: OverviewData) {
  const decisions = d.perMinute.reduce((a, m) => a + m.decisions, 0);
  const denials = d.perMinute.reduce((a, m) => a + m.denials, 0);
  const backlog = d.auditBacklog.sinks.reduce((a, s) => a + s.undelivered, 0);
  return [
    h(
      'ul',
      { class: 'cards', 'aria-label': 'Status' },
      card('Decisions', String(decisions)),
      card('Denials', String(denials)),
      card('Break-the-glass', String(d.breakGlass)),
      card('Open cases', d.openCases === null ? 'no case store' : String(d.openCases)),
      card('Audit backlog', `${backlog} record${backlog === 1 ? '' : 's'}${d.auditBacklog.writable ? '' : ' (spool full)'}`),
      card('Policy revision', d.policy.map((p) => `${p.bundle} ${p.revision}`).join(', ') || 'none', d.policy[0]?.lastLoad ? `loaded ${new Date(d.policy[0].lastLoad).toLocaleString()}` : undefined),
      card('Upstream circuit', d.upstreamCircuit.map((c) => c.state).join(', ') || 'unknown'),
    ),
    h('section', { 'aria-labelledby': 'per-minute' }, h('h2', { id: 'per-minute' }, 'Decisions and denials per minute'), perMinuteChart(d)),
    h('section', { 'aria-labelledby': 'reasons' }, h('h2', { id: 'reasons' }, 'Top reasons'), reasonsChart(d)),
  ];
}

function card(label: string, value: string, note?: string) {
  return h('li', { class: 'card' }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value), note ? h('span', { class: 'note' }, note) : null);
}

function perMinuteChart(d: OverviewData) {
  const width = 720;
  const height = 180;
  const points = d.perMinute;
  const max = Math.max(1, ...points.map((p) => p.decisions));
  // One slot per minute of the chosen range, so an hour with little traffic looks like one.
  const bar = width / d.minutes;
  const last = points.at(-1) ? Date.parse(points.at(-1)!.minute) : Date.now();
  const start = last - (d.minutes - 1) * 60_000;
  const summary = `${d.minutes} minutes; at most ${max} decisions in a minute; ${points.reduce((a, p) => a + p.denials, 0)} denials in all`;
  return h(
    'svg',
    { class: 'chart', viewBox: `0 0 ${width} ${height + 20}`, role: 'img', 'aria-label': summary },
    h('title', {}, summary),
    points.map((p) => {
      const x = ((Date.parse(p.minute) - start) / 60_000) * bar;
      const total = (p.decisions / max) * height;
      const denied = (p.denials / max) * height;
      return h(
        'g',
        {},
        h('rect', { class: 'allowed', x: x + 1, y: height - total, width: Math.max(1, bar - 2), height: total - denied }),
        h('rect', { class: 'denied', x: x + 1, y: height - denied, width: Math.max(1, bar - 2), height: denied }),
      );
    }),
    h('line', { class: 'axis', x1: 0, y1: height, x2: width, y2: height }),
    h('text', { x: 0, y: height + 16 }, new Date(start).toLocaleTimeString()),
    h('text', { x: width, y: height + 16, 'text-anchor': 'end' }, new Date(last).toLocaleTimeString()),
  );
}

function reasonsChart(d: OverviewData) {
  if (d.topReasons.length === 0) return h('p', {}, 'No decisions yet.');
  const max = Math.max(...d.topReasons.map((r) => r.count));
  const row = 26;
  const width = 720;
  const label = 260;
  const summary = d.topReasons.map((r) => `${r.reason} ${r.count}`).join(', ');
  return h(
    'svg',
    { class: 'chart', viewBox: `0 0 ${width} ${row * d.topReasons.length}`, role: 'img', 'aria-label': `Top reasons: ${summary}` },
    h('title', {}, `Top reasons: ${summary}`),
    d.topReasons.map((r, i) =>
      h(
        'g',
        {},
        h('text', { x: 0, y: i * row + 17 }, `${r.reason} (${r.decision})`),
        h('rect', { class: r.decision === 'allow' ? 'allowed' : 'denied', x: label, y: i * row + 4, width: Math.max(2, ((width - label - 60) * r.count) / max), height: row - 8 }),
        h('text', { x: label + Math.max(2, ((width - label - 60) * r.count) / max) + 6, y: i * row + 17 }, String(r.count)),
      ),
    ),
  );
}
