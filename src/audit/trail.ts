/**
 * The audit trail fans one record out to every configured sink. A sink that throws is reported
 * (and counted by the caller) but does not stop the others.
 *
 * `record` is awaited before the answer is released: a trail that must not lose records (durable
 * mode) resolves only once the record is safely stored, and rejects with a GatewayError
 * (`audit_unavailable`) to have the answer withheld.
 */
import type { AuditRecord, AuditSink } from './record.js';

export interface AuditTrail {
  /** Writes to every sink; resolves with the names of sinks that failed. */
  record(record: AuditRecord): Promise<string[]>;
  close(): Promise<void>;
}

export function createAuditTrail(sinks: readonly AuditSink[]): AuditTrail {
  return {
    async record(record) {
      const failed: string[] = [];
      for (const sink of sinks) {
        try {
          sink.write(record);
        } catch {
          failed.push(sink.name);
        }
      }
      return failed;
    },
    async close() {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}
