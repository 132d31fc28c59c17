/**
 * A destination of audit records. Sinks are thin adapters: the delivery loop (delivery.ts) owns
 * ordering, batching, retries and acknowledgement; a sink only sends one batch.
 */
import type { AuditRecord } from '../record.js';

export interface AuditSink {
  /** The name from the configuration: the metric label and the spool cursor's key. */
  readonly name: string;
  /**
   * Sends records, in order. Resolves once the destination holds all of them; rejects to have the
   * whole batch retried. A batch may repeat records sent before (a replay after a crash or a
   * failed attempt): each carries its delivery id, and sinks that can dedupe do.
   */
  deliver(records: readonly AuditRecord[]): Promise<void>;
  close(): Promise<void>;
}
