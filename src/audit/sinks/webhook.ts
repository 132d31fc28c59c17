/**
 * Review cases pushed to the privacy office: a webhook that receives a JSON event for each case
 * opened and each case closed. It is an audit sink like the others, so it has the same delivery
 * loop (spool first, batches, retries with backoff until a 2xx, nothing skipped) and sees the
 * case records the detector and reviewers write into the trail; every other record is left out.
 *
 * Body: `{"events": [{"id", "type": "case.opened"|"case.closed", "time", "case": {"id", "kind",
 * "signals", "severity", "status"}}]}`. No patient and no user in it: the receiver looks the case
 * up (`fhir-gateway review show <id>`). `id` is the record's delivery id: a retried batch repeats
 * it, and receivers dedupe on it.
 *
 * Signed: `x-fhirgw-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the
 * webhook's secret, so the receiver can check origin, integrity and freshness.
 */
import { createHmac } from 'node:crypto';
import type { AuditRecord } from '../record.js';
import type { AuditSink } from './sink.js';

export interface WebhookSinkOptions {
  readonly name: string;
  readonly url: string;
  readonly secret: Buffer;
  readonly timeoutMs: number;
  readonly now?: () => number;
}

export interface CaseEvent {
  readonly id: string;
  readonly type: 'case.opened' | 'case.closed';
  readonly time: string;
  readonly case: { readonly id: string; readonly kind: string | null; readonly signals: readonly string[]; readonly severity: string | null; readonly status: string };
}

const suffixes = (reasons: readonly string[], prefix: string): string[] => reasons.filter((r) => r.startsWith(prefix)).map((r) => r.slice(prefix.length));

/** The case event a record stands for, or null (not a case record). */
export function caseEventOf(record: AuditRecord): CaseEvent | null {
  if (record.kind !== 'request' || record.request?.operation !== 'review' || record.request.id === null) return null;
  const reasons = record.outcome.reasons;
  const opened = reasons.includes('review.opened');
  const closed = suffixes(reasons, 'review.').find((s) => s === 'justified' || s === 'unjustified');
  if (!opened && closed === undefined) return null;
  return {
    id: record.deliveryId,
    type: opened ? 'case.opened' : 'case.closed',
    time: record.time,
    case: { id: record.request.id, kind: suffixes(reasons, 'case.')[0] ?? null, signals: suffixes(reasons, 'signal.'), severity: suffixes(reasons, 'severity.')[0] ?? null, status: opened ? 'open' : (closed as string) },
  };
}

export function signatureOf(secret: Buffer, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function createWebhookSink(options: WebhookSinkOptions): AuditSink {
  const now = options.now ?? Date.now;
  return {
    name: options.name,
    async deliver(records) {
      const events = records.map(caseEventOf).filter((e): e is CaseEvent => e !== null);
      if (events.length === 0) return;
      const body = JSON.stringify({ events });
      // Signed at each attempt: a retry carries a fresh timestamp.
      const signature = signatureOf(options.secret, Math.floor(now() / 1000), body);
      const res = await fetch(options.url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-fhirgw-signature': signature }, signal: AbortSignal.timeout(options.timeoutMs), redirect: 'error' });
      // Whatever the receiver answers besides its status is not read (nor quoted in errors).
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
    },
    close: async () => {},
  };
}
