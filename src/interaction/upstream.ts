/**
 * The upstream as one interaction sees it: a request rebuilt from the canonical form goes out, the
 * whole (bounded) answer comes back. A single request talks to the upstream through the client's
 * own connection (http-proxy-middleware, src/proxy/forward.ts); the entries of a transaction share
 * one upstream transaction (src/interaction/batch.ts). Either way the interaction code is the same.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.js';
import { upstreamFailure } from '../errors-upstream.js';
import type { RequestBody } from '../fhir/body.js';
import type { FhirRequest, HttpMethod } from '../fhir/request.js';
import { upstreamPathOf } from '../fhir/upstream-path.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { traceHeaders, type TraceContext } from '../observability/trace-context.js';
import { decodeContent, errorBodyOf, parseFhirJson } from '../proxy/decode.js';
import type { Forwarder, UpstreamResponse } from '../proxy/forward.js';
import { upstreamRequestHeaders } from '../proxy/headers.js';

export interface UpstreamRequest {
  readonly method: HttpMethod;
  /** Path and query relative to the upstream base. */
  readonly path: string;
  readonly payload: { readonly bytes: Buffer; readonly contentType: string } | null;
  readonly ifMatch: string | null;
  readonly prefer: string | null;
  /** For a transaction entry: the client's `urn:uuid` fullUrl, which ties entries together. */
  readonly fullUrl?: string;
}

export interface UpstreamPort {
  call(request: UpstreamRequest): Promise<UpstreamResponse>;
}

/** The upstream request for a canonical request and its body. */
export function upstreamRequestOf(request: FhirRequest, body: RequestBody, ifMatch: string | null, prefer: string | null): UpstreamRequest {
  const { path, formBody } = upstreamPathOf(request);
  let payload: UpstreamRequest['payload'] = null;
  if (formBody !== null) payload = { bytes: Buffer.from(formBody, 'utf8'), contentType: 'application/x-www-form-urlencoded' };
  else if (body.kind === 'json' || body.kind === 'json-patch') payload = { bytes: Buffer.from(JSON.stringify(body.json), 'utf8'), contentType: body.contentType };
  return { method: request.method, path, payload, ifMatch, prefer };
}

/**
 * Through the client's connection. Calls are made one at a time: the forwarder ties its exchange to
 * the client's request, and an interaction that needs several upstream pages asks for them in turn.
 */
export function forwardingPort(deps: { forwarder: Forwarder; metrics: GatewayMetrics }, req: IncomingMessage, res: ServerResponse, requestId: string, trace: TraceContext): UpstreamPort {
  let queue: Promise<unknown> = Promise.resolve();
  return {
    call(r) {
      const run = async (): Promise<UpstreamResponse> => {
        const headers = { ...upstreamRequestHeaders(requestId, r.payload ? { contentType: r.payload.contentType, length: r.payload.bytes.length } : null, r), ...traceHeaders(trace) };
        const started = process.hrtime.bigint();
        try {
          const upstream = await deps.forwarder.forward(req, res, { method: r.method, path: r.path, headers, body: r.payload?.bytes ?? null });
          deps.metrics.upstreamDuration.observe({ outcome: `${Math.floor(upstream.status / 100)}xx` }, seconds(started));
          return upstream;
        } catch (err) {
          const code = err instanceof GatewayError ? err.code : 'internal';
          deps.metrics.upstreamDuration.observe({ outcome: code === 'upstream_timeout' ? 'timeout' : 'error' }, seconds(started));
          throw err;
        } finally {
          deps.metrics.stageDuration.observe({ stage: 'upstream' }, seconds(started));
        }
      };
      const result = queue.then(run, run);
      queue = result.catch(() => undefined);
      return result;
    },
  };
}

/** The parsed FHIR body of a 2xx answer (null when empty); any other status throws its error. */
export async function answerBody(upstream: UpstreamResponse, maxBytes: number): Promise<unknown> {
  if (upstream.status < 200 || upstream.status >= 300) throw await failureOf(upstream, maxBytes);
  const bytes = await decodeContent(upstream.body, headerOf(upstream, 'content-encoding'), maxBytes);
  if (bytes.length === 0) return null;
  return parseFhirJson(bytes, headerOf(upstream, 'content-type'));
}

/** The error for an upstream answer that is not a success (src/errors-upstream.ts). */
export async function failureOf(upstream: UpstreamResponse, maxBytes: number): Promise<GatewayError> {
  const body = await errorBodyOf(upstream.body, headerOf(upstream, 'content-encoding'), headerOf(upstream, 'content-type'), maxBytes);
  return upstreamFailure({ status: upstream.status, body, retryAfter: headerOf(upstream, 'retry-after') });
}

export function headerOf(upstream: UpstreamResponse, name: string): string | undefined {
  const v = upstream.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}
