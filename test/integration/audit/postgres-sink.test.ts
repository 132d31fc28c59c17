/**
 * The postgres sink against a real PostgreSQL that the test starts, kills (SIGKILL of the postmaster
 * and its backends, mid-burst) and restarts: every record must be stored exactly once and the chain
 * read back from the store must verify. PostgreSQL's commit is durable (WAL), so what it
 * acknowledged survives the kill: a duplicate or a gap would be the gateway's.
 *
 * Also through the same stack and the real FHIR engine: a clinician's search across patients is
 * recorded with exactly the patients whose data the answer released.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { AuditRecord, RequestRecord } from '../../../src/audit/record.js';
import { createStoreReader } from '../../../src/audit/store/query.js';
import { postgresClient, type SqlClient } from '../../../src/audit/store/sql.js';
import { verifyTrail } from '../../../src/audit/verify.js';
import { SYNTHETIC_PATIENTS } from '../../../src/devkit/synthetic-data.js';
import { burstThroughOutage, metricValue, TEST_KEY, until, writeKeyFile } from '../../support/audit.js';
import { startPostgresServer, type PostgresServer } from '../../support/postgres.js';
import { startStack, tokensFor, type Stack } from '../../support/stack.js';

const CLI = path.resolve('dist/cli.js');
let pg: PostgresServer;
let stack: Stack;
let dir: string;
let db: SqlClient;

beforeAll(async () => {
  pg = await startPostgresServer();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-audit-pg-'));
  const keyFile = writeKeyFile(dir);
  stack = await startStack({
    config: (d) => ({
      ...d,
      audit: {
        sinks: [
          { type: 'file', name: 'file', path: path.join(dir, 'audit.jsonl') },
          { type: 'postgres', name: 'store', url: pg.url },
        ],
        spool: { dir: path.join(dir, 'spool'), durability: 'durable' },
        delivery: { retryInitialMs: 20, retryMaxMs: 200 },
        hmacKeyFile: keyFile,
      },
    }),
  });
  db = postgresClient({ url: pg.url, poolSize: 1 });
}, 60000);

afterAll(async () => {
  await db?.close();
  await stack?.close();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function stored(): Promise<AuditRecord[]> {
  const rows = await db.query<{ record: AuditRecord }>('SELECT record FROM audit_records ORDER BY instance, seq');
  return rows.map((r) => r.record);
}

const fileRecords = (): AuditRecord[] => (!existsSync(path.join(dir, 'audit.jsonl')) ? [] : readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').split('\n').slice(0, -1).map((l) => JSON.parse(l) as AuditRecord));
// (Only complete lines: the last element is empty, or a line the sink is still writing.)

describe('postgres audit sink', () => {
  test("a clinician's search across patients is stored naming exactly the patients whose data it released", async () => {
    const token = await tokensFor(stack.issuer).clinician();
    const res = await stack.fetch('Observation?_count=50', { token });
    expect(res.status).toBe(200);
    const bundle = (await res.json()) as { entry?: Array<{ resource: { resourceType: string; subject?: { reference?: string } } }> };
    const counts = new Map<string, number>();
    for (const e of bundle.entry ?? []) {
      const id = /Patient\/([^/]+)$/.exec(e.resource.subject?.reference ?? '')?.[1];
      if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.size).toBeGreaterThan(1);
    const requestId = res.headers.get('x-request-id')!;
    const record = await until(async () => fileRecords().find((r): r is RequestRecord => r.kind === 'request' && r.requestId === requestId), (r) => r !== undefined, 5000, 'the record').then((r) => r!);
    expect(new Map(record.patients!.released.map((p) => [p.id, p.types['Observation']]))).toEqual(counts);
    expect(record.patients!.releasedCount).toBe(counts.size);
    // The store answers by patient with the same record.
    const reader = createStoreReader(db);
    const [first] = [...counts.keys()];
    const found = await until(() => reader.records({ patient: first! }, { order: 'desc', limit: 50 }), (r) => r.some((x) => x.record.deliveryId === record.deliveryId), 10000, 'the record in the store');
    expect(found.find((x) => x.record.deliveryId === record.deliveryId)?.record).toEqual(record);
  });

  test('a write is recorded naming the patient it changed', async () => {
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.cruds', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    const patient = SYNTHETIC_PATIENTS[1]!;
    const res = await stack.fetch('Observation', {
      token,
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${patient.id}` } }),
    });
    expect(res.status).toBe(201);
    const requestId = res.headers.get('x-request-id')!;
    const record = await until(async () => fileRecords().find((r): r is RequestRecord => r.kind === 'request' && r.requestId === requestId), (r) => r !== undefined, 5000, 'the record').then((r) => r!);
    expect(record.patients).toMatchObject({ changed: [patient.id], changedCount: 1 });
  });

  test('PostgreSQL killed and restarted during a burst: every record is stored exactly once, and the chain read back verifies', async () => {
    const token = await tokensFor(stack.issuer).clinician();
    const patient = SYNTHETIC_PATIENTS[0]!;
    const N = 240;
    const { answers, outage } = await burstThroughOutage(N, (p) => stack.fetch(p, { token }), patient.id, pg);
    expect(outage).toEqual([60, 160]);
    // The outage never reached the clients: durable mode waits for the local spool, not for the store.
    expect(answers).toHaveLength(N);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(await metricValue(new URL(stack.base).origin, 'fhirgw_audit_write_failures_total', { sink: 'store' })).toBeGreaterThan(0);

    const all = await until(stored, (rows) => answers.every((a) => rows.some((r) => r.kind === 'request' && r.requestId === a.requestId)) && rows.length >= fileRecords().length, 30000, 'all records in the store');
    const requests = all.filter((r): r is RequestRecord => r.kind === 'request');
    // Exactly once: each request id of the burst once, and nothing the file sink does not hold.
    const burstIds = new Set(answers.map((a) => a.requestId));
    expect(requests.filter((r) => burstIds.has(r.requestId))).toHaveLength(N);
    expect(new Set(requests.map((r) => r.deliveryId)).size).toBe(requests.length);
    // The same sealed records as the file sink, gapless per instance.
    expect(all).toEqual(fileRecords());
    const seqs = all.map((r) => r.chain.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));

    const report = await verifyTrail({ postgresUrl: pg.url }, TEST_KEY);
    expect(report).toMatchObject({ ok: true, duplicates: 0, problem: null, records: all.length });
    // The same check from the command line (needs `npm run build`).
    const cli = spawnSync(process.execPath, [CLI, 'audit', 'verify', pg.url, '--key-file', path.join(dir, 'audit-hmac-key')], { encoding: 'utf8' });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toContain('OK: the chain is intact');
    expect(await metricValue(new URL(stack.base).origin, 'fhirgw_audit_records_dropped_total', { sink: 'store' })).toBe(0);
  }, 90000);
});
