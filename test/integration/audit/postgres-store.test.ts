/**
 * The audit store on a real PostgreSQL (started by the test) and on PGlite: the same migrations,
 * writes and queries. Records delivered twice are stored once; the chain read back verifies;
 * partitions are made per month and dropped past the retention horizon.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GENESIS, seal, verifyChain } from '../../../src/audit/chain.js';
import type { AuditRecord, UnsealedRequestRecord } from '../../../src/audit/record.js';
import { migrate, MigrationError, readMigrations } from '../../../src/audit/store/migrate.js';
import { dropExpiredPartitions } from '../../../src/audit/store/partitions.js';
import { createStoreReader } from '../../../src/audit/store/query.js';
import { pgliteClient, postgresClient, type SqlClient } from '../../../src/audit/store/sql.js';
import { openAuditStore } from '../../../src/audit/store/store.js';
import { createRecordWriter } from '../../../src/audit/store/write.js';
import { sampleRecord, TEST_KEY } from '../../support/audit.js';
import { startPostgresServer, type PostgresServer } from '../../support/postgres.js';

function trail(unsealed: UnsealedRequestRecord[], instance = 'inst-a'): AuditRecord[] {
  let tip = { seq: 0, hash: GENESIS };
  return unsealed.map((u) => {
    const r = seal(u, instance, tip, TEST_KEY);
    tip = { seq: r.chain.seq, hash: r.chain.hash };
    return r;
  });
}

const released = (ids: string[], withheld: string[] = []): Partial<UnsealedRequestRecord> => ({
  patients: { released: ids.map((id) => ({ id, types: { Observation: 2 } })), releasedCount: ids.length, withheld, withheldCount: withheld.length, changed: [], changedCount: 0 },
});

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgresServer();
}, 60000);
afterAll(async () => {
  await server?.stop();
});

const engines: Array<[string, () => Promise<SqlClient>]> = [
  ['postgres', async () => postgresClient({ url: server.url })],
  ['pglite', () => pgliteClient(null)],
];

describe.each(engines)('audit store on %s', (engine, open) => {
  let db: SqlClient;
  beforeAll(async () => {
    db = await open();
    if (engine === 'postgres') await db.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  }, 60000);
  afterAll(async () => {
    await db?.close();
  });

  it('applies the migrations once, in name order, and records their versions', async () => {
    const versions = readMigrations().map((m) => m.version);
    expect(await migrate(db)).toEqual(versions);
    expect(await migrate(db)).toEqual([]);
    const rows = await db.query<{ version: string }>('SELECT version FROM fhirgw_schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(versions);
  });

  it('refuses to start when an applied migration file was changed', async () => {
    const changed = readMigrations().map((m, i) => (i === 0 ? { ...m, checksum: 'x'.repeat(64) } : m));
    await expect(migrate(db, changed)).rejects.toBeInstanceOf(MigrationError);
  });

  it('stores a record delivered twice once, and answers by patient, subject, client, jti, address and time', async () => {
    const records = trail([
      sampleRecord({ time: '2026-10-31T23:59:59.000Z', ...released(['p1', 'p2'], ['p3']) }),
      sampleRecord({ time: '2026-11-01T00:00:00.000Z', ...released(['p2']), client: { address: '10.9.9.9' } }),
      sampleRecord({ time: '2026-11-15T12:00:00.000Z', ...released(['p1']), principal: { ...sampleRecord().principal!, sub: 'other', client_id: 'app-2', jti: 'jti-9' } }),
    ]);
    const writer = createRecordWriter(db);
    await writer.write(records.slice(0, 2));
    await writer.write(records); // a retry of the first two with the third
    const reader = createStoreReader(db);
    expect(await reader.count({})).toBe(3);
    const ids = async (filter: Parameters<typeof reader.count>[0]) => (await reader.records(filter, { order: 'asc', limit: 10 })).map((r) => r.record.deliveryId);
    expect(await ids({ patient: 'p1' })).toEqual([records[0]!.deliveryId, records[2]!.deliveryId]);
    expect(await ids({ patient: 'p3' })).toEqual([]);
    expect(await ids({ withheldPatient: 'p3' })).toEqual([records[0]!.deliveryId]);
    expect(await ids({ anyPatient: 'p3' })).toEqual([records[0]!.deliveryId]);
    expect(await ids({ subject: { iss: 'https://idp.example', sub: 'other' } })).toEqual([records[2]!.deliveryId]);
    expect(await ids({ client: 'app-2' })).toEqual([records[2]!.deliveryId]);
    expect(await ids({ jti: 'jti-9' })).toEqual([records[2]!.deliveryId]);
    expect(await ids({ address: '10.9.9.9' })).toEqual([records[1]!.deliveryId]);
    expect(await ids({ from: new Date('2026-11-01T00:00:00Z'), before: new Date('2026-11-15T12:00:00Z') })).toEqual([records[1]!.deliveryId]);
    // Newest first, in pages that continue after the last record of the previous one.
    const first = await reader.records({}, { order: 'desc', limit: 2 });
    const second = await reader.records({}, { order: 'desc', limit: 2, after: first.at(-1)!.position });
    expect([...first, ...second].map((r) => r.record.deliveryId)).toEqual([records[2]!.deliveryId, records[1]!.deliveryId, records[0]!.deliveryId]);
    // The chain read back from the store verifies with the key.
    const entries = [];
    for await (const e of reader.chainEntries()) entries.push(e);
    expect(verifyChain(entries, TEST_KEY)).toMatchObject({ ok: true, records: 3 });
  });

  it('detects an edited record read back from the store', async () => {
    await db.query(`UPDATE audit_records SET record = jsonb_set(record, '{outcome,status}', '404') WHERE seq = 2`);
    const entries = [];
    for await (const e of createStoreReader(db).chainEntries()) entries.push(e);
    expect(verifyChain(entries, TEST_KEY).problem).toMatchObject({ kind: 'edited', seq: 2 });
  });

  it('drops monthly partitions once their month is past the retention horizon', async () => {
    const partitions = async () => (await db.query<{ n: string }>(`SELECT c.relname AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_records' ORDER BY 1`)).map((r) => r.n);
    expect(await partitions()).toEqual(['audit_records_p202610', 'audit_records_p202611']);
    // Six years after November 2026: October's month is wholly past the horizon, November's not yet.
    expect(await dropExpiredPartitions(db, new Date('2032-11-20T00:00:00Z'), 72)).toEqual(['audit_records_p202610']);
    expect(await partitions()).toEqual(['audit_records_p202611']);
    expect(await createStoreReader(db).count({})).toBe(2);
    // A record for a dropped month is stored again (its partition is recreated).
    const writer = createRecordWriter(db);
    await writer.write(trail([sampleRecord({ time: '2026-10-02T00:00:00.000Z' })], 'inst-b'));
    expect(await createStoreReader(db).count({ from: new Date('2026-10-01T00:00:00Z'), before: new Date('2026-11-01T00:00:00Z') })).toBe(1);
  });
});

describe('replicas sharing one PostgreSQL store', () => {
  test('start together, create the same new month together and retry: every record is stored exactly once', async () => {
    const clients = [postgresClient({ url: server.url }), postgresClient({ url: server.url }), postgresClient({ url: server.url })];
    try {
      await clients[0]!.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
      // Migrations serialise on their lock: applied once, whoever comes first.
      const applied = await Promise.all(clients.map((c) => migrate(c)));
      expect(applied.flat()).toEqual(readMigrations().map((m) => m.version));
      const trails = clients.map((_, i) => trail(Array.from({ length: 50 }, (_, j) => sampleRecord({ time: `2027-01-0${1 + (j % 9)}T10:00:00.000Z` })), `replica-${i}`));
      // Each replica sends its batches twice (a lost reply), all at once.
      await Promise.all(clients.flatMap((c, i) => {
        const writer = createRecordWriter(c);
        return [writer.write(trails[i]!.slice(0, 25)), writer.write(trails[i]!), writer.write(trails[i]!.slice(25))];
      }));
      expect(await createStoreReader(clients[0]!).count({})).toBe(150);
      const partitions = await clients[0]!.query<{ n: string }>(`SELECT c.relname AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_records'`);
      expect(partitions.map((r) => r.n)).toEqual(['audit_records_p202701']);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

describe('partition maintenance', () => {
  test("makes this month's and the next two months' partitions at start, before any record needs them", async () => {
    const store = await openAuditStore({ connection: { kind: 'embedded', dir: null }, retentionMonths: 72, now: () => new Date('2026-12-03T10:00:00Z') });
    try {
      await store.startMaintenance();
      const rows = await store.db.query<{ n: string }>(`SELECT c.relname AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_records' ORDER BY 1`);
      expect(rows.map((r) => r.n)).toEqual(['audit_records_p202612', 'audit_records_p202701', 'audit_records_p202702']);
    } finally {
      await store.close();
    }
  });
});

describe('migration files', () => {
  it('must be named NNNN_name.sql', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-migrations-'));
    try {
      writeFileSync(path.join(dir, 'cases.sql'), 'SELECT 1');
      expect(() => readMigrations(dir)).toThrow(MigrationError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
