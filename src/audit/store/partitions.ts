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

/**
 * How long partition DDL waits for a table lock before it gives up (and is retried: by the next
 * batch, or the next maintenance run). Creating or dropping a partition locks its parent
 * exclusively; a DDL statement queued behind a long report would hold every query behind it.
 */
const DDL_LOCK_TIMEOUT = '3s';

/** Months made ahead of time, so partition DDL runs at start-up and daily, not under traffic. */
export const MONTHS_AHEAD = 2;

/** The months from `now`'s to `MONTHS_AHEAD` later. */
export function monthsAhead(now: Date): Date[] {
  return Array.from({ length: MONTHS_AHEAD + 1 }, (_, i) => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1)));
}

/** Creates the partitions of the given months that do not exist yet. */
export async function ensurePartitions(db: SqlClient, months: Iterable<Date>): Promise<void> {
  const wanted = [...new Map([...months].map((m) => [monthOf(m).getTime(), monthOf(m)])).values()];
  if (wanted.length === 0) return;
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK]);
    const existing = new Set(await partitionNames(tx));
    if (wanted.every((month) => TABLES.every((table) => existing.has(partitionName(month, table))))) return;
    await tx.exec(`SET LOCAL lock_timeout = '${DDL_LOCK_TIMEOUT}'`);
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
    await tx.exec(`SET LOCAL lock_timeout = '${DDL_LOCK_TIMEOUT}'`);
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
