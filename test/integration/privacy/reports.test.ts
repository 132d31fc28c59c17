/**
 * The privacy office's reports over a real PostgreSQL audit store holding several days of
 * generated traffic (sealed records of two gateway instances, several users, purposes, patients):
 * the breach scope of a subject, a client, a token and an address matches the ground truth the
 * generator kept; an edited or a deleted record among those read is reported; the accounting of
 * disclosures leaves TPO out unless asked, never lists the patient's own accesses, and is the
 * same, byte for byte, from the CLI (json, csv, fhir) on every run.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { GENESIS, seal, type ChainTip } from '../../../src/audit/chain.js';
import type { AuditRecord } from '../../../src/audit/record.js';
import { openAuditStore, type AuditStore } from '../../../src/audit/store/store.js';
import { disclosuresCsv } from '../../../src/privacy/disclosures.js';
import { breachScope, disclosures } from '../../../src/privacy/store-reports.js';
import { sampleRecord, TEST_KEY } from '../../support/audit.js';
import { pdfText } from '../../support/pdf-text.js';
import { startPostgresServer, type PostgresServer } from '../../support/postgres.js';

const run = promisify(execFile);
let pg: PostgresServer;
let store: AuditStore;
const ISS = 'https://idp.example';

interface Truth {
  types: Map<string, number>;
  first: string;
  last: string;
  records: number;
}
const truthOf = new Map<string, Map<string, Truth>>(); // subject -> patient -> truth
const records: AuditRecord[] = [];
const window = { from: new Date('2026-11-02T00:00:00Z'), to: new Date('2026-11-09T00:00:00Z') };

/** A small seeded generator: the same trail on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(async () => {
  pg = await startPostgresServer();
  store = await openAuditStore({ connection: { kind: 'postgres', url: pg.url, poolSize: 4 }, retentionMonths: 72 });
  await store.ready();
  const rnd = prng(7);
  const tips = new Map<string, ChainTip>([['gw-a', { seq: 0, hash: GENESIS }], ['gw-b', { seq: 0, hash: GENESIS }]]);
  const subjects = ['dr-a', 'dr-b', 'nurse-c', 'clerk-d'];
  const types = ['Observation', 'Condition', 'MedicationRequest'];
  // Six days (plus records outside the window on both sides), a record every ~10 minutes.
  for (let t = Date.parse('2026-11-01T20:00:00Z'); t < Date.parse('2026-11-09T04:00:00Z'); t += Math.floor(rnd() * 20 * 60_000)) {
    const sub = subjects[Math.floor(rnd() * subjects.length)] as string;
    const instance = rnd() < 0.5 ? 'gw-a' : 'gw-b';
    const n = 1 + Math.floor(rnd() * 3);
    const released = Array.from({ length: n }, () => ({ id: `p${Math.floor(rnd() * 40)}`, types: { [types[Math.floor(rnd() * types.length)] as string]: 1 + Math.floor(rnd() * 5) } }));
    const merged = new Map<string, Record<string, number>>();
    for (const r of released) {
      const m = merged.get(r.id) ?? {};
      for (const [k, v] of Object.entries(r.types)) m[k] = (m[k] ?? 0) + v;
      merged.set(r.id, m);
    }
    const refused = rnd() < 0.1;
    const purpose = sub === 'clerk-d' ? ['HPAYMT'] : rnd() < 0.2 ? ['PUBHLTH'] : ['TREAT'];
    const time = new Date(t).toISOString();
    const record = sampleRecord({
      time,
      client: { address: sub === 'dr-b' ? '10.0.0.66' : '10.0.0.7' },
      principal: { iss: ISS, sub, client_id: sub === 'nurse-c' ? 'mobile-app' : 'ehr', jti: `${sub}-${time.slice(0, 10)}`, roles: ['clinician'], purpose_of_use: purpose, patient: null, fhir_user: `Practitioner/${sub}`, scopes: ['user/*.rs'] },
      request: { method: 'GET', interaction: 'search-type', type: 'Observation', id: null, version: null, compartment: null, operation: null, params: [] },
      outcome: refused ? { decision: 'deny', reasons: ['scope.missing'], error: 'forbidden', status: 403, breakGlass: false } : { decision: 'allow', reasons: ['scope.ok'], error: null, status: 200, breakGlass: false },
      patients: refused ? null : { released: [...merged].map(([id, ty]) => ({ id, types: ty })), releasedCount: merged.size, withheld: [], withheldCount: 0, changed: [], changedCount: 0 },
    });
    const sealed = seal(record, instance, tips.get(instance) as ChainTip, TEST_KEY);
    tips.set(instance, { seq: sealed.chain.seq, hash: sealed.chain.hash });
    records.push(sealed);
    if (refused || t < window.from.getTime() || t >= window.to.getTime()) continue;
    const bySubject = truthOf.get(sub) ?? new Map<string, Truth>();
    truthOf.set(sub, bySubject);
    for (const [id, ty] of merged) {
      const e = bySubject.get(id) ?? { types: new Map(), first: time, last: time, records: 0 };
      e.records++;
      e.last = time;
      for (const [k, v] of Object.entries(ty)) e.types.set(k, (e.types.get(k) ?? 0) + v);
      bySubject.set(id, e);
    }
  }
  // The patient reading their own record: never a disclosure.
  const own = seal(sampleRecord({ time: '2026-11-04T12:00:00.000Z', principal: { iss: ISS, sub: 'p3', client_id: 'portal', jti: null, roles: ['patient'], purpose_of_use: ['PATRQT'], patient: 'p3', fhir_user: 'Patient/p3', scopes: ['patient/*.rs'] }, patients: { released: [{ id: 'p3', types: { Patient: 1 } }], releasedCount: 1, withheld: [], withheldCount: 0, changed: [], changedCount: 0 } }), 'gw-c', { seq: 0, hash: GENESIS }, TEST_KEY);
  records.push(own);
  await store.writer.write(records);
}, 120_000);

afterAll(async () => {
  await store?.close();
  await pg?.stop();
});

const expected = (sub: string) =>
  [...(truthOf.get(sub) ?? new Map<string, Truth>())]
    .map(([patient, e]) => ({ patient, released: [...e.types].sort(([a], [b]) => (a < b ? -1 : 1)).map(([type, count]) => ({ type, count })), firstAccess: e.first, lastAccess: e.last, records: e.records }))
    .sort((a, b) => (a.firstAccess < b.firstAccess ? -1 : a.firstAccess > b.firstAccess ? 1 : a.patient < b.patient ? -1 : 1));

describe('breach scope', () => {
  test('a subject across several days: every affected patient with types, counts, first and last access, as generated; the chain intact', async () => {
    const scope = await breachScope(store.reader, { subject: { iss: ISS, sub: 'dr-a' } }, window, TEST_KEY);
    expect(scope.patients).toEqual(expected('dr-a'));
    expect(scope.patients.length).toBeGreaterThan(20);
    expect(scope.totals.patients).toBe(scope.patients.length);
    expect(scope.totals.resources).toBe(expected('dr-a').reduce((n, p) => n + p.released.reduce((m, r) => m + r.count, 0), 0));
    expect(scope.chain).toMatchObject({ ok: true, problem: null });
  });

  test('by client, token and address: the records of that client, token and address only', async () => {
    expect((await breachScope(store.reader, { client: 'mobile-app' }, window, TEST_KEY)).patients).toEqual(expected('nurse-c'));
    expect((await breachScope(store.reader, { address: '10.0.0.66' }, window, TEST_KEY)).patients).toEqual(expected('dr-b'));
    const day = (await breachScope(store.reader, { jti: 'dr-a-2026-11-05' }, window, TEST_KEY)).patients;
    expect(day.length).toBeGreaterThan(0);
    expect(day.every((p) => p.firstAccess.startsWith('2026-11-05') && p.lastAccess.startsWith('2026-11-05'))).toBe(true);
  });

  test('an edited record, and a deleted one between records read, are reported', async () => {
    const mine = records.filter((r) => r.kind === 'request' && r.principal?.sub === 'clerk-d' && r.time >= '2026-11-03' && r.time < '2026-11-07');
    const victim = mine[3] as AuditRecord;
    await store.db.query(`UPDATE audit_records SET record = jsonb_set(record, '{durationMs}', '99') WHERE delivery_id = $1`, [victim.deliveryId]);
    const edited = await breachScope(store.reader, { subject: { iss: ISS, sub: 'clerk-d' } }, window, TEST_KEY);
    expect(edited.chain).toMatchObject({ ok: false, problem: { kind: 'edited', instance: victim.chain.instance, seq: victim.chain.seq } });
    await store.db.query(`UPDATE audit_records SET record = jsonb_set(record, '{durationMs}', $2::jsonb) WHERE delivery_id = $1`, [victim.deliveryId, JSON.stringify(victim.kind === 'request' ? victim.durationMs : 0)]);

    // Another user's record between two of clerk-d's on the same instance, deleted.
    const onA = mine.filter((r) => r.chain.instance === 'gw-a');
    const [low, high] = [(onA[1] as AuditRecord).chain.seq, (onA.at(-2) as AuditRecord).chain.seq];
    const between = records.find((r) => r.chain.instance === 'gw-a' && r.chain.seq > low && r.chain.seq < high && r.kind === 'request' && r.principal?.sub !== 'clerk-d') as AuditRecord;
    await store.db.query('DELETE FROM audit_records WHERE delivery_id = $1', [between.deliveryId]);
    const gap = await breachScope(store.reader, { subject: { iss: ISS, sub: 'clerk-d' } }, window, TEST_KEY);
    expect(gap.chain).toMatchObject({ ok: false, problem: { kind: 'missing', instance: between.chain.instance, seq: between.chain.seq } });
    await store.writer.write([between]);
    expect((await breachScope(store.reader, { subject: { iss: ISS, sub: 'clerk-d' } }, window, TEST_KEY)).chain).toMatchObject({ ok: true });
  });
});

describe('accounting of disclosures', () => {
  test('TPO left out by default and in with includeTpo; the patient own access never listed', async () => {
    const all = await disclosures(store.reader, 'p3', window, { includeTpo: true, organisation: 'Example Hospital' });
    const some = await disclosures(store.reader, 'p3', window, { includeTpo: false, organisation: 'Example Hospital' });
    expect(all.disclosures.length).toBeGreaterThan(some.disclosures.length);
    expect(some.disclosures.length).toBeGreaterThan(0);
    expect(some.disclosures.every((d) => d.purposeOfUse.join() === 'PUBHLTH' && !d.tpo)).toBe(true);
    expect(all.disclosures.some((d) => d.recipient.user === 'Patient/p3')).toBe(false);
    const truth = records.filter((r) => r.kind === 'request' && r.outcome.decision === 'allow' && r.principal?.fhir_user !== 'Patient/p3' && r.time >= '2026-11-02' && r.time < '2026-11-09' && r.patients?.released.some((p) => p.id === 'p3'));
    expect(all.disclosures.map((d) => d.record)).toEqual(truth.map((r) => r.deliveryId));
    expect(all.disclosures[0]).toMatchObject({ recipient: { organisation: 'Example Hospital', client: expect.any(String) }, description: expect.any(Array) });
  });

  test('the CLI gives the same answer on every run, in json, csv and fhir, and the PDF prints it', async () => {
    const cli = (format: string) =>
      run(process.execPath, ['dist/cli.js', 'audit', 'disclosures', '--store', pg.url, '--patient', 'p3', '--from', '2026-11-02', '--to', '2026-11-08', '--format', format, '--organisation', 'Example Hospital'], { env: { ...process.env, FHIRGW_AUDIT_HMAC_KEY: TEST_KEY.toString('utf8') } });
    const csv = await cli('csv');
    expect((await cli('csv')).stdout).toBe(csv.stdout);
    const direct = await disclosures(store.reader, 'p3', window, { includeTpo: false, organisation: 'Example Hospital' });
    expect(csv.stdout).toBe(disclosuresCsv(direct.disclosures));
    const json = JSON.parse((await cli('json')).stdout) as { disclosures: unknown[] };
    expect(json.disclosures).toEqual(JSON.parse(JSON.stringify(direct.disclosures)));
    const fhir = JSON.parse((await cli('fhir')).stdout) as { resourceType: string; entry: Array<{ resource: { resourceType: string; entity: Array<{ what?: { reference?: string } }> } }> };
    expect(fhir.resourceType).toBe('Bundle');
    expect(fhir.entry).toHaveLength(direct.disclosures.length);
    // No other patient in the FHIR form.
    expect(fhir.entry.flatMap((e) => e.resource.entity.map((x) => x.what?.reference)).filter((r) => r?.startsWith('Patient/') && r !== 'Patient/p3')).toEqual([]);
    // The PDF for the patient: the same disclosures, each recipient printed, on numbered pages.
    const pdf = await run(process.execPath, ['dist/cli.js', 'audit', 'disclosures', '--store', pg.url, '--patient', 'p3', '--from', '2026-11-02', '--to', '2026-11-08', '--format', 'pdf', '--organisation', 'Example Hospital'], { env: { ...process.env, FHIRGW_AUDIT_HMAC_KEY: TEST_KEY.toString('utf8') }, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
    expect(pdf.stdout.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const { strings, pages } = pdfText(pdf.stdout);
    expect(strings).toEqual(expect.arrayContaining(['Accounting of disclosures', 'p3', 'Example Hospital', `${direct.disclosures.length} (treatment, payment and health care operations left out, 45 CFR 164.528(a)(1)(i))`]));
    for (const d of direct.disclosures) expect(strings.some((t) => t.includes(d.recipient.client ?? '(none)'))).toBe(true);
    expect(strings.filter((t) => t.startsWith('Page ')).length).toBe(pages);
  }, 60_000);
});
