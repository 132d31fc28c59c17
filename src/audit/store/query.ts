/**
 * Reading the audit store: records by patient, subject, client, token, address and time, newest or
 * oldest first, in keyset pages; and the hash chain of each instance in sequence order (for `audit
 * verify`). The privacy office's reports (disclosures, breach scope, review) and the access history
 * at <base>/AuditEvent are built on this interface only. Pure SQL on the seam of sql.ts.
 */
import type { RawEntry } from '../chain.js';
import { readableRecordSchema, type ReadableRecord } from '../record.js';
import type { SqlClient } from './sql.js';

/** Which records: every given condition must hold. */
export interface RecordFilter {
  /** Records that released data of this patient or changed it (patient id, not a reference). */
  readonly patient?: string;
  /** Records in which data of this patient was withheld. */
  readonly withheldPatient?: string;
  /** Records of either kind for this patient: released, changed or withheld. */
  readonly anyPatient?: string;
  readonly subject?: { readonly iss: string; readonly sub: string };
  readonly client?: string;
  readonly jti?: string;
  readonly address?: string;
  /** The user or client: its fhirUser reference, its subject, or its client id. */
  readonly agent?: string;
  /** Inclusive lower bound of the record's time. */
  readonly from?: Date;
  /** Exclusive upper bound of the record's time. */
  readonly before?: Date;
  readonly kind?: 'request' | 'checkpoint';
  readonly breakGlass?: boolean;
  readonly decision?: 'allow' | 'deny' | 'error';
  readonly purposeOfUse?: string;
  readonly interaction?: readonly string[];
  readonly resourceType?: readonly string[];
}

/** Where a page starts: after this record, in the page's order. */
export interface Position {
  readonly time: string;
  readonly deliveryId: string;
}

export interface PageOptions {
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly after?: Position;
}

export interface StoredRecord {
  readonly record: ReadableRecord;
  readonly position: Position;
}

export interface AuditStoreReader {
  /** One page of matching records, in time order (ties by delivery id). */
  records(filter: RecordFilter, page: PageOptions): Promise<StoredRecord[]>;
  /** Every matching record, oldest first, read in pages of `pageSize`. */
  scan(filter: RecordFilter, pageSize?: number): AsyncIterable<StoredRecord>;
  /** Matching records counted. */
  count(filter: RecordFilter): Promise<number>;
  /** The chain of every instance (or one), in sequence order, as `audit verify` reads a trail. */
  chainEntries(instance?: string): AsyncIterable<RawEntry>;
}

export class StoreRecordError extends Error {
  override readonly name = 'StoreRecordError';
}

/** The patient a filter names, and which of their rows: released or changed, withheld, either. */
function patientOf(filter: RecordFilter): { id: string; which: 'released' | 'withheld' | 'any' } | null {
  if (filter.patient !== undefined) return { id: filter.patient, which: 'released' };
  if (filter.withheldPatient !== undefined) return { id: filter.withheldPatient, which: 'withheld' };
  if (filter.anyPatient !== undefined) return { id: filter.anyPatient, which: 'any' };
  return null;
}

/**
 * The FROM clause and the conditions. A patient filter reads the patient index (audit_record_patients,
 * keyed by patient and time) and joins the records: its pages follow that index in time order.
 * `r.` prefixes every column: both tables have time and delivery_id.
 */
function from(filter: RecordFilter, params: unknown[]): { table: string; order: string; conds: string } {
  const clauses: string[] = [];
  const p = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const patient = patientOf(filter);
  let table = 'audit_records r';
  let order = 'r';
  if (patient !== null) {
    // Each filter names one patient at most (the interface gives one field for each kind).
    const extra = [filter.patient, filter.withheldPatient, filter.anyPatient].filter((x) => x !== undefined).length;
    if (extra > 1) throw new TypeError('a record filter names one patient at most');
    table = 'audit_record_patients ap JOIN audit_records r ON r.delivery_id = ap.delivery_id AND r.time = ap.time';
    order = 'ap';
    clauses.push(`ap.patient = ${p(patient.id)}`);
    if (patient.which === 'released') clauses.push('ap.released');
    if (patient.which === 'withheld') clauses.push('ap.withheld');
    // Bounds on the index's own time column, so partitions and the index range are pruned.
    if (filter.from !== undefined) clauses.push(`ap.time >= ${p(filter.from.toISOString())}`);
    if (filter.before !== undefined) clauses.push(`ap.time < ${p(filter.before.toISOString())}`);
  }
  if (filter.subject !== undefined) clauses.push(`r.iss = ${p(filter.subject.iss)} AND r.sub = ${p(filter.subject.sub)}`);
  if (filter.client !== undefined) clauses.push(`r.client_id = ${p(filter.client)}`);
  if (filter.jti !== undefined) clauses.push(`r.jti = ${p(filter.jti)}`);
  if (filter.address !== undefined) clauses.push(`r.address = ${p(filter.address)}`);
  if (filter.agent !== undefined) {
    const v = p(filter.agent);
    clauses.push(`(r.sub = ${v} OR r.client_id = ${v} OR r.record->'principal'->>'fhir_user' = ${v})`);
  }
  if (filter.from !== undefined) clauses.push(`r.time >= ${p(filter.from.toISOString())}`);
  if (filter.before !== undefined) clauses.push(`r.time < ${p(filter.before.toISOString())}`);
  if (filter.kind !== undefined) clauses.push(`r.kind = ${p(filter.kind)}`);
  if (filter.breakGlass !== undefined) clauses.push(filter.breakGlass ? 'r.break_glass' : 'NOT r.break_glass');
  if (filter.decision !== undefined) clauses.push(`r.decision = ${p(filter.decision)}`);
  if (filter.purposeOfUse !== undefined) clauses.push(`r.purpose_of_use @> ARRAY[${p(filter.purposeOfUse)}]::text[]`);
  if (filter.interaction !== undefined) clauses.push(`r.interaction = ANY(${p([...filter.interaction])}::text[])`);
  if (filter.resourceType !== undefined) clauses.push(`r.resource_type = ANY(${p([...filter.resourceType])}::text[])`);
  return { table, order, conds: clauses.length === 0 ? 'TRUE' : clauses.join(' AND ') };
}

function parse(row: { record: unknown; time: Date | string; delivery_id: string }): StoredRecord {
  const result = readableRecordSchema.safeParse(row.record);
  // Fail closed: a row that is not a record of a known version is reported, never passed on as one.
  if (!result.success) throw new StoreRecordError(`stored record ${row.delivery_id} is not an audit record of a known schema version`);
  return { record: result.data, position: { time: result.data.time, deliveryId: row.delivery_id } };
}

export function createStoreReader(db: SqlClient): AuditStoreReader {
  const records = async (filter: RecordFilter, page: PageOptions): Promise<StoredRecord[]> => {
    const params: unknown[] = [];
    const { table, order: o, conds } = from(filter, params);
    let sql = `SELECT r.record, r.time, r.delivery_id FROM ${table} WHERE ${conds}`;
    if (page.after) {
      params.push(page.after.time, page.after.deliveryId);
      const cmp = page.order === 'desc' ? '<' : '>';
      sql += ` AND (${o}.time, ${o}.delivery_id) ${cmp} ($${params.length - 1}::timestamptz, $${params.length})`;
    }
    const dir = page.order === 'desc' ? 'DESC' : 'ASC';
    params.push(Math.max(1, Math.floor(page.limit)));
    sql += ` ORDER BY ${o}.time ${dir}, ${o}.delivery_id ${dir} LIMIT $${params.length}`;
    const rows = await db.query<{ record: unknown; time: Date; delivery_id: string }>(sql, params);
    return rows.map(parse);
  };
  return {
    records,
    async *scan(filter, pageSize = 1000) {
      let after: Position | undefined;
      for (;;) {
        const page = await records(filter, { order: 'asc', limit: pageSize, ...(after ? { after } : {}) });
        yield* page;
        if (page.length < pageSize) return;
        after = (page.at(-1) as StoredRecord).position;
      }
    },
    async count(filter) {
      const params: unknown[] = [];
      const { table, conds } = from(filter, params);
      const [row] = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table} WHERE ${conds}`, params);
      return Number(row?.n ?? 0);
    },
    async *chainEntries(instance) {
      // Keyset pages over (instance, seq): the index audit_records_chain serves them.
      let last: { instance: string; seq: number } | null = null;
      for (;;) {
        const params: unknown[] = [];
        const conds: string[] = [];
        if (instance !== undefined) {
          params.push(instance);
          conds.push(`instance = $${params.length}`);
        }
        if (last) {
          params.push(last.instance, last.seq);
          conds.push(`(instance, seq) > ($${params.length - 1}, $${params.length})`);
        }
        const sql = `SELECT instance, seq, record::text AS text FROM audit_records ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY instance, seq LIMIT 1000`;
        const rows = await db.query<{ instance: string; seq: string | number; text: string }>(sql, params);
        for (const r of rows) yield { position: `${r.instance}#${r.seq}`, text: r.text };
        if (rows.length < 1000) return;
        const end = rows.at(-1) as { instance: string; seq: string | number };
        last = { instance: end.instance, seq: Number(end.seq) };
      }
    },
  };
}
