/**
 * Headers crossing the gateway, by allow-list in both directions. Everything not listed stays
 * behind: the client's token (unless configured), cookies, `X-Forwarded-*`/`Forwarded`,
 * method-override headers, hop-by-hop headers; and from the upstream, server banners and cookies.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { LinkRewriter } from '../fhir/links.js';

export const GATEWAY_USER_AGENT = 'fhir-privacy-gateway';

/**
 * The headers of a request the gateway sends upstream. No client header is copied: the
 * preconditions the upstream sees are the gateway's own (`If-Match` pinned to the version policy
 * judged), conditional reads are answered by the gateway after policy (an upstream 304 would
 * answer before any decision), and `Prefer` is passed only as the tokens below.
 */
export function upstreamRequestHeaders(
  requestId: string,
  body: { contentType: string; length: number } | null,
  conditions: { readonly ifMatch: string | null; readonly prefer: string | null },
): Record<string, string> {
  const headers: Record<string, string> = {
    accept: 'application/fhir+json',
    // Ask for identity; a server that compresses anyway is decoded (bounded) before enforcement.
    'accept-encoding': 'identity',
    'user-agent': GATEWAY_USER_AGENT,
    'x-request-id': requestId,
  };
  if (conditions.ifMatch !== null) headers['if-match'] = conditions.ifMatch;
  if (conditions.prefer !== null) headers['prefer'] = conditions.prefer;
  if (body) {
    headers['content-type'] = body.contentType;
    headers['content-length'] = String(body.length);
  }
  return headers;
}

/**
 * `Prefer` tokens passed upstream: the representation a write answers with, strict or lenient
 * search handling, and asynchronous Bulk Data kick-off. `return=OperationOutcome` is not among them:
 * the upstream's outcome text is never released.
 */
const PREFER_TOKENS = new Set(['return=minimal', 'return=representation', 'handling=strict', 'handling=lenient', 'respond-async']);

export function preferOf(value: string | string[] | undefined, hopByHop: ReadonlySet<string> = new Set()): string | null {
  if (value === undefined || hopByHop.has('prefer')) return null;
  const tokens = (Array.isArray(value) ? value.join(',') : value)
    .split(/[,;]/)
    .map((t) => t.trim().toLowerCase().replace(/\s*=\s*/, '='))
    .filter((t) => PREFER_TOKENS.has(t));
  return tokens.length > 0 ? [...new Set(tokens)].join(', ') : null;
}

/**
 * Names a message's `Connection` header lists: hop-by-hop for this connection only (RFC 9110
 * section 7.6.1), so never passed on, even when they are otherwise allowed through.
 */
export function connectionListed(headers: IncomingHttpHeaders): ReadonlySet<string> {
  const value = headers['connection'];
  if (value === undefined) return new Set();
  return new Set((Array.isArray(value) ? value.join(',') : value).split(',').map((n) => n.trim().toLowerCase()));
}

/** Upstream response headers released to the client, with URLs rewritten to the public base. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders, links: LinkRewriter): Record<string, string> {
  const out: Record<string, string> = {};
  const hopByHop = connectionListed(upstream);
  for (const name of ['etag', 'last-modified'] as const) {
    const v = upstream[name];
    if (typeof v === 'string' && !hopByHop.has(name)) out[name] = v;
  }
  for (const name of ['location', 'content-location'] as const) {
    if (hopByHop.has(name)) continue;
    const v = upstream[name];
    const url = typeof v === 'string' ? links.toPublic(v) : null;
    if (url !== null) out[name] = url;
  }
  return out;
}

/** Headers on every FHIR answer: PHI must not be cached or sniffed. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};
