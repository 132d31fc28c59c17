/**
 * Decisions: GET /api/decisions (filters) and GET /api/decisions/record (one record in full, its
 * reasons in words, its chain verified), with a link that opens the same request in the playground.
 */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { get } from './api.js';

interface Row {
  readonly id: string;
  readonly time: string;
  readonly user: string | null;
  readonly client: string | null;
  readonly roles: readonly string[];
  readonly request: { readonly method: string; readonly interaction: string; readonly type: string | null; readonly id: string | null; readonly operation: string | null } | null;
  readonly decision: string;
  readonly status: number;
  readonly reasons: readonly string[];
  readonly policyRevision: string;
}

interface Detail {
  readonly record: Record<string, unknown>;
  readonly reasons: readonly { readonly code: string; readonly meaning: string | null }[];
  readonly chain: { readonly macValid: boolean; readonly instance: string; readonly seq: number; readonly instanceRecords: number; readonly instanceIntact: boolean; readonly problem: unknown };
  readonly playgroundCase: unknown;
  readonly playgroundUnavailable: string | null;
}

const FILTERS = [
  { name: 'from', label: 'From (date-time)' },
  { name: 'before', label: 'Before (date-time)' },
  { name: 'user', label: 'User' },
  { name: 'client', label: 'Client' },
  { name: 'patient', label: 'Patient id' },
  { name: 'interaction', label: 'Interaction' },
  { name: 'type', label: 'Resource type' },
  { name: 'reason', label: 'Reason' },
  { name: 'revision', label: 'Policy revision' },
] as const;

function base64url(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function Decisions() {
  const [filters, setFilters] = useState<Record<string, string>>({ decision: '' });
  const [rows, setRows] = useState<readonly Row[] | null>(null);
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);

  const search = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    const q = new URLSearchParams(Object.entries(filters).filter(([, v]) => v !== ''));
    try {
      setRows((await get<{ records: Row[] }>(`/decisions?${q}`)).records);
      setDetail(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const open = async (row: Row): Promise<void> => {
    try {
      setDetail(await get<Detail>(`/decisions/record?id=${encodeURIComponent(row.id)}&time=${encodeURIComponent(row.time)}`));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const set = (name: string) => (e: Event) => setFilters({ ...filters, [name]: (e.target as HTMLInputElement).value });

  return h(
    'div',
    { class: 'decisions' },
    h(
      'form',
      { class: 'filters', onSubmit: search },
      FILTERS.map((f) => h('div', {}, h('label', { for: `f-${f.name}` }, f.label), h('input', { id: `f-${f.name}`, value: filters[f.name] ?? '', onInput: set(f.name) }))),
      h(
        'div',
        {},
        h('label', { for: 'f-decision' }, 'Decision'),
        h('select', { id: 'f-decision', value: filters['decision'] ?? '', onChange: set('decision') }, h('option', { value: '' }, 'any'), h('option', { value: 'allow' }, 'allow'), h('option', { value: 'deny' }, 'deny'), h('option', { value: 'error' }, 'error')),
      ),
      h('div', {}, h('button', { type: 'submit' }, 'Search decisions')),
    ),
    error ? h('p', { role: 'alert', class: 'error' }, error) : null,
    rows
      ? h(
          'table',
          { class: 'records' },
          h('caption', {}, `${rows.length} record${rows.length === 1 ? '' : 's'}, newest first`),
          h('thead', {}, h('tr', {}, ['Time', 'User', 'Client', 'Request', 'Decision', 'Reasons', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            rows.map((r) =>
              h(
                'tr',
                {},
                h('td', {}, new Date(r.time).toLocaleString()),
                h('td', {}, r.user ?? '—'),
                h('td', {}, r.client ?? '—'),
                h('td', {}, r.request ? `${r.request.method} ${[r.request.type, r.request.id].filter(Boolean).join('/')}${r.request.operation ? ` $${r.request.operation}` : ''}` : '—'),
                h('td', { class: r.decision }, `${r.decision} (${r.status})`),
                h('td', {}, r.reasons.join(' ')),
                h('td', {}, h('button', { type: 'button', onClick: () => void open(r) }, h('span', {}, 'Open'), h('span', { class: 'sr-only' }, ` record of ${new Date(r.time).toLocaleString()}`))),
              ),
            ),
          ),
        )
      : null,
    detail ? detailView(detail) : null,
  );
}

function detailView(d: Detail) {
  const c = d.chain;
  return h(
    'section',
    { 'aria-labelledby': 'record', class: 'detail' },
    h('h2', { id: 'record' }, 'Record'),
    h('h3', {}, 'Reasons'),
    h('ul', {}, d.reasons.map((r) => h('li', {}, h('code', {}, r.code), r.meaning ? ` — ${r.meaning}` : ''))),
    h('h3', {}, 'Chain verification'),
    h(
      'p',
      { class: c.macValid && c.instanceIntact ? 'allow' : 'deny' },
      `${c.macValid ? 'The record\'s MAC is valid' : 'The record\'s MAC does not match its content'}; instance ${c.instance} (record ${c.seq}): ${c.instanceIntact ? `chain intact over ${c.instanceRecords} records` : `chain broken: ${JSON.stringify(c.problem)}`}.`,
    ),
    d.playgroundCase ? h('p', {}, h('a', { href: `#/playground?case=${base64url(JSON.stringify(d.playgroundCase))}` }, 'Open this request in the playground')) : h('p', {}, `Not replayable in the playground: ${d.playgroundUnavailable}.`),
    h('h3', {}, 'Every field'),
    h('pre', { tabIndex: 0, 'aria-label': 'the record as stored' }, JSON.stringify(d.record, null, 2)),
  );
}
