/**
 * FHIR Bulk Data through the gateway.
 *
 *   kick-off  GET [base]/$export (or Patient/, Group/[id]/): authorised by policy, forwarded; the
 *             upstream's 202 Content-Location becomes the gateway's own `$bulk-status?job=<token>`.
 *   status    GET [base]/$bulk-status?job=: the gateway polls the upstream URL the token names and
 *             rewrites the manifest: every file URL becomes `$bulk-file?file=<token>`.
 *             DELETE cancels the export upstream.
 *   file      GET [base]/$bulk-file?file=: the upstream file streamed through the per-resource
 *             decisions and redaction, line by line (see ndjson.ts).
 *
 * Upstream URLs are followed only on the upstream's origin or on origins named in config
 * (bulk.fileOrigins, for servers that put files in object storage).
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { GatewayError } from '../errors.js';
import { upstreamFailure } from '../errors-upstream.js';
import { traceHeaders, type TraceContext } from '../observability/trace-context.js';
import { GATEWAY_USER_AGENT } from '../proxy/headers.js';
import type { UpstreamAccess } from '../proxy/upstream-access.js';
import type { BulkLinkTokens, LinkOwner } from './link-tokens.js';

export interface BulkDeps {
  readonly tokens: BulkLinkTokens;
  readonly publicBase: string;
  readonly upstreamBase: string;
  /** Origins besides the upstream's from which status and file URLs may be fetched. */
  readonly fileOrigins: readonly string[];
  readonly timeoutMs: number;
  readonly maxManifestBytes: number;
  /** TLS and credentials for the upstream's origin; other origins (object storage) get neither. */
  readonly access: UpstreamAccess;
}

export interface BulkAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/** The upstream accepted the export: its status URL is replaced by the gateway's own. */
export async function kickoffAnswer(deps: BulkDeps, upstreamStatus: number, contentLocation: string | undefined, owner: LinkOwner): Promise<BulkAnswer> {
  if (upstreamStatus >= 400) throw statusError(upstreamStatus);
  if (upstreamStatus !== 202 || contentLocation === undefined) throw new GatewayError('upstream_bad_response', { reasons: ['bulk.kickoff-not-accepted'] });
  const statusUrl = followable(deps, new URL(contentLocation, `${deps.upstreamBase}/`).toString());
  const job = await deps.tokens.sign('status', statusUrl, owner);
  return { status: 202, headers: { 'content-location': `${deps.publicBase}/$bulk-status?job=${job}` }, body: null };
}

export async function statusAnswer(deps: BulkDeps, method: string, job: string, owner: LinkOwner, trace: TraceContext): Promise<BulkAnswer> {
  const { url } = await deps.tokens.verify('status', job, owner);
  const res = await upstreamFetch(deps, url, method === 'DELETE' ? 'DELETE' : 'GET', 'application/json', trace);
  if (method === 'DELETE') {
    await res.body?.cancel();
    if (res.status >= 300) throw statusError(res.status);
    return { status: 202, headers: {}, body: null };
  }
  if (res.status === 202) {
    await res.body?.cancel();
    // The upstream's X-Progress is free text (it may name hosts); only a numeric Retry-After passes.
    const retryAfter = res.headers.get('retry-after');
    return { status: 202, headers: { 'x-progress': 'in-progress', ...(retryAfter && /^\d{1,4}$/.test(retryAfter) ? { 'retry-after': retryAfter } : {}) }, body: null };
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw statusError(res.status);
  }
  const text = await boundedText(res, deps.maxManifestBytes);
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new GatewayError('upstream_bad_response', { reasons: ['bulk.manifest'], cause: err });
  }
  return { status: 200, headers: {}, body: await publicManifest(deps, manifest, owner) };
}

/** Opens the upstream file a token names, decoded, as a byte stream. */
export async function openFile(deps: BulkDeps, file: string, owner: LinkOwner, trace: TraceContext): Promise<AsyncIterable<Uint8Array>> {
  const { url } = await deps.tokens.verify('file', file, owner);
  const res = await upstreamFetch(deps, url, 'GET', 'application/fhir+ndjson', trace);
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw statusError(res.status);
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/fhir+ndjson' && type !== 'application/ndjson' && type !== 'application/x-ndjson') {
    await res.body.cancel();
    throw new GatewayError('upstream_bad_response', { reasons: ['upstream.content-type'] });
  }
  const stream = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  const encoding = (res.headers.get('content-encoding') ?? 'identity').toLowerCase();
  if (encoding === 'gzip') return stream.pipe(createGunzip());
  if (encoding !== 'identity') throw new GatewayError('upstream_bad_response', { reasons: ['upstream.encoding'] });
  return stream;
}

/** The manifest clients see: every URL is the gateway's, nothing else of the upstream's is passed on. */
async function publicManifest(deps: BulkDeps, manifest: Record<string, unknown>, owner: LinkOwner): Promise<Record<string, unknown>> {
  const files = async (list: unknown): Promise<Array<{ type: string; url: string; count?: number }>> => {
    if (!Array.isArray(list)) return [];
    const out = [];
    for (const item of list as Array<{ type?: unknown; url?: unknown; count?: unknown }>) {
      if (typeof item.type !== 'string' || !/^[A-Z][A-Za-z]+$/.test(item.type) || typeof item.url !== 'string') {
        throw new GatewayError('upstream_bad_response', { reasons: ['bulk.manifest'] });
      }
      const token = await deps.tokens.sign('file', followable(deps, new URL(item.url, `${deps.upstreamBase}/`).toString()), owner);
      out.push({ type: item.type, url: `${deps.publicBase}/$bulk-file?file=${token}` });
    }
    return out;
  };
  return {
    transactionTime: typeof manifest['transactionTime'] === 'string' ? manifest['transactionTime'] : new Date().toISOString(),
    request: `${deps.publicBase}/$export`,
    requiresAccessToken: true,
    output: await files(manifest['output']),
    error: await files(manifest['error']),
  };
}

/** An upstream URL the gateway may fetch: on the upstream's origin or an allowed file origin. */
function followable(deps: BulkDeps, url: string): string {
  const origin = new URL(url).origin;
  if (origin === new URL(deps.upstreamBase).origin || deps.fileOrigins.includes(origin)) return url;
  throw new GatewayError('upstream_bad_response', { reasons: ['bulk.foreign-url'] });
}

/** The deadline covers the wait for the answer's headers, not a file body that may take minutes. */
async function upstreamFetch(deps: BulkDeps, url: string, method: 'GET' | 'DELETE', accept: string, trace: TraceContext): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('headers deadline', 'TimeoutError')), deps.timeoutMs);
  // The gateway's credentials, TLS settings and trace belong to the upstream: a file store elsewhere gets none of them.
  const onUpstream = new URL(url).origin === deps.access.origin;
  const ownHeaders = onUpstream ? { ...traceHeaders(trace), ...(await deps.access.credentials()) } : {};
  try {
    const init: RequestInit = { method, headers: { accept, 'user-agent': GATEWAY_USER_AGENT, ...ownHeaders }, redirect: 'manual', signal: controller.signal };
    return await (onUpstream ? deps.access.fetch(url, init) : fetch(url, init));
  } catch (err) {
    const timedOut = controller.signal.aborted;
    throw new GatewayError(timedOut ? 'upstream_timeout' : 'upstream_unavailable', { reasons: [timedOut ? 'upstream.timeout' : 'upstream.connect'], cause: err });
  } finally {
    clearTimeout(timer);
  }
}

async function boundedText(res: Response, maxBytes: number): Promise<string> {
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length > maxBytes) throw new GatewayError('upstream_too_large', { reasons: ['upstream.too-large'] });
  return bytes.toString('utf8');
}

function statusError(status: number): GatewayError {
  return upstreamFailure({ status });
}
