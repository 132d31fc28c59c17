/**
 * The access history at <base>/AuditEvent, answered by the gateway from its audit store (a real
 * PostgreSQL started by the test) over the real FHIR engine: a patient reads their own history and
 * is refused another's; the privacy office reads anyone's; everyone else is refused. Entries name no
 * other patient, staff appear by role and organisation to patients, pages use sealed cursors, and
 * reading a history is itself recorded.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { AuditRecord, RequestRecord } from '../../src/audit/record.js';
import { createStoreReader } from '../../src/audit/store/query.js';
import { postgresClient, type SqlClient } from '../../src/audit/store/sql.js';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { until } from '../support/audit.js';
import { startPostgresServer, type PostgresServer } from '../support/postgres.js';
import { startStack, tokensFor, type Stack } from '../support/stack.js';

type Bundle = { resourceType: string; type: string; link: Array<{ relation: string; url: string }>; entry?: Array<{ resource: AuditEventJson }> };
type AuditEventJson = {
  id: string;
  meta?: { profile: string[] };
  subtype: Array<{ code: string }>;
  agent: Array<{ requestor: boolean; who: { reference?: string; display?: string; identifier?: { value: string } }; role?: Array<{ text: string }> }>;
  entity: Array<{ what?: { reference?: string }; type?: { code: string } }>;
};

const [alba, bruno] = SYNTHETIC_PATIENTS as [(typeof SYNTHETIC_PATIENTS)[number], (typeof SYNTHETIC_PATIENTS)[number]];
let pg: PostgresServer;
let stack: Stack;
let dir: string;
let db: SqlClient;
let tokens: ReturnType<typeof tokensFor>;
let officer: string;
/** When the seeded traffic was over: histories up to then no longer change. */
let seededUntil: string;

const auditFile = () => path.join(dir, 'audit.jsonl');
const fileRecords = (): RequestRecord[] =>
  readFileSync(auditFile(), 'utf8')
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l) as AuditRecord)
    .filter((r): r is RequestRecord => r.kind === 'request');

async function stored(n: number): Promise<void> {
  const reader = createStoreReader(db);
  await until(() => reader.count({ kind: 'request' }), (c) => c >= n, 15000, `${n} records in the store`);
}

beforeAll(async () => {
  pg = await startPostgresServer();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-history-'));
  stack = await startStack({
    config: (d) => ({ ...d, audit: { sinks: [{ type: 'file', name: 'file', path: path.join(dir, 'audit.jsonl') }, { type: 'postgres', name: 'store', url: pg.url }] } }),
  });
  db = postgresClient({ url: pg.url, poolSize: 1 });
  tokens = tokensFor(stack.issuer);
  officer = await stack.issuer.mint({ sub: 'privacy-1', scope: 'user/*.rs', roles: ['privacy-officer'], fhirUser: 'Practitioner/privacy-1' });
  // Traffic: a clinician's search across patients, a read of each of two patients.
  const clinician = await tokens.clinician();
  for (const p of ['Observation?_count=50', `Patient/${alba.id}`, `Patient/${bruno.id}`, `Observation?patient=Patient/${alba.id}`]) {
    expect((await stack.fetch(p, { token: clinician })).status).toBe(200);
  }
  await stored(4);
  await new Promise((r) => setTimeout(r, 5));
  seededUntil = new Date().toISOString();
}, 60000);

afterAll(async () => {
  await db?.close();
  await stack?.close();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function history(token: string, query: string): Promise<{ status: number; body: Bundle; requestId: string }> {
  const res = await stack.fetch(`AuditEvent${query}`, { token });
  return { status: res.status, body: (await res.json()) as Bundle, requestId: res.headers.get('x-request-id') ?? '' };
}

describe('access history', () => {
  test('a patient reads their own history: BALP entries about them only, staff by role and organisation, and the read is recorded', async () => {
    const token = await tokens.patient(alba.id);
    const upstreamBefore = stack.fhir.requests.length;
    const { status, body, requestId } = await history(token, `?patient=${alba.id}&date=le${seededUntil}&_sort=-date`);
    expect(status).toBe(200);
    // Answered from the store: nothing was sent upstream.
    expect(stack.fhir.requests.length).toBe(upstreamBefore);
    expect(body).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    const events = (body.entry ?? []).map((e) => e.resource);
    // The search across patients, the read of Alba and the search of her Observations; not the read of Bruno.
    expect(events.map((e) => e.subtype[0]?.code)).toEqual(['search-type', 'read', 'search-type']);
    for (const e of events) {
      expect(e.meta?.profile[0]).toMatch(/IHE\.BasicAudit\.Patient(Read|Query)$/);
      expect(e.entity.filter((x) => x.type?.code === '1').map((x) => x.what?.reference)).toEqual([`Patient/${alba.id}`]);
      const user = e.agent.find((a) => a.requestor);
      expect(user?.who).toEqual({ display: 'the care provider' });
      expect(user?.role).toEqual([{ text: 'clinician' }]);
    }
    // No other patient, and no staff name, anywhere in the answer.
    const text = JSON.stringify(body);
    for (const other of SYNTHETIC_PATIENTS.filter((p) => p.id !== alba.id)) expect(text).not.toContain(other.id);
    expect(text).not.toContain('prac-hopper');
    // Reading the history is itself recorded, as a release of Alba's data.
    const record = await until(async () => fileRecords().find((r) => r.requestId === requestId), (r) => r !== undefined, 5000, 'the record of the read');
    expect(record?.request).toMatchObject({ type: 'AuditEvent', interaction: 'search-type' });
    expect(record?.patients?.released).toEqual([{ id: alba.id, types: { AuditEvent: 3 } }]);
  });

  test("a patient is refused another patient's history, and anyone but the privacy office is refused", async () => {
    expect((await history(await tokens.patient(alba.id), `?patient=${bruno.id}`)).status).toBe(403);
    expect((await history(await tokens.clinician(), `?patient=${alba.id}`)).status).toBe(403);
    expect((await history(await tokens.researcher(), '')).status).toBe(403);
  });

  test("the privacy office reads any patient's history, staff by name", async () => {
    const { status, body } = await history(officer, `?patient=${bruno.id}&date=le${seededUntil}`);
    expect(status).toBe(200);
    const events = (body.entry ?? []).map((e) => e.resource);
    expect(events.map((e) => e.subtype[0]?.code)).toEqual(['read', 'search-type']);
    // The clinician's token has no fhirUser: named by issuer and subject.
    expect(events[0]?.agent.find((a) => a.requestor)?.who).toEqual({ identifier: { system: stack.issuer.issuer, value: 'Practitioner/prac-hopper' } });
  });

  test('pages follow sealed cursors; criteria filter entries; unknown parameters are refused', async () => {
    const token = await tokens.patient(alba.id);
    const first = await history(token, `?date=le${seededUntil}&_count=2`);
    expect(first.body.entry).toHaveLength(2);
    const next = first.body.link.find((l) => l.relation === 'next')?.url;
    expect(next).toMatch(/\?_gwcursor=/);
    const second = (await (await stack.fetch(next!, { token })).json()) as Bundle;
    expect(second.entry).toHaveLength(1);
    expect(second.link.some((l) => l.relation === 'next')).toBe(false);
    const ids = [...first.body.entry!, ...second.entry!].map((e) => e.resource.id);
    expect(new Set(ids).size).toBe(3);
    // Another principal cannot use the cursor.
    expect((await stack.fetch(next!, { token: officer })).status).toBe(400);

    const reads = await history(token, `?date=le${seededUntil}&subtype=read`);
    expect((reads.body.entry ?? []).map((e) => e.resource.subtype[0]?.code)).toEqual(['read']);
    const oldest = await history(token, `?date=le${seededUntil}&_sort=date&_count=1`);
    expect(oldest.body.entry?.[0]?.resource.id).toBe(ids[2]);
    expect((await history(token, '?site=x')).status).toBe(400);
    expect((await history(token, '?date=2026-13-01')).status).toBe(400);
    // Staff hidden from patients cannot be searched for by name either.
    expect((await history(token, '?agent=Practitioner/prac-hopper')).status).toBe(400);
  });

  test("traffic about another patient does not enter a patient's history: Alba's reads are the same before and after Bruno's", async () => {
    const token = await tokens.patient(alba.id);
    // Reads only: Alba's own reads of her history (searches) are recorded into it as they happen.
    const reads = async () => (await history(token, '?subtype=read')).body.entry;
    const before = await reads();
    expect(before).toHaveLength(1);
    const clinician = await tokens.clinician();
    for (let i = 0; i < 3; i++) expect((await stack.fetch(`Patient/${bruno.id}`, { token: clinician })).status).toBe(200);
    expect((await stack.fetch(`Observation?patient=Patient/${bruno.id}`, { token: clinician })).status).toBe(200);
    await stored(fileRecords().length);
    expect(await reads()).toEqual(before);
  });
});

describe('access history on the embedded store (PGlite, as the demo runs it)', () => {
  test('a patient reads their own history from a gateway with nothing but Node', async () => {
    const storeDir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-history-embedded-'));
    const embedded = await startStack({ config: (d) => ({ ...d, audit: { sinks: [{ type: 'postgres', name: 'store', embedded: { dir: storeDir } }] } }) });
    try {
      const t = tokensFor(embedded.issuer);
      expect((await embedded.fetch(`Patient/${alba.id}`, { token: await t.clinician() })).status).toBe(200);
      const token = await t.patient(alba.id);
      const reads = await until(
        async () => ((await (await embedded.fetch('AuditEvent?subtype=read', { token })).json()) as Bundle).entry ?? [],
        (entries) => entries.length === 1,
        10000,
        'the read in the embedded store',
      );
      expect(reads[0]?.resource.entity.filter((e) => e.type?.code === '1').map((e) => e.what?.reference)).toEqual([`Patient/${alba.id}`]);
    } finally {
      await embedded.close();
      rmSync(storeDir, { recursive: true, force: true });
    }
    // PGlite compiles PostgreSQL's WebAssembly at start: seconds of CPU, more on a loaded machine.
  }, 90000);
});
