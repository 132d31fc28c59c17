/**
 * The gateway's own reads from the upstream, made with its own identity (never the client's
 * token): the version stored before a write is authorised, the resource a Binary's
 * `securityContext` points to. Same deadline and size bound as forwarded requests; anything the
 * gateway cannot read is reported as such, and callers fail closed.
 */
import { GatewayError } from '../errors.js';
import type { FhirResourceJson } from '../policy/contract.js';
import { isFailingStatus, type UpstreamBreaker } from './circuit-breaker.js';
import { decodeContent, errorBodyOf, parseFhirJson } from './decode.js';
import { upstreamFailure } from '../errors-upstream.js';
import { GATEWAY_USER_AGENT } from './headers.js';
import { traceHeaders, type TraceContext } from '../observability/trace-context.js';
import type { UpstreamAccess } from './upstream-access.js';

export interface UpstreamClientOptions {
  readonly upstreamUrl: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  /** TLS and the gateway's own credentials (upstream-access.ts). */
  readonly access: UpstreamAccess;
  readonly breaker?: UpstreamBreaker;
}

export type ReadResult = { readonly found: true; readonly resource: FhirResourceJson; readonly etag: string | null } | { readonly found: false; readonly status: number };

/**
 * Which request a read of the gateway's own is made for: its id and trace go upstream with it, so
 * the upstream's logs and spans tie it to that request (null trace: work outside any request).
 */
export interface RequestOrigin {
  readonly requestId: string;
  readonly trace: TraceContext | null;
}

export interface UpstreamClient {
  /** Reads `Type/id` (a local reference). 404 and 410 are `found: false`; other failures throw. */
  read(type: string, id: string, origin: RequestOrigin): Promise<ReadResult>;
  /** Runs a search and follows its `next` links (on the upstream only), up to `maxResources`; more is an error. */
  search(type: string, query: string, origin: RequestOrigin, maxResources: number): Promise<FhirResourceJson[]>;
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const base = options.upstreamUrl.replace(/\/+$/, '');

  /** GET a URL on the upstream: the status and the parsed body (for 200), or a GatewayError. */
  const get = async (url: string, origin: RequestOrigin): Promise<{ status: number; body: unknown; etag: string | null; retryAfter?: string | undefined }> => {
    const credentials = await options.access.credentials();
    const send = async (): Promise<Response> => {
      try {
        return await options.access.fetch(url, {
          headers: { accept: 'application/fhir+json', 'accept-encoding': 'identity', 'user-agent': GATEWAY_USER_AGENT, 'x-request-id': origin.requestId, ...(origin.trace ? traceHeaders(origin.trace) : {}), ...credentials },
          redirect: 'manual',
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (err) {
        const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
        throw new GatewayError(timedOut ? 'upstream_timeout' : 'upstream_unavailable', { reasons: [timedOut ? 'upstream.timeout' : 'upstream.connect'], cause: err });
      }
    };
    const res = options.breaker ? await options.breaker.call(send, (r) => isFailingStatus(r.status)) : await send();
    if (res.status !== 200) {
      // A client error's OperationOutcome is read (bounded) for its closed vocabulary only.
      if (res.status >= 400 && res.status < 500 && Number(res.headers.get('content-length') ?? 0) <= options.maxResponseBytes) {
        const bytes = Buffer.from(await res.arrayBuffer());
        const body = bytes.length <= options.maxResponseBytes ? await errorBodyOf(bytes, res.headers.get('content-encoding') ?? undefined, res.headers.get('content-type') ?? undefined, options.maxResponseBytes) : undefined;
        return { status: res.status, body, etag: null, retryAfter: res.headers.get('retry-after') ?? undefined };
      }
      await res.body?.cancel();
      return { status: res.status, body: null, etag: null };
    }
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > options.maxResponseBytes) {
      await res.body?.cancel();
      throw new GatewayError('upstream_too_large', { reasons: ['upstream.too-large'] });
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > options.maxResponseBytes) throw new GatewayError('upstream_too_large', { reasons: ['upstream.too-large'] });
    const body = parseFhirJson(await decodeContent(bytes, res.headers.get('content-encoding') ?? undefined, options.maxResponseBytes), res.headers.get('content-type') ?? undefined);
    return { status: 200, body, etag: res.headers.get('etag') };
  };

  return {
    async read(type, id, origin) {
      const answer = await get(`${base}/${type}/${encodeURIComponent(id)}`, origin);
      const { status, body, etag } = answer;
      if (status === 404 || status === 410) return { found: false, status };
      if (status !== 200) throw upstreamFailure(answer);
      if (typeof body !== 'object' || body === null || (body as { resourceType?: unknown }).resourceType !== type) {
        throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-resource'] });
      }
      return { found: true, resource: body as FhirResourceJson, etag };
    },
    async search(type, query, origin, maxResources) {
      const found: FhirResourceJson[] = [];
      let url: string | null = `${base}/${type}?${query}`;
      while (url !== null) {
        const answer = await get(url, origin);
        const { status, body } = answer;
        if (status !== 200) throw upstreamFailure(answer);
        const bundle = body as { resourceType?: unknown; entry?: Array<{ resource?: FhirResourceJson; search?: { mode?: string } }>; link?: Array<{ relation?: string; url?: string }> };
        if (bundle?.resourceType !== 'Bundle') throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-resource'] });
        for (const e of bundle.entry ?? []) if (e.resource && (e.search?.mode ?? 'match') === 'match') found.push(e.resource);
        if (found.length > maxResources) throw new GatewayError('upstream_too_large', { reasons: ['upstream.too-many-results'] });
        const next = bundle.link?.find((l) => l.relation === 'next')?.url;
        // Paging stays on the upstream: a next link elsewhere is not followed with the gateway's identity.
        url = typeof next === 'string' && (next.startsWith(`${base}/`) || next.startsWith(`${base}?`)) ? next : null;
      }
      return found;
    },
  };
}
