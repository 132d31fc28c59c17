/**
 * Writes sealed records into `audit_records`, a batch per statement (the delivery loop's batch is
 * the group commit: one transaction, one WAL flush for all of it). Idempotent: a record already
 * stored (same delivery id and time) is skipped, so retries and replays land exactly once.
 */
import type { AuditRecord } from '../record.js';
import { ensurePartitions, monthOf } from './partitions.js';
import type { SqlClient } from './sql.js';

/** The indexed columns of one record; `record` is the whole of it. */
export function rowOf(record: AuditRecord): Record<string, unknown> {
  const base = {
    time: record.time,
    delivery_id: record.deliveryId,
    instance: record.chain.instance,
    seq: record.chain.seq,
    kind: record.kind,
    schema_version: record.schemaVersion,
    prev: record.chain.prev,
    hash: record.chain.hash,
    alg: record.chain.alg,
    record,
  };
  if (record.kind === 'checkpoint') return base;
  const { principal, request, outcome, patients } = record;
  return {
    ...base,
    iss: principal?.iss ?? null,
    sub: principal?.sub ?? null,
    client_id: principal?.client_id ?? null,
    jti: principal?.jti ?? null,
    address: record.client.address,
    interaction: request?.interaction ?? null,
    resource_type: request?.type ?? null,
    decision: outcome.decision,
    status: outcome.status,
    reasons: outcome.reasons,
    break_glass: outcome.breakGlass,
    purpose_of_use: principal?.purpose_of_use ?? [],
    policy_revision: record.policyRevision,
    patients: patients ? [...new Set([...patients.released.map((p) => p.id), ...patients.changed])] : [],
    withheld_patients: patients?.withheld ?? [],
  };
}

const COLUMNS = `time timestamptz, delivery_id text, instance text, seq bigint, kind text, schema_version int, iss text, sub text, client_id text, jti text,
  address text, interaction text, resource_type text, decision text, status int, reasons text[], break_glass boolean, purpose_of_use text[],
  policy_revision text, patients text[], withheld_patients text[], prev text, hash text, alg text, record jsonb`;
const NAMES = COLUMNS.split(',').map((c) => c.trim().split(/\s+/)[0] as string);
// Missing arrays and flags default as the table does.
const SELECTED = NAMES.map((n) => (['reasons', 'purpose_of_use', 'patients', 'withheld_patients'].includes(n) ? `coalesce(${n}, '{}')` : n === 'break_glass' ? 'coalesce(break_glass, false)' : n)).join(', ');

// One statement, so atomic and one round trip: the records, and a row per (patient, record) for
// the patient index (migrations/0002). Both skip what is already stored.
const INSERT = `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(${COLUMNS})),
stored AS (
  INSERT INTO audit_records (${NAMES.join(', ')})
  SELECT ${SELECTED} FROM x
  ON CONFLICT (delivery_id, time) DO NOTHING
)
INSERT INTO audit_record_patients (patient, time, delivery_id, released, withheld)
SELECT p, x.time, x.delivery_id, p = ANY(coalesce(x.patients, '{}')), p = ANY(coalesce(x.withheld_patients, '{}'))
FROM x, LATERAL (SELECT DISTINCT unnest(coalesce(x.patients, '{}') || coalesce(x.withheld_patients, '{}')) AS p) AS y
ON CONFLICT (patient, time, delivery_id) DO NOTHING`;

export interface RecordWriter {
  /** Stores the records (those already stored are skipped); resolves once committed. */
  write(records: readonly AuditRecord[]): Promise<void>;
}

export function createRecordWriter(db: SqlClient): RecordWriter {
  // Months whose partition this process has seen to exist (a dropped one is recreated on failure).
  const ready = new Set<number>();
  return {
    async write(records) {
      if (records.length === 0) return;
      const months = records.map((r) => monthOf(new Date(r.time)));
      const missing = months.filter((m) => !ready.has(m.getTime()));
      if (missing.length > 0) {
        await ensurePartitions(db, missing);
        for (const m of missing) ready.add(m.getTime());
      }
      try {
        await db.query(INSERT, [JSON.stringify(records.map(rowOf))]);
      } catch (err) {
        // "no partition of relation found": retention dropped a month this process had cached.
        if ((err as { code?: string }).code === '23514') ready.clear();
        throw err;
      }
    },
  };
}
