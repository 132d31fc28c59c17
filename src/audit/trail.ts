/**
 * The audit trail fans one record out to every configured sink. A sink that throws is reported
 * (and counted by the caller) but does not stop the others.
 */
import type { AuditRecord, AuditSink } from './record.js';

export interface AuditTrail {
  /** Writes to every sink; returns the names of sinks that failed. */
  record(record: AuditRecord): string[];
  close(): Promise<void>;
}

export function createAuditTrail(sinks: readonly AuditSink[]): AuditTrail {
  return {
    record(record) {
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
