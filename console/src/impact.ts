/**
 * Impact: POST /api/impact. Choose a window of the trail and a candidate policy tree (a folder of
 * Rego and data files), replay the window against the active bundle and the candidate (`policy
 * diff`), and see every decision that changes, counted by reason, role, resource type and interaction.
 * A policy author may then ship the candidate in shadow mode (POST /api/impact/ship), where the
 * deployment allows it (GET /api/impact/shadow says whether, and why not).
 */
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, post } from './api.js';

interface ShadowInfo {
  readonly available: boolean;
  readonly reason: string | null;
  readonly bundle: string | null;
}

interface Change {
  readonly id: string;
  readonly time: string;
  readonly request: string;
  readonly who: string;
  readonly before: { readonly allow: boolean; readonly reasons: readonly string[] };
  readonly after: { readonly allow: boolean; readonly reasons: readonly string[] };
}

interface Report {
  readonly baseline: string;
  readonly candidate: string;
  readonly read: number;
  readonly replayed: number;
  readonly changes: readonly Change[];
  readonly groups: Readonly<Record<'reason' | 'role' | 'type' | 'interaction', Readonly<Record<string, number>>>>;
}

function local(d: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function Impact(props: { readonly roles: readonly string[] }) {
  const [from, setFrom] = useState(local(new Date(Date.now() - 3600_000)));
  const [before, setBefore] = useState(local(new Date(Date.now() + 60_000)));
  const [files, setFiles] = useState<Record<string, string> | null>(null);
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [shadow, setShadow] = useState<ShadowInfo | null>(null);
  const [shipped, setShipped] = useState<string | null>(null);
  const author = props.roles.includes('policy-author');
  useEffect(() => {
    get<ShadowInfo>('/impact/shadow').then(setShadow, () => setShadow({ available: false, reason: 'the console could not tell whether this deployment has a shadow bundle', bundle: null }));
  }, []);

  const ship = async (): Promise<void> => {
    setError(null);
    setShipped(null);
    if (!files) {
      setError('Choose the candidate policy folder first.');
      return;
    }
    setBusy(true);
    try {
      const r = await post<{ revision: string; bundle: string }>('/impact/ship', { candidate: { files } });
      setShipped(`Shipped revision ${r.revision} as the shadow bundle (${r.bundle}): the gateway loads it beside the enforcing bundle and counts every decision it would change (fhirgw_shadow_disagreements_total).`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const pick = async (e: Event): Promise<void> => {
    const list = (e.target as HTMLInputElement).files;
    if (!list) return;
    const out: Record<string, string> = {};
    for (const f of Array.from(list)) {
      // The folder's own name is dropped: paths are relative to the policy tree.
      const rel = (f.webkitRelativePath || f.name).split('/').slice(1).join('/') || f.name;
      if (/\.(rego|json)$/.test(rel) && !rel.endsWith('_test.rego') && !rel.startsWith('dist/') && !rel.startsWith('tests/')) out[rel] = await f.text();
    }
    setFiles(out);
  };

  const run = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    if (!files) {
      setError('Choose the candidate policy folder first.');
      return;
    }
    setBusy(true);
    try {
      setReport(await post<Report>('/impact', { from: new Date(from).toISOString(), before: new Date(before).toISOString(), candidate: { files } }));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return h(
    'div',
    { class: 'impact' },
    h(
      'form',
      { class: 'filters', onSubmit: run },
      h('div', {}, h('label', { for: 'i-from' }, 'From'), h('input', { id: 'i-from', type: 'datetime-local', value: from, onInput: (e: Event) => setFrom((e.target as HTMLInputElement).value) })),
      h('div', {}, h('label', { for: 'i-before' }, 'Before'), h('input', { id: 'i-before', type: 'datetime-local', value: before, onInput: (e: Event) => setBefore((e.target as HTMLInputElement).value) })),
      h('div', {}, h('label', { for: 'i-files' }, 'Candidate policy folder'), h('input', { id: 'i-files', type: 'file', webkitdirectory: true, multiple: true, onChange: (e: Event) => void pick(e) })),
      h('div', {}, h('button', { type: 'submit', disabled: busy }, busy ? 'Replaying…' : 'Replay against the candidate')),
    ),
    files ? h('p', {}, `${Object.keys(files).length} source files chosen.`) : null,
    author && shadow
      ? h(
          'div',
          { class: 'toolbar' },
          h('button', { type: 'button', disabled: busy || !shadow.available || !files, 'aria-describedby': 'ship-note', onClick: () => void ship() }, 'Ship in shadow mode'),
          h('span', { id: 'ship-note' }, shadow.available ? (files ? `Writes the candidate as the shadow bundle (${shadow.bundle}); nothing is enforced by it.` : 'Choose the candidate folder to ship it.') : `Not available here: ${shadow.reason}.`),
        )
      : null,
    shipped ? h('p', { role: 'status', class: 'allow' }, shipped) : null,
    error ? h('p', { role: 'alert', class: 'error' }, error) : null,
    report ? reportView(report) : null,
  );
}

function reportView(r: Report) {
  const group = (title: string, g: Readonly<Record<string, number>>) =>
    h('div', { class: 'card' }, h('span', { class: 'label' }, title), h('ul', {}, Object.entries(g).map(([k, n]) => h('li', {}, `${k}: ${n}`))));
  return h(
    'section',
    { 'aria-labelledby': 'impact-result', 'aria-live': 'polite' },
    h('h2', { id: 'impact-result' }, `${r.changes.length} decision${r.changes.length === 1 ? '' : 's'} change (replayed ${r.replayed} of ${r.read} records; ${r.baseline} → ${r.candidate})`),
    h('div', { class: 'cards' }, group('By reason', r.groups.reason), group('By role', r.groups.role), group('By resource type', r.groups.type), group('By interaction', r.groups.interaction)),
    h(
      'table',
      { class: 'records' },
      h('caption', {}, 'Changed decisions'),
      h('thead', {}, h('tr', {}, ['Time', 'Request', 'Who', 'Before', 'After'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        r.changes.map((c) =>
          h(
            'tr',
            {},
            h('td', {}, new Date(c.time).toLocaleString()),
            h('td', {}, c.request),
            h('td', {}, c.who),
            h('td', { class: c.before.allow ? 'allow' : 'deny' }, `${c.before.allow ? 'allow' : 'deny'} ${c.before.reasons.join(' ')}`),
            h('td', { class: c.after.allow ? 'allow' : 'deny' }, `${c.after.allow ? 'allow' : 'deny'} ${c.after.reasons.join(' ')}`),
          ),
        ),
      ),
    ),
  );
}
