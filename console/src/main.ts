/**
 * The console's pages (Preact, no JSX: `h` calls keep the build free of a JSX transform). Each
 * page is built on one documented API call; navigation is by hash, so every page has a URL and
 * the browser's back button works. Everything is reachable by keyboard: native links, buttons
 * and form controls only, visible focus, headings and labels for screen readers.
 */
import { h, render, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { logout, session, type SessionInfo } from './api.js';
import { BreachScope } from './breach.js';
import { Cases } from './cases.js';
import { Decisions } from './decisions.js';
import { AccessHistory } from './history.js';
import { Impact } from './impact.js';
import { Overview } from './overview.js';
import { Playground } from './playground.js';
import './style.css';

interface Page {
  readonly id: string;
  readonly title: string;
  readonly roles: readonly string[];
  readonly view: (s: SessionInfo) => ComponentChildren;
}

const PAGES: readonly Page[] = [
  { id: 'overview', title: 'Overview', roles: ['privacy-officer', 'policy-author', 'auditor'], view: () => h(Overview, {}) },
  { id: 'decisions', title: 'Decisions', roles: ['privacy-officer', 'auditor'], view: () => h(Decisions, {}) },
  { id: 'access-history', title: 'Access history', roles: ['privacy-officer', 'auditor'], view: () => h(AccessHistory, {}) },
  { id: 'breach-scope', title: 'Breach scope', roles: ['privacy-officer'], view: () => h(BreachScope, {}) },
  { id: 'cases', title: 'Cases', roles: ['privacy-officer', 'auditor'], view: (s) => h(Cases, { roles: s.roles }) },
  { id: 'playground', title: 'Policy playground', roles: ['policy-author'], view: () => h(Playground, {}) },
  { id: 'impact', title: 'Impact', roles: ['policy-author', 'privacy-officer'], view: (s) => h(Impact, { roles: s.roles }) },
];

function currentPage(): string {
  return location.hash.replace(/^#\/?/, '').split('?')[0] || 'overview';
}

function App() {
  const [s, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [page, setPage] = useState(currentPage());
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    session().then(setSession, (e: unknown) => setError(String(e)));
    const onHash = (): void => setPage(currentPage());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (error) return h('main', { id: 'main' }, h('p', { role: 'alert' }, error));
  if (s === undefined) return h('main', { id: 'main' }, h('p', {}, 'Loading…'));
  if (s === null) {
    return h(
      'main',
      { id: 'main', class: 'signin' },
      h('h1', {}, 'FHIR privacy gateway console'),
      h('p', {}, 'For privacy officers, policy authors and auditors. Sign in with your hospital account.'),
      h('a', { class: 'button', href: '/login' }, 'Sign in'),
    );
  }
  const allowed = PAGES.filter((p) => p.roles.some((r) => s.roles.includes(r)));
  const active = allowed.find((p) => p.id === page) ?? allowed[0];
  return h(
    'div',
    { class: 'layout' },
    h('a', { class: 'skip', href: '#main', onClick: (e: Event) => (e.preventDefault(), document.getElementById('main')?.focus()) }, 'Skip to content'),
    h(
      'header',
      {},
      h('span', { class: 'brand' }, 'Privacy gateway console'),
      h(
        'nav',
        { 'aria-label': 'Pages' },
        h('ul', {}, ...allowed.map((p) => h('li', {}, h('a', { href: `#/${p.id}`, 'aria-current': p === active ? 'page' : undefined }, p.title)))),
      ),
      h(
        'div',
        { class: 'user' },
        h('span', {}, `${s.user.name} (${s.roles.join(', ') || 'no console role'})`),
        h('button', { type: 'button', onClick: () => void logout().then(() => location.assign('/')) }, 'Sign out'),
      ),
    ),
    h(
      'main',
      { id: 'main', tabIndex: -1 },
      active ? [h('h1', {}, active.title), active.view(s)] : h('p', {}, 'Your account has no console role (privacy-officer, policy-author or auditor).'),
    ),
  );
}

render(h(App, {}), document.getElementById('app')!);
