/**
 * Monthly partitions of `audit_records` and `audit_record_patients`: created before a batch needs
 * them, dropped whole once every record in them is past the retention horizon (a DROP of a month,
 * not a DELETE of millions of rows: no bloat, no vacuum debt). Partition names carry their month:
 * `audit_records_p202612`, `audit_record_patients_p202612`.
 */
import type { SqlClient, SqlQuery } from './sql.js';

/** pg_advisory_xact_lock key for partition DDL: replicas creating the same month serialise. */
const LOCK = 0x66686972677054;
/** The partitioned tables, each partitioned by month of the record's time. */
const TABLES = ['audit_records', 'audit_record_patients'] as const;
const NAME = /^(audit_records|audit_record_patients)_p(\d{4})(\d{2})$/;

/** First instant of the month of `time` (UTC), e.g. 2026-12-01T00:00:00Z. */
export function monthOf(time: Date): Date {
  return new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), 1));
}

function nextMonth(month: Date): Date {
  return new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1));
}

export function partitionName(month: Date, table: (typeof TABLES)[number] = 'audit_records'): string {
  return `${table}_p${month.getUTCFullYear()}${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Creates the partitions of the given months that do not exist yet. */
export async function ensurePartitions(db: SqlClient, months: Iterable<Date>): Promise<void> {
  const wanted = [...new Map([...months].map((m) => [monthOf(m).getTime(), monthOf(m)])).values()];
  if (wanted.length === 0) return;
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
    const existing = new Set(await partitionNames(tx));
    for (const month of wanted) {
      for (const table of TABLES) {
        const name = partitionName(month, table);
        if (existing.has(name)) continue;
        // Names and bounds are computed here, never taken from input.
        await tx.exec(`CREATE TABLE ${name} PARTITION OF ${table} FOR VALUES FROM ('${month.toISOString()}') TO ('${nextMonth(month).toISOString()}')`);
      }
    }
  });
}

async function partitionNames(db: SqlQuery): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY($1::text[])`,
    [[...TABLES]],
  );
  return rows.map((r) => r.name);
}

/**
 * Drops the partitions whose whole month ended before `now - retentionMonths` months. Returns the
 * names of the `audit_records` partitions dropped (their `audit_record_patients` twins go with
 * them). A record is kept at least `retentionMonths` months, at most one month more.
 */
export async function dropExpiredPartitions(db: SqlClient, now: Date, retentionMonths: number): Promise<string[]> {
  const horizon = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - retentionMonths, 1));
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
    const dropped: string[] = [];
    for (const name of await partitionNames(tx)) {
      const m = NAME.exec(name);
      if (!m) continue;
      const end = nextMonth(new Date(Date.UTC(Number(m[2]), Number(m[3]) - 1, 1)));
      if (end.getTime() > horizon.getTime()) continue;
      await tx.exec(`DROP TABLE ${name}`);
      if (m[1] === 'audit_records') dropped.push(name);
    }
    return dropped.sort();
  });
}
