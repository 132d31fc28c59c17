/** The console's JSON API (docs/console.md), as the pages call it: same origin, session cookie, CSRF header. */

export interface SessionInfo {
  readonly user: { readonly sub: string; readonly name: string; readonly iss: string };
  readonly roles: readonly string[];
  readonly csrfToken: string;
  readonly expiresAt: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';

export async function session(): Promise<SessionInfo | null> {
  const res = await fetch('/api/session', { credentials: 'same-origin' });
  if (res.status === 401) return null;
  if (!res.ok) throw new ApiError(res.status, 'error', `session: ${res.status}`);
  const s = (await res.json()) as SessionInfo;
  csrf = s.csrfToken;
  return s;
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json()) as T & { error?: string; message?: string; detail?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? 'error', [body.message, body.detail].filter(Boolean).join(' ') || `HTTP ${res.status}`);
  return body;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(`/api${path}`, { credentials: 'same-origin' }));
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(await fetch(`/api${path}`, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(body) }));
}

export async function logout(): Promise<void> {
  await fetch('/logout', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': csrf } });
}
