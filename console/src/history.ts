/**
 * Patient access history: GET /api/access-history (what the patient sees in their own history at
 * <base>/AuditEvent, and beside it the staff names only the privacy office sees), and the
 * accounting of disclosures exported from GET /api/access-history/disclosures as CSV or PDF.
 */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { get } from './api.js';

interface Entry {
  readonly id: string;
  readonly time: string;
  readonly action: string | null;
  readonly outcome: string;
  readonly released: readonly { readonly type: string; readonly count: number }[];
  readonly withheld: boolean;
  readonly patientSees: { readonly who: string | null; readonly roles: readonly string[] } | null;
  readonly staff: { readonly name: string | null; readonly client: string | null; readonly roles: readonly string[] };
  readonly breakGlass: boolean;
}

interface History {
  readonly patient: string;
  readonly from: string;
  readonly to: string;
  readonly patientAccess: { readonly staff: string; readonly organisation: string } | null;
  readonly entries: readonly Entry[];
  readonly truncated: boolean;
}

export const today = (): string => new Date().toISOString().slice(0, 10);
export const daysAgo = (n: number): string => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function AccessHistory() {
  const [patient, setPatient] = useState('');
  const [from, setFrom] = useState(daysAgo(30));
  const [to, setTo] = useState(today());
  const [tpo, setTpo] = useState(true);
  const [history, setHistory] = useState<History | null>(null);
  const [error, setError] = useState<string | null>(null);

  const show = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    try {
      setHistory(await get<History>(`/access-history?${new URLSearchParams({ patient, from, to })}`));
    } catch (err) {
      setError(errorText(err));
      setHistory(null);
    }
  };
  const value = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  const exportUrl = (h0: History, format: string): string => `/api/access-history/disclosures?${new URLSearchParams({ patient: h0.patient, from, to, format, includeTpo: String(tpo) })}`;

  return h(
    'div',
    { class: 'history' },
    h(
      'form',
      { class: 'filters', onSubmit: show },
      h('div', {}, h('label', { for: 'h-patient' }, 'Patient id'), h('input', { id: 'h-patient', required: true, value: patient, onInput: value(setPatient) })),
      h('div', {}, h('label', { for: 'h-from' }, 'From (date)'), h('input', { id: 'h-from', type: 'date', required: true, value: from, onInput: value(setFrom) })),
      h('div', {}, h('label', { for: 'h-to' }, 'To (date, included)'), h('input', { id: 'h-to', type: 'date', required: true, value: to, onInput: value(setTo) })),
      h('div', {}, h('button', { type: 'submit' }, 'Show access history')),
    ),
    error ? h('p', { role: 'alert', class: 'error' }, error) : null,
    history ? historyView(history, tpo, setTpo, exportUrl) : null,
  );
}

function historyView(hist: History, tpo: boolean, setTpo: (v: boolean) => void, exportUrl: (h0: History, format: string) => string) {
  const a = hist.patientAccess;
  return h(
    'section',
    { 'aria-labelledby': 'history-result', 'aria-live': 'polite' },
    h('h2', { id: 'history-result' }, `Access history of patient ${hist.patient}: ${hist.entries.length} entr${hist.entries.length === 1 ? 'y' : 'ies'}${hist.truncated ? ' (the first ones only: narrow the period)' : ''}`),
    h(
      'p',
      {},
      a === null
        ? 'Under the active policy this patient cannot read their own history.'
        : `The patient sees staff ${a.staff === 'names' ? 'by name' : `by role, as "${a.organisation}"`}; the column "Staff (privacy office only)" is what only the office sees.`,
    ),
    h(
      'div',
      { class: 'toolbar' },
      h('span', {}, 'Accounting of disclosures:'),
      h('a', { class: 'button', href: exportUrl(hist, 'csv'), download: '' }, 'Download CSV'),
      h('a', { class: 'button', href: exportUrl(hist, 'pdf'), download: '' }, 'Download PDF'),
      h('label', {}, h('input', { type: 'checkbox', checked: tpo, onChange: (e: Event) => setTpo((e.target as HTMLInputElement).checked) }), ' include treatment, payment and operations'),
    ),
    h(
      'table',
      { class: 'records' },
      h('caption', {}, 'Newest first'),
      h('thead', {}, h('tr', {}, ['Time', 'Access', 'Released of this patient', 'The patient sees', 'Staff (privacy office only)', 'Client'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        hist.entries.map((e) =>
          h(
            'tr',
            {},
            h('td', {}, new Date(e.time).toLocaleString()),
            h('td', {}, `${e.action ?? '—'}${e.breakGlass ? ' (break-the-glass)' : ''}`),
            h('td', {}, e.released.length > 0 ? e.released.map((r) => `${r.type} ${r.count}`).join(', ') : e.withheld ? 'withheld' : '—'),
            h('td', {}, e.patientSees ? `${e.patientSees.who ?? '—'}${e.patientSees.roles.length ? ` (${e.patientSees.roles.join(', ')})` : ''}` : 'not shown'),
            h('td', {}, `${e.staff.name ?? '—'}${e.staff.roles.length ? ` (${e.staff.roles.join(', ')})` : ''}`),
            h('td', {}, e.staff.client ?? '—'),
          ),
        ),
      ),
    ),
  );
}
