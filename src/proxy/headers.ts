/**
 * Headers crossing the gateway, by allow-list in both directions. Everything not listed stays
 * behind: the client's token (unless configured), cookies, `X-Forwarded-*`/`Forwarded`,
 * method-override headers, hop-by-hop headers; and from the upstream, server banners and cookies.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { LinkRewriter } from '../fhir/links.js';

/**
 * Client headers with a FHIR meaning that the upstream needs (conditional reads and writes, Prefer).
 * `If-None-Exist` is not among them: it is a search, checked and rebuilt like one by the pipeline.
 */
const FROM_CLIENT = ['if-match', 'if-none-match', 'if-modified-since', 'prefer'] as const;

export const GATEWAY_USER_AGENT = 'fhir-privacy-gateway';

export function upstreamRequestHeaders(
  client: IncomingHttpHeaders,
  requestId: string,
  body: { contentType: string; length: number } | null,
): Record<string, string> {
  const headers: Record<string, string> = {
    accept: 'application/fhir+json',
    // Ask for identity; a server that compresses anyway is decoded (bounded) before enforcement.
    'accept-encoding': 'identity',
    'user-agent': GATEWAY_USER_AGENT,
    'x-request-id': requestId,
  };
  const hopByHop = connectionListed(client);
  for (const name of FROM_CLIENT) {
    if (hopByHop.has(name)) continue;
    const value = client[name];
    // CR/LF cannot reach here (Node's parser refuses them), but a value must still be one line.
    if (typeof value === 'string' && !/[\r\n]/.test(value)) headers[name] = value;
  }
  if (body) {
    headers['content-type'] = body.contentType;
    headers['content-length'] = String(body.length);
  }
  return headers;
}

/**
 * Names a message's `Connection` header lists: hop-by-hop for this connection only (RFC 9110
 * section 7.6.1), so never passed on, even when they are otherwise allowed through.
 */
function connectionListed(headers: IncomingHttpHeaders): ReadonlySet<string> {
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
