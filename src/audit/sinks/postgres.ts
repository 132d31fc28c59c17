/**
 * The audit store as a sink: PostgreSQL (or PGlite, embedded) behind the same spool and delivery
 * loop as every other sink. One batch is one INSERT in one transaction (the group commit); records
 * already stored are skipped (src/audit/store/write.ts), so delivery is exactly once across retries,
 * restarts and replicas. Always the record format: the store keeps what `audit verify` checks.
 */
import type { AuditRecord } from '../record.js';
import type { AuditStore } from '../store/store.js';
import type { AuditSink } from './sink.js';

export function createPostgresSink(name: string, store: AuditStore): AuditSink {
  return {
    name,
    async deliver(records: readonly AuditRecord[]) {
      await store.ready();
      await store.writer.write(records);
    },
    close: () => store.close(),
  };
}
