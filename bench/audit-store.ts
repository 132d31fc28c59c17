/**
 * `npm run bench:store`: the audit store's sizing figures, measured on a throwaway PostgreSQL
 * (test/support/postgres.ts) or on the server `--url` names.
 *
 *   - ingest: records per second through the sink's writer, a batch per transaction (the delivery
 *     loop's group commit), with 1 writer (one replica) and with `--writers` writers at once;
 *   - bytes per record: heap, TOAST and indexes of the partitions, divided by the records stored;
 *   - query latency (p50/p95/p99) at that size: a patient's access history page (newest 50), a
 *     user's records over one day (breach scope), a token's records (jti), and a chain read.
 *
 * The records are generated like a clinic's traffic: `--patients` patients, `--users` users, spread
 * over `--days` days, a mix of reads and multi-patient searches with the record schema's real fields.
 *
 *   npx tsx bench/audit-store.ts [--records 1000000] [--batch 200] [--writers 4] [--patients 20000]
 *                                 [--users 400] [--days 60] [--url postgres://...] [--out file.json]
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GENESIS, seal } from '../src/audit/chain.js';
import type { AuditRecord, UnsealedRequestRecord } from '../src/audit/record.js';
import { migrate } from '../src/audit/store/migrate.js';
import { createStoreReader, type RecordFilter } from '../src/audit/store/query.js';
import { postgresClient, type SqlClient } from '../src/audit/store/sql.js';
import { createRecordWriter } from '../src/audit/store/write.js';
import { startPostgresServer } from '../test/support/postgres.js';

const { values: opts } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '200' },
    writers: { type: 'string', default: '4' },
    patients: { type: 'string', default: '20000' },
    users: { type: 'string', default: '400' },
    days: { type: 'string', default: '60' },
    queries: { type: 'string', default: '200' },
    url: { type: 'string' },
    out: { type: 'string' },
  },
});
const N = Number(opts.records);
const BATCH = Number(opts.batch);
const WRITERS = Number(opts.writers);
const PATIENTS = Number(opts.patients);
const USERS = Number(opts.users);
const DAYS = Number(opts.days);
const QUERIES = Number(opts.queries);
const KEY = Buffer.from('bench-audit-hmac-key-0123456789abcdef');
const START = Date.UTC(2026, 9, 1);
const SPAN = DAYS * 86_400_000;

// A deterministic generator: the same run gives the same data.
let state = 42;
const rand = (): number => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (n: number): number => Math.floor(rand() * n);

function unsealed(i: number): UnsealedRequestRecord {
  const user = pick(USERS);
  const search = rand() < 0.4;
  const patients = search ? Array.from({ length: 1 + pick(10) }, () => `pat-${pick(PATIENTS)}`) : [`pat-${pick(PATIENTS)}`];
  const unique = [...new Set(patients)];
  return {
    schemaVersion: 3,
    kind: 'request',
    decisionId: randomUUID(),
    requestId: randomUUID(),
    time: new Date(START + Math.floor((i / N) * SPAN)).toISOString(),
    client: { address: `10.0.${user % 250}.${(user * 7) % 250}` },
    principal: { iss: 'https://idp.example', sub: `Practitioner/u${user}`, client_id: `app-${user % 5}`, jti: randomUUID(), roles: ['clinician'], purpose_of_use: ['TREAT'], patient: null, fhir_user: `Practitioner/u${user}`, scopes: ['user/*.rs'] },
    request: search
      ? { method: 'GET', interaction: 'search-type', type: 'Observation', id: null, version: null, compartment: null, operation: null, params: [{ name: 'code', modifier: null, value: null, mask: 'removed' }, { name: '_count', modifier: null, value: '50', mask: 'kept' }] }
      : { method: 'GET', interaction: 'read', type: 'Patient', id: unique[0] as string, version: null, compartment: null, operation: null, params: [] },
    outcome: { decision: 'allow', reasons: ['scope.ok'], error: null, status: 200, breakGlass: false, breakGlassReason: null },
    entries: { returned: search ? unique.length * 3 : 1, withheld: 0, redacted: 0, withheldRefs: [], redactedRefs: [] },
    patients: { released: unique.map((id) => ({ id, types: { [search ? 'Observation' : 'Patient']: search ? 3 : 1 } })), releasedCount: unique.length, withheld: [], withheldCount: 0, changed: [], changedCount: 0 },
    policyRevision: '0123456789abcdef',
    durationMs: 3.2,
  };
}

/**
 * Writes records [from, to) of one instance's chain in batches of `batch`. Returns the wall seconds
 * and the seconds spent waiting for the store (generating and sealing the records, in this
 * process, is the rest).
 */
async function ingest(db: SqlClient, instance: string, from: number, to: number, batch = BATCH): Promise<{ wall: number; store: number }> {
  const writer = createRecordWriter(db);
  let tip = { seq: 0, hash: GENESIS };
  const t0 = process.hrtime.bigint();
  let store = 0n;
  for (let at = from; at < to; at += batch) {
    const records: AuditRecord[] = [];
    for (let i = at; i < Math.min(to, at + batch); i++) {
      const r = seal(unsealed(i), instance, tip, KEY);
      tip = { seq: r.chain.seq, hash: r.chain.hash };
      records.push(r);
    }
    const w0 = process.hrtime.bigint();
    await writer.write(records);
    store += process.hrtime.bigint() - w0;
  }
  return { wall: Number(process.hrtime.bigint() - t0) / 1e9, store: Number(store) / 1e9 };
}

async function latency(label: string, runs: number, fn: (i: number) => Promise<unknown>): Promise<{ query: string; p50: number; p95: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const at = (p: number) => Math.round((ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] as number) * 100) / 100;
  return { query: label, p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

const server = opts.url ? null : await startPostgresServer();
const url = opts.url ?? (server as NonNullable<typeof server>).url;
const db = postgresClient({ url, poolSize: WRITERS + 1 });
try {
  await migrate(db);
  // Without group commit first: a transaction per record (batch 1), 2,000 records.
  const unbatched = Math.min(2000, N);
  const one = await ingest(db, 'bench-unbatched', 0, unbatched, 1);
  // One writer (one replica's delivery loop): a tenth of the records, so the figure is not a warm-up.
  const single = Math.min(N - unbatched, Math.max(BATCH * 50, Math.floor(N / 10)));
  const singleTime = await ingest(db, 'bench-single', unbatched, unbatched + single);
  // Then the rest from WRITERS writers at once (replicas sharing the store).
  const rest = N - unbatched - single;
  const share = Math.ceil(rest / WRITERS);
  const t0 = process.hrtime.bigint();
  const parallel = await Promise.all(Array.from({ length: WRITERS }, (_, w) => ingest(db, `bench-w${w}`, unbatched + single + w * share, Math.min(N, unbatched + single + (w + 1) * share))));
  const parallelSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // As autovacuum would have by then: statistics for the planner (both tables' partitions).
  await db.exec('VACUUM ANALYZE audit_records');
  await db.exec('VACUUM ANALYZE audit_record_patients');

  const [sizes] = await db.query<{ heap: string; indexes: string; total: string; rows: string }>(`
    SELECT sum(pg_table_size(c.oid))::text AS heap, sum(pg_indexes_size(c.oid))::text AS indexes, sum(pg_total_relation_size(c.oid))::text AS total,
           (SELECT count(*) FROM audit_records)::text AS rows
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname IN ('audit_records', 'audit_record_patients')`);
  const rows = Number(sizes?.rows);
  const reader = createStoreReader(db);
  const day = (i: number) => new Date(START + (i % DAYS) * 86_400_000);
  const jtis = (await db.query<{ jti: string }>(`SELECT jti FROM audit_records ORDER BY random() LIMIT ${QUERIES}`)).map((r) => r.jti);
  const queries = [
    await latency('patient history page (newest 50)', QUERIES, (i) => reader.records({ kind: 'request', anyPatient: `pat-${(i * 7919) % PATIENTS}` }, { order: 'desc', limit: 50 })),
    await latency('user over one day (breach scope, all rows)', QUERIES, async (i) => {
      const filter: RecordFilter = { subject: { iss: 'https://idp.example', sub: `Practitioner/u${(i * 31) % USERS}` }, from: day(i), before: new Date(day(i).getTime() + 86_400_000) };
      for await (const _ of reader.scan(filter)) void _;
    }),
    await latency('token (jti)', QUERIES, (i) => reader.records({ jti: jtis[i % jtis.length] as string }, { order: 'asc', limit: 100 })),
    await latency('patient disclosures over 30 days (count)', QUERIES, (i) => reader.count({ patient: `pat-${(i * 104729) % PATIENTS}`, from: day(0), before: day(30) })),
  ];
  // The plan of one history page, to show where its time goes.
  const plan = await db.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT r.record, r.time, r.delivery_id FROM audit_record_patients ap JOIN audit_records r ON r.delivery_id = ap.delivery_id AND r.time = ap.time
     WHERE ap.patient = 'pat-${PATIENTS >> 1}' AND r.kind = 'request' ORDER BY ap.time DESC, ap.delivery_id DESC LIMIT 50`,
  );
  const result = {
    records: rows,
    batch: BATCH,
    // perSecond: wall clock, record generation and sealing included; storePerSecond: records over the time spent waiting for the store.
    ingest: {
      unbatched: { batch: 1, records: unbatched, perSecond: Math.round(unbatched / one.wall), storePerSecond: Math.round(unbatched / one.store) },
      oneWriter: { batch: BATCH, records: single, perSecond: Math.round(single / singleTime.wall), storePerSecond: Math.round(single / singleTime.store) },
      writers: { batch: BATCH, writers: WRITERS, records: rest, perSecond: Math.round(rest / parallelSeconds), storePerSecondPerWriter: Math.round(rest / WRITERS / (parallel.reduce((a, t) => a + t.store, 0) / WRITERS)) },
    },
    bytesPerRecord: { total: Math.round(Number(sizes?.total) / rows), table: Math.round(Number(sizes?.heap) / rows), indexes: Math.round(Number(sizes?.indexes) / rows) },
    queriesMs: queries,
    historyPagePlan: plan.map((r) => r['QUERY PLAN']),
    machine: { cpus: (await import('node:os')).cpus().length, loadAverage: (await import('node:os')).loadavg().map((l) => Math.round(l * 10) / 10), postgres: (await db.query<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]?.v },
  };
  const text = JSON.stringify(result, null, 2);
  process.stdout.write(`${text}\n`);
  if (opts.out) writeFileSync(opts.out, `${text}\n`);
} finally {
  await db.close();
  await server?.stop();
}
