/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/). A request arriving with a valid
 * `traceparent` continues that trace; otherwise the gateway starts one. Either way the gateway is a
 * span of its own: what it sends upstream carries the same trace id with the gateway's span id as
 * the parent, so the upstream's spans hang under the gateway's. The trace id is written into the
 * audit record and the log lines, which is what ties an audit entry to a distributed trace.
 *
 * The gateway does not export spans itself: it only propagates context. Pure, except for the
 * random ids. The context is passed, not kept in AsyncLocalStorage: on Node 20 that turns on promise
 * hooks for the whole process, and a read cost 0.76x the CPU without them (docs/performance.md).
 */
import { randomFillSync } from 'node:crypto';

export interface TraceContext {
  /** 32 lower-case hex digits, never all zero. */
  readonly traceId: string;
  /** The gateway's own span id (16 hex digits): the parent of everything it sends upstream. */
  readonly spanId: string;
  /** The caller's span id, when the trace was continued. */
  readonly parentSpanId: string | null;
  /** Trace flags (2 hex digits); the caller's sampling decision is kept. */
  readonly flags: string;
  /** The caller's `tracestate`, passed on unchanged (only with a valid traceparent). */
  readonly state: string | null;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The trace of an incoming request: continued from a valid `traceparent`, else a new one. */
export function traceContextOf(traceparent: string | string[] | undefined, tracestate?: string | string[]): TraceContext {
  const parent = typeof traceparent === 'string' ? parseTraceparent(traceparent) : null;
  if (!parent) return { traceId: newId(16, ZERO_TRACE), spanId: newId(8, ZERO_SPAN), parentSpanId: null, flags: '00', state: null };
  const state = typeof tracestate === 'string' && tracestate.length <= 512 && /^[\x20-\x7e]*$/.test(tracestate) ? tracestate : null;
  return { traceId: parent.traceId, spanId: newId(8, ZERO_SPAN), parentSpanId: parent.spanId, flags: parent.flags, state };
}

/**
 * Parses a `traceparent` value: version 00 exactly as specified; a future version (not ff) by its
 * version 00 prefix, as the specification asks of older parsers.
 */
export function parseTraceparent(value: string): { traceId: string; spanId: string; flags: string } | null {
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return null;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, flags: version === '00' ? flags : (Number.parseInt(flags, 16) & 1).toString(16).padStart(2, '0') };
}

/** The `traceparent` the gateway sends upstream: its own span as the parent. */
export function traceparentOf(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}

/** The trace headers for an upstream request. */
export function traceHeaders(trace: TraceContext): Record<string, string> {
  return { traceparent: traceparentOf(trace), ...(trace.state ? { tracestate: trace.state } : {}) };
}

/**
 * Ids are cut from a pool filled by the CSPRNG 4 KiB at a time, as `randomUUID` does for request
 * ids: a `randomBytes` call per id was a call into OpenSSL (and a getpid) twice per request.
 */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

function newId(bytes: number, zero: string): string {
  for (;;) {
    if (poolAt + bytes > pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    const id = pool.toString('hex', poolAt, poolAt + bytes);
    poolAt += bytes;
    if (id !== zero) return id;
  }
}
