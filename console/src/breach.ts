/**
 * Breach scope: GET /api/breach-scope. A subject, client, token or address and a period give the
 * affected patients with what was released, and the chain verification of the records read; CSV
 * export; and "Revoke now" (POST /api/breach-scope/revoke), which asks for confirmation first and
 * revokes through the gateway's own revocation list.
 */
import { h } from 'preact';
import { useState } from 'preact/hooks';
import { get, post } from './api.js';
import { daysAgo, errorText, today } from './history.js';

type Kind = 'subject' | 'client' | 'jti' | 'address';

interface Scope {
  readonly patients: readonly { readonly patient: string; readonly released: readonly { readonly type: string; readonly count: number }[]; readonly firstAccess: string; readonly lastAccess: string; readonly records: number }[];
  readonly totals: { readonly patients: number; readonly records: number; readonly releasingRecords: number; readonly resources: number; readonly cappedRecords: number; readonly unnamedPatients: number };
  readonly chain: { readonly ok: boolean; readonly checked: number; readonly problem: { readonly kind: string; readonly position: string; readonly detail: string } | null } | null;
  readonly revocable: boolean;
  readonly issuers: readonly string[];
}

const KINDS: readonly { value: Kind; label: string; hint: string }[] = [
  { value: 'subject', label: 'Subject', hint: '<issuer> <subject>' },
  { value: 'client', label: 'Client', hint: 'client id' },
  { value: 'jti', label: 'Token (jti)', hint: 'token id' },
  { value: 'address', label: 'Address', hint: 'IP address' },
];

export function BreachScope() {
  const [kind, setKind] = useState<Kind>('subject');
  const [value, setValue] = useState('');
  const [from, setFrom] = useState(daysAgo(7));
  const [to, setTo] = useState(today());
  const [scope, setScope] = useState<{ query: URLSearchParams; kind: Kind; value: string; result: Scope } | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [iss, setIss] = useState('');
  const [revoked, setRevoked] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const find = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    setConfirming(false);
    setRevoked(null);
    const query = new URLSearchParams({ [kind]: value, from, to });
    try {
      const result = await get<Scope>(`/breach-scope?${query}`);
      setScope({ query, kind, value, result });
      setIss(result.issuers[0] ?? '');
    } catch (err) {
      setError(errorText(err));
      setScope(null);
    }
  };
  const revoke = async (): Promise<void> => {
    if (!scope) return;
    setError(null);
    try {
      const body = { [scope.kind]: scope.value, ...(scope.kind !== 'subject' && iss ? { iss } : {}), confirm: true };
      const r = await post<{ revoked: string; iss: string }>('/breach-scope/revoke', body);
      setRevoked(`Revoked: every token of this ${r.revoked === 'sub' ? 'subject' : r.revoked === 'client_id' ? 'client' : 'token id'} issued by ${r.iss} until now is refused by the gateway.`);
      setConfirming(false);
    } catch (err) {
      setError(errorText(err));
    }
  };
  const hint = KINDS.find((k) => k.value === kind)?.hint ?? '';

  return h(
    'div',
    { class: 'breach' },
    h(
      'form',
      { class: 'filters', onSubmit: find },
      h(
        'div',
        {},
        h('label', { for: 'b-kind' }, 'Search by'),
        h('select', { id: 'b-kind', value: kind, onChange: (e: Event) => setKind((e.target as HTMLSelectElement).value as Kind) }, KINDS.map((k) => h('option', { value: k.value }, k.label))),
      ),
      h('div', {}, h('label', { for: 'b-value' }, `Value (${hint})`), h('input', { id: 'b-value', required: true, value, onInput: (e: Event) => setValue((e.target as HTMLInputElement).value) })),
      h('div', {}, h('label', { for: 'b-from' }, 'From (date)'), h('input', { id: 'b-from', type: 'date', required: true, value: from, onInput: (e: Event) => setFrom((e.target as HTMLInputElement).value) })),
      h('div', {}, h('label', { for: 'b-to' }, 'To (date, included)'), h('input', { id: 'b-to', type: 'date', required: true, value: to, onInput: (e: Event) => setTo((e.target as HTMLInputElement).value) })),
      h('div', {}, h('button', { type: 'submit' }, 'Find affected patients')),
    ),
    error ? h('p', { role: 'alert', class: 'error' }, error) : null,
    scope ? scopeView(scope, { confirming, setConfirming, iss, setIss, revoke, revoked }) : null,
  );
}

interface RevokeState {
  readonly confirming: boolean;
  readonly setConfirming: (v: boolean) => void;
  readonly iss: string;
  readonly setIss: (v: string) => void;
  readonly revoke: () => Promise<void>;
  readonly revoked: string | null;
}

function scopeView(s: { query: URLSearchParams; kind: Kind; value: string; result: Scope }, r: RevokeState) {
  const { totals, chain } = s.result;
  const csv = new URLSearchParams(s.query);
  csv.set('format', 'csv');
  return h(
    'section',
    { 'aria-labelledby': 'breach-result', 'aria-live': 'polite' },
    h('h2', { id: 'breach-result' }, `${totals.patients} affected patient${totals.patients === 1 ? '' : 's'} (${totals.resources} resources released in ${totals.releasingRecords} of ${totals.records} records)`),
    totals.cappedRecords > 0 ? h('p', { class: 'deny' }, `${totals.cappedRecords} records name only part of what they released: ${totals.unnamedPatients} patients are not named here.`) : null,
    h('h3', {}, 'Chain verification'),
    h(
      'p',
      { class: chain === null || chain.ok ? 'allow' : 'deny' },
      chain === null ? 'No records to verify.' : chain.ok ? `Chain intact over ${chain.checked} record${chain.checked === 1 ? '' : 's'}.` : `CHAIN BROKEN: ${chain.problem?.kind} at ${chain.problem?.position}: ${chain.problem?.detail}`,
    ),
    h('div', { class: 'toolbar' }, h('a', { class: 'button', href: `/api/breach-scope?${csv}`, download: '' }, 'Download CSV')),
    h(
      'table',
      { class: 'records' },
      h('caption', {}, 'Affected patients, by first access'),
      h('thead', {}, h('tr', {}, ['Patient', 'Released', 'First access', 'Last access', 'Records'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        s.result.patients.map((p) =>
          h('tr', {}, h('td', {}, p.patient), h('td', {}, p.released.map((x) => `${x.type} ${x.count}`).join(', ')), h('td', {}, new Date(p.firstAccess).toLocaleString()), h('td', {}, new Date(p.lastAccess).toLocaleString()), h('td', {}, String(p.records))),
        ),
      ),
    ),
    revokeView(s, r),
  );
}

function revokeView(s: { kind: Kind; value: string; result: Scope }, r: RevokeState) {
  if (r.revoked) return h('p', { role: 'status', class: 'allow' }, r.revoked);
  if (s.kind === 'address') return h('p', {}, 'An address is not a credential and cannot be revoked: block it at the network edge.');
  if (!s.result.revocable) return h('p', {}, 'Revocation is not available here.');
  if (!r.confirming) return h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'danger', onClick: () => r.setConfirming(true) }, 'Revoke now'));
  const what = s.kind === 'subject' ? `every token of the subject ${s.value}` : s.kind === 'client' ? `every token issued to the client ${s.value}` : `the token ${s.value}`;
  return h(
    'section',
    { class: 'confirm', role: 'group', 'aria-labelledby': 'confirm-title' },
    h('h3', { id: 'confirm-title' }, 'Confirm the revocation'),
    h('p', {}, `This revokes ${what} issued until now: the gateway refuses them from the next request on (new logins after now are not affected).`),
    s.kind !== 'subject' && s.result.issuers.length > 1
      ? h('div', {}, h('label', { for: 'b-iss' }, 'Issuer'), h('select', { id: 'b-iss', value: r.iss, onChange: (e: Event) => r.setIss((e.target as HTMLSelectElement).value) }, s.result.issuers.map((i) => h('option', { value: i }, i))))
      : null,
    h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'danger', onClick: () => void r.revoke() }, 'Confirm revocation'), h('button', { type: 'button', class: 'secondary', onClick: () => r.setConfirming(false) }, 'Cancel')),
  );
}
