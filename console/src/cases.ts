/**
 * Cases: GET /api/cases (break-the-glass, protection-change and detection cases, filtered by
 * status, kind and patient), GET /api/cases/<id> (a case with its record trail, the chain of those
 * records verified) and, for privacy officers, the review: POST /api/cases/<id>/close as justified
 * or unjustified with a note. Auditors read only.
 */
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, post } from './api.js';
import { errorText } from './history.js';

interface ReviewCase {
  readonly id: string;
  readonly kind: string;
  readonly status: string;
  readonly severity: string;
  readonly openedAt: string;
  readonly user: { readonly iss: string; readonly sub: string | null; readonly fhirUser: string | null; readonly clientId: string | null; readonly roles: readonly string[] };
  readonly patient: string | null;
  readonly statedReason: string | null;
  readonly released: readonly { readonly type: string; readonly count: number }[];
  readonly findings: readonly { readonly signal: string; readonly severity: string; readonly reason: string; readonly record: string; readonly time: string }[];
  readonly transitions: readonly { readonly from: string; readonly to: string; readonly at: string; readonly reviewer: string; readonly note: string }[];
}

interface TrailRow {
  readonly id: string;
  readonly time: string;
  readonly user: string | null;
  readonly client: string | null;
  readonly request: { readonly method: string; readonly type: string | null; readonly id: string | null } | null;
  readonly decision: string;
  readonly status: number;
  readonly reasons: readonly string[];
  readonly breakGlass: boolean;
}

interface Detail {
  readonly case: ReviewCase;
  readonly trail: { readonly records: readonly TrailRow[]; readonly missing: readonly string[]; readonly chain: { readonly ok: boolean; readonly checked: number; readonly problem: { readonly kind: string; readonly position: string } | null } | null };
}

const who = (u: ReviewCase['user']): string => u.fhirUser ?? `${u.iss} ${u.sub ?? ''}`;

export function Cases(props: { readonly roles: readonly string[] }) {
  const [filters, setFilters] = useState<Record<string, string>>({ status: 'open', kind: '', patient: '' });
  const [cases, setCases] = useState<readonly ReviewCase[] | null>(null);
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reviewer = props.roles.includes('privacy-officer');

  const load = async (): Promise<void> => {
    setError(null);
    try {
      setCases((await get<{ cases: ReviewCase[] }>(`/cases?${new URLSearchParams(Object.entries(filters).filter(([, v]) => v !== ''))}`)).cases);
    } catch (err) {
      setError(errorText(err));
    }
  };
  useEffect(() => void load(), []);
  const open = async (id: string): Promise<void> => {
    setError(null);
    try {
      setDetail(await get<Detail>(`/cases/${id}`));
    } catch (err) {
      setError(errorText(err));
    }
  };
  const set = (name: string) => (e: Event) => setFilters({ ...filters, [name]: (e.target as HTMLInputElement).value });
  const select = (name: string, label: string, options: readonly string[]) =>
    h('div', {}, h('label', { for: `c-${name}` }, label), h('select', { id: `c-${name}`, value: filters[name] ?? '', onChange: set(name) }, h('option', { value: '' }, 'any'), options.map((o) => h('option', { value: o }, o))));

  return h(
    'div',
    { class: 'cases' },
    h(
      'form',
      {
        class: 'filters',
        onSubmit: (e: Event) => {
          e.preventDefault();
          void load();
        },
      },
      select('status', 'Status', ['open', 'justified', 'unjustified']),
      select('kind', 'Kind', ['break-glass', 'protection-change', 'detection']),
      h('div', {}, h('label', { for: 'c-patient' }, 'Patient id'), h('input', { id: 'c-patient', value: filters['patient'] ?? '', onInput: set('patient') })),
      h('div', {}, h('button', { type: 'submit' }, 'Show cases')),
    ),
    error ? h('p', { role: 'alert', class: 'error' }, error) : null,
    cases
      ? h(
          'table',
          { class: 'records' },
          h('caption', {}, `${cases.length} case${cases.length === 1 ? '' : 's'}, newest first`),
          h('thead', {}, h('tr', {}, ['Opened', 'Kind', 'Status', 'Severity', 'User', 'Patient', 'Why', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            cases.map((c) =>
              h(
                'tr',
                {},
                h('td', {}, new Date(c.openedAt).toLocaleString()),
                h('td', {}, c.kind),
                h('td', {}, c.status),
                h('td', {}, c.severity),
                h('td', {}, who(c.user)),
                h('td', {}, c.patient ?? '—'),
                h('td', {}, c.findings.map((f) => f.reason).join('; ')),
                h('td', {}, h('button', { type: 'button', onClick: () => void open(c.id) }, h('span', {}, 'Open'), h('span', { class: 'sr-only' }, ` case of ${who(c.user)}, opened ${new Date(c.openedAt).toLocaleString()}`))),
              ),
            ),
          ),
        )
      : null,
    detail
      ? h(CaseDetail, {
          detail,
          reviewer,
          onClosed: (d: Detail) => {
            setDetail(d);
            void load();
          },
        })
      : null,
  );
}

function CaseDetail(props: { readonly detail: Detail; readonly reviewer: boolean; readonly onClosed: (d: Detail) => void }) {
  const { case: c, trail } = props.detail;
  const [status, setStatus] = useState<'justified' | 'unjustified'>('justified');
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const close = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    try {
      await post(`/cases/${c.id}/close`, { status, note });
      props.onClosed(await get<Detail>(`/cases/${c.id}`));
    } catch (err) {
      setError(errorText(err));
    }
  };
  return h(
    'section',
    { 'aria-labelledby': 'case-title', class: 'detail' },
    h('h2', { id: 'case-title' }, `Case: ${c.kind}, ${c.status}`),
    h(
      'dl',
      { class: 'facts' },
      ...[
        ['User', `${who(c.user)}${c.user.roles.length ? ` (${c.user.roles.join(', ')})` : ''}`],
        ['Client', c.user.clientId ?? '—'],
        ['Patient', c.patient ?? '—'],
        ['Stated reason', c.statedReason ?? '—'],
        ['Released', c.released.map((r) => `${r.type} ${r.count}`).join(', ') || '—'],
        ['Opened', new Date(c.openedAt).toLocaleString()],
        ['Severity', c.severity],
      ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h('h3', {}, 'Findings'),
    h('ul', {}, c.findings.map((f) => h('li', {}, `${f.signal} (${f.severity}): ${f.reason}`))),
    h('h3', {}, 'Record trail'),
    h(
      'p',
      { class: trail.chain === null || trail.chain.ok ? 'allow' : 'deny' },
      trail.chain === null ? 'No record of this case is in the store.' : trail.chain.ok ? `Chain intact over ${trail.chain.checked} record${trail.chain.checked === 1 ? '' : 's'}.` : `CHAIN BROKEN: ${trail.chain.problem?.kind} at ${trail.chain.problem?.position}`,
    ),
    trail.missing.length > 0 ? h('p', { class: 'deny' }, `${trail.missing.length} record(s) the case names are not in the store.`) : null,
    h(
      'table',
      { class: 'records' },
      h('caption', {}, 'The records the findings name'),
      h('thead', {}, h('tr', {}, ['Time', 'User', 'Request', 'Decision', 'Reasons'].map((x) => h('th', { scope: 'col' }, x)))),
      h(
        'tbody',
        {},
        trail.records.map((r) =>
          h(
            'tr',
            {},
            h('td', {}, new Date(r.time).toLocaleString()),
            h('td', {}, r.user ?? '—'),
            h('td', {}, r.request ? `${r.request.method} ${[r.request.type, r.request.id].filter(Boolean).join('/')}` : '—'),
            h('td', { class: r.decision }, `${r.decision} (${r.status})${r.breakGlass ? ' break-the-glass' : ''}`),
            h('td', {}, r.reasons.join(' ')),
          ),
        ),
      ),
    ),
    h('h3', {}, 'Review'),
    c.transitions.length > 0 ? h('ul', { class: 'transitions' }, c.transitions.map((t) => h('li', {}, `${new Date(t.at).toLocaleString()}: ${t.from} → ${t.to} by ${t.reviewer}: ${t.note}`))) : null,
    c.status !== 'open'
      ? null
      : !props.reviewer
        ? h('p', {}, 'Open. Only a privacy officer can close it (your role reads only).')
        : h(
            'form',
            { class: 'review', onSubmit: close },
            h(
              'fieldset',
              {},
              h('legend', {}, 'Decision'),
              ...(['justified', 'unjustified'] as const).map((v) =>
                h('label', {}, h('input', { type: 'radio', name: 'review-status', value: v, checked: status === v, onChange: () => setStatus(v) }), ` ${v === 'justified' ? 'Justified' : 'Unjustified'}`),
              ),
            ),
            h('label', { for: 'review-note' }, 'Note'),
            h('textarea', { id: 'review-note', rows: 3, required: true, value: note, onInput: (e: Event) => setNote((e.target as HTMLTextAreaElement).value) }),
            error ? h('p', { role: 'alert', class: 'error' }, error) : null,
            h('div', { class: 'toolbar' }, h('button', { type: 'submit' }, 'Close case')),
          ),
  );
}
