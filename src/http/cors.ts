/**
 * CORS for browser SMART apps: which answers a page on another origin may read.
 *
 * Exact origins only (config `cors.allowedOrigins`), never a wildcard, never credentials (SMART
 * apps send their token in `Authorization`, not in cookies, so `Access-Control-Allow-Credentials`
 * is never sent). Preflights from an allowed origin are answered by the gateway itself, before
 * authentication (browsers send them without the token). An origin that is not allowed gets no
 * CORS header at all: its preflight falls through to the ordinary answer for OPTIONS (405), and its
 * simple requests are handled, and audited, like any other; the browser then keeps the answer from
 * the page. Pure: headers in, headers out.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface CorsOptions {
  readonly allowedOrigins: readonly string[];
  readonly maxAgeSeconds: number;
}

/** What FHIR clients send: the token (Bearer or DPoP), content, preferences and preconditions. */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'DPoP', 'Content-Type', 'Accept', 'Prefer', 'If-Match', 'If-None-Match', 'If-None-Exist', 'If-Modified-Since', 'X-Request-Id'];
export const CORS_ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** What clients need to read from answers: where a create went, versions, challenges, the request id. */
export const CORS_EXPOSED_HEADERS = ['Location', 'ETag', 'Content-Location', 'Last-Modified', 'WWW-Authenticate', 'X-Request-Id', 'Retry-After', 'DPoP-Nonce'];

export type CorsAnswer =
  /** Not a cross-origin request, or an origin that is not allowed: no CORS headers. */
  | { readonly kind: 'none'; readonly headers: Readonly<Record<string, string>> }
  /** An allowed origin's actual request: these headers on whatever the answer is. */
  | { readonly kind: 'actual'; readonly headers: Readonly<Record<string, string>> }
  /** An allowed origin's preflight: answered 204 with these headers, nothing else happens. */
  | { readonly kind: 'preflight'; readonly headers: Readonly<Record<string, string>> };

export function createCors(options: CorsOptions): (method: string, headers: IncomingHttpHeaders) => CorsAnswer {
  const allowed = new Set(options.allowedOrigins);
  // Answers differ by Origin whenever CORS is configured: caches must key on it.
  const vary: Record<string, string> = allowed.size > 0 ? { vary: 'Origin' } : {};
  const actual = { 'access-control-expose-headers': CORS_EXPOSED_HEADERS.join(', ') };
  const preflight = {
    'access-control-allow-methods': CORS_ALLOWED_METHODS.join(', '),
    'access-control-allow-headers': CORS_ALLOWED_HEADERS.join(', '),
    'access-control-max-age': String(options.maxAgeSeconds),
  };
  return (method, headers) => {
    const origin = headers['origin'];
    if (typeof origin !== 'string' || !allowed.has(origin)) return { kind: 'none', headers: vary };
    const base = { ...vary, 'access-control-allow-origin': origin };
    if (method === 'OPTIONS' && typeof headers['access-control-request-method'] === 'string') return { kind: 'preflight', headers: { ...base, ...preflight } };
    return { kind: 'actual', headers: { ...base, ...actual } };
  };
}
