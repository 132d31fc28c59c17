/**
 * Batched HTTP POST, for SIEMs and log stores: a 2xx acknowledges the batch, anything else (or no
 * answer within the timeout) rejects it and the delivery loop retries with backoff.
 *
 * Bodies: `json-array` (one JSON array per batch), `ndjson`, `splunk-hec` (HEC event objects,
 * concatenated) or `loki` (a Loki push request, one stream labelled by the gateway instance).
 * Each record carries its delivery id; a consumer that dedupes on it counts a replay once.
 */
import type { AuditRecord } from '../record.js';
import type { Encoder } from '../formats/index.js';
import type { AuditSink } from './sink.js';

export type HttpEncoding = 'json-array' | 'ndjson' | 'splunk-hec' | 'loki';

export interface HttpSinkOptions {
  readonly name: string;
  readonly url: string;
  readonly encoding: HttpEncoding;
  readonly headers: Readonly<Record<string, string>>;
  /** The Authorization header value (a secret read from the environment), if any. */
  readonly authorization: string | null;
  readonly timeoutMs: number;
  readonly encode: Encoder;
}

export function createHttpSink(options: HttpSinkOptions): AuditSink {
  return {
    name: options.name,
    async deliver(records) {
      const items = records.flatMap((r) => {
        const e = options.encode(r);
        return e === null ? [] : [{ record: r, event: e }];
      });
      if (items.length === 0) return;
      const { body, contentType } = bodyOf(options.encoding, items);
      await postOrThrow(options.url, body, { 'content-type': contentType, ...options.headers, ...(options.authorization ? { authorization: options.authorization } : {}) }, options.timeoutMs);
    },
    close: async () => {},
  };
}

/** POSTs and resolves with the parsed JSON answer (if any); rejects on a non-2xx status. */
export async function postOrThrow(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', body, headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  const text = await res.text();
  // The answer's body is never quoted in errors or logs: it may echo what was sent.
  if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
  return text === '' ? null : (JSON.parse(text) as unknown);
}

function bodyOf(encoding: HttpEncoding, items: ReadonlyArray<{ record: AuditRecord; event: object }>): { body: string; contentType: string } {
  switch (encoding) {
    case 'json-array':
      return { body: JSON.stringify(items.map((i) => i.event)), contentType: 'application/json' };
    case 'ndjson':
      return { body: items.map((i) => `${JSON.stringify(i.event)}\n`).join(''), contentType: 'application/x-ndjson' };
    case 'splunk-hec':
      return {
        body: items.map((i) => JSON.stringify({ time: Date.parse(i.record.time) / 1000, sourcetype: 'fhirgw:audit', event: i.event })).join('\n'),
        contentType: 'application/json',
      };
    case 'loki': {
      const instance = items[0]!.record.chain.instance;
      const values = items.map((i) => [String(BigInt(Date.parse(i.record.time)) * 1_000_000n), JSON.stringify(i.event)]);
      return { body: JSON.stringify({ streams: [{ stream: { app: 'fhir-privacy-gateway', instance }, values }] }), contentType: 'application/json' };
    }
  }
}
