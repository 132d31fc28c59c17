/**
 * Console sessions: server-side, in memory, keyed by a random id that only the session cookie holds.
 *
 * - The cookie is HttpOnly, SameSite=Strict, Path=/, Secure unless the console is on loopback, and
 *   carries no data but the id; it expires with the session (Max-Age), which is not extended by use.
 * - Login always makes a new id (a fixated or stolen pre-login id is worth nothing afterwards).
 * - Each session has its own CSRF token, required in `x-csrf-token` on every state change.
 *
 * Sessions live in this process: a user signs in again after a restart or on another replica
 * (docs/console.md). The pending logins (PKCE verifier, state, nonce) are held the same way.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'fhirgw_console';
export const LOGIN_COOKIE = 'fhirgw_console_login';

export interface ConsoleUser {
  readonly iss: string;
  readonly sub: string;
  /** The console's OIDC client: the client the user's actions are recorded under. */
  readonly client: string;
  /** What the ID token calls the user (name, else preferred_username, else sub). */
  readonly name: string;
  readonly roles: readonly ConsoleRole[];
  /** All roles the token carried, console or not (recorded in the audit trail). */
  readonly tokenRoles: readonly string[];
}

export const CONSOLE_ROLES = ['privacy-officer', 'policy-author', 'auditor'] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];

export interface Session {
  readonly id: string;
  readonly user: ConsoleUser;
  readonly csrf: string;
  readonly expiresAt: number;
}

export interface PendingLogin {
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
  readonly expiresAt: number;
}

const PENDING_LOGIN_MS = 10 * 60 * 1000;
const MAX_PENDING = 10_000;

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  private readonly pending = new Map<string, PendingLogin>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session for a user who just signed in; `previous` (the id the browser had) is ended. */
  create(user: ConsoleUser, previous: string | undefined): Session {
    if (previous !== undefined) this.sessions.delete(previous);
    this.sweep();
    const session: Session = { id: token(), user, csrf: token(), expiresAt: this.now() + this.ttlMs };
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string | undefined): Session | null {
    if (id === undefined) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return null;
    }
    return s;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Remembers a login in progress under a new id (the login cookie's value). */
  startLogin(login: Omit<PendingLogin, 'expiresAt'>): string {
    this.sweep();
    // Bounded: anyone can start logins, and each costs memory until it expires.
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
    const id = token();
    this.pending.set(id, { ...login, expiresAt: this.now() + PENDING_LOGIN_MS });
    return id;
  }

  /** The login in progress, once: a callback cannot be replayed with the same login cookie. */
  takeLogin(id: string | undefined): PendingLogin | null {
    if (id === undefined) return null;
    const login = this.pending.get(id);
    this.pending.delete(id);
    return login && login.expiresAt > this.now() ? login : null;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
    for (const [id, p] of this.pending) if (p.expiresAt <= now) this.pending.delete(id);
  }
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: Session, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface CookieOptions {
  readonly secure: boolean;
  readonly maxAgeSeconds: number;
  /** Strict for the session; Lax for the login cookie, which must come back on the IdP's redirect. */
  readonly sameSite: 'Strict' | 'Lax';
  readonly path?: string;
}

export function setCookie(name: string, value: string, o: CookieOptions): string {
  return [`${name}=${value}`, `Path=${o.path ?? '/'}`, `Max-Age=${o.maxAgeSeconds}`, 'HttpOnly', `SameSite=${o.sameSite}`, ...(o.secure ? ['Secure'] : [])].join('; ');
}

export function clearCookie(name: string, o: Omit<CookieOptions, 'maxAgeSeconds'>): string {
  return setCookie(name, '', { ...o, maxAgeSeconds: 0 });
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
