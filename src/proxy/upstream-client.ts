/**
 * The gateway's own reads from the upstream, made with its own identity (never the client's
 * token): the version stored before a write is authorised, the resource a Binary's
 * `securityContext` points to. Same deadline and size bound as forwarded requests; anything the
 * gateway cannot read is reported as such, and callers fail closed.
 */
import { GatewayError } from '../errors.js';
import type { FhirResourceJson } from '../policy/contract.js';
import { decodeContent, parseFhirJson } from './decode.js';
import { GATEWAY_USER_AGENT } from './headers.js';

export interface UpstreamClientOptions {
  readonly upstreamUrl: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
}

export type ReadResult = { readonly found: true; readonly resource: FhirResourceJson; readonly etag: string | null } | { readonly found: false; readonly status: number };

export interface UpstreamClient {
  /** Reads `Type/id` (a local reference). 404 and 410 are `found: false`; other failures throw. */
  read(type: string, id: string, requestId: string): Promise<ReadResult>;
}

export function createUpstreamClient(options: UpstreamClientOptions): UpstreamClient {
  const base = options.upstreamUrl.replace(/\/+$/, '');
  return {
    async read(type, id, requestId) {
      let res: Response;
      try {
        res = await fetch(`${base}/${type}/${encodeURIComponent(id)}`, {
          headers: { accept: 'application/fhir+json', 'accept-encoding': 'identity', 'user-agent': GATEWAY_USER_AGENT, 'x-request-id': requestId },
          redirect: 'manual',
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (err) {
        const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
        throw new GatewayError(timedOut ? 'upstream_timeout' : 'upstream_unavailable', { reasons: [timedOut ? 'upstream.timeout' : 'upstream.connect'], cause: err });
      }
      if (res.status === 404 || res.status === 410) {
        await res.body?.cancel();
        return { found: false, status: res.status };
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new GatewayError('upstream_error', { reasons: [`upstream.status-${res.status}`] });
      }
      const declared = Number(res.headers.get('content-length') ?? 0);
      if (declared > options.maxResponseBytes) {
        await res.body?.cancel();
        throw new GatewayError('upstream_too_large', { reasons: ['upstream.too-large'] });
      }
      const bytes = Buffer.from(await res.arrayBuffer());
      if (bytes.length > options.maxResponseBytes) throw new GatewayError('upstream_too_large', { reasons: ['upstream.too-large'] });
      const body = parseFhirJson(decodeContent(bytes, res.headers.get('content-encoding') ?? undefined, options.maxResponseBytes), res.headers.get('content-type') ?? undefined);
      if (typeof body !== 'object' || body === null || (body as { resourceType?: unknown }).resourceType !== type) {
        throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-resource'] });
      }
      return { found: true, resource: body as FhirResourceJson, etag: res.headers.get('etag') };
    },
  };
}
