/**
 * Review cases in the audit store (a real PostgreSQL started by the test): a break-the-glass
 * record opens a case naming who, which patient, the stated reason and what was released; the
 * same record judged again (a second replica, a replay) opens nothing more; a reviewer closes it
 * with a note, which writes a transition record into the store's chain (verified), and a closed
 * case cannot be closed again.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { seal, GENESIS, verifyChain } from '../../../src/audit/chain.js';
import type { RequestRecord } from '../../../src/audit/record.js';
import { openAuditStore, type AuditStore } from '../../../src/audit/store/store.js';
import { CaseTransitionError } from '../../../src/cases/case.js';
import { createSqlCaseStore } from '../../../src/cases/sql-store.js';
import { createDetector } from '../../../src/detect/detector.js';
import { createLinkedPatients } from '../../../src/detect/staff-links.js';
import { createMemoryVolumeState, DEFAULT_VOLUME } from '../../../src/detect/volume.js';
import { sampleRecord, TEST_KEY } from '../../support/audit.js';
import { startPostgresServer, type PostgresServer } from '../../support/postgres.js';

let pg: PostgresServer;
let store: AuditStore;

beforeAll(async () => {
  pg = await startPostgresServer();
  store = await openAuditStore({ connection: { kind: 'postgres', url: pg.url, poolSize: 4 }, retentionMonths: 72 });
  await store.ready();
}, 60_000);
afterAll(async () => {
  await store?.close();
  await pg?.stop();
});

const breakGlass = seal(
  sampleRecord({
    time: '2026-11-24T02:10:00.000Z',
    principal: { iss: 'https://idp.example', sub: 'dr-night', client_id: 'ehr', jti: 'j-1', roles: ['physician'], purpose_of_use: ['ETREAT'], patient: null, fhir_user: 'Practitioner/dr-night', scopes: ['user/*.rs'] },
    request: { method: 'GET', interaction: 'search-type', type: 'Observation', id: null, version: null, compartment: null, operation: null, params: [] },
    outcome: { decision: 'allow', reasons: ['break-glass'], error: null, status: 200, breakGlass: true, breakGlassReason: 'unconscious patient in the ED' },
    patients: { released: [{ id: 'pat-7', types: { Observation: 12, Condition: 2 } }], releasedCount: 1, withheld: [], withheldCount: 0, changed: [], changedCount: 0 },
  }),
  'gw-1',
  { seq: 0, hash: GENESIS },
  TEST_KEY,
) as RequestRecord;

describe('break-the-glass review cases', () => {
  test('opened once per record and patient, closed by a reviewer with a transition record in the chain', async () => {
    const cases = createSqlCaseStore({ db: store.db, transitions: { instance: 'review', key: TEST_KEY, policyRevision: 'rev-1' } });
    // Break-the-glass only: the other signals need facts this test does not provide.
    const detector = () =>
      createDetector({ facts: { factsOf: async () => ({ careActors: new Set(), labels: new Set(), found: true }) }, links: createLinkedPatients([], async () => null), volumeState: createMemoryVolumeState(24), volume: DEFAULT_VOLUME, restrictedLabels: [], restrictedPatients: [], hours: {}, signals: [] }, cases);
    // Two replicas judging the same record at once.
    const [a, b] = await Promise.all([detector().process(breakGlass), detector().process(breakGlass)]);
    expect([...a.outcomes, ...b.outcomes].map((o) => o.outcome).sort()).toEqual(['opened', 'unchanged']);

    const open = await cases.list({ status: 'open' });
    expect(open).toHaveLength(1);
    const c = open[0]!;
    expect(c).toMatchObject({
      kind: 'break-glass',
      status: 'open',
      patient: 'pat-7',
      statedReason: 'unconscious patient in the ED',
      user: { iss: 'https://idp.example', sub: 'dr-night', fhirUser: 'Practitioner/dr-night', clientId: 'ehr' },
      released: [
        { type: 'Observation', count: 12 },
        { type: 'Condition', count: 2 },
      ],
    });
    expect(c.findings.map((f) => [f.signal, f.record])).toEqual([['break-glass', 'gw-1/1']]);
    expect(await cases.stats()).toEqual({ open: 1, oldestOpenAt: '2026-11-24T02:10:00.000Z' });

    const closed = await cases.closeAs(c.id, 'justified', { iss: 'https://idp.example', sub: 'privacy-1', clientId: 'console', roles: ['privacy-officer'] }, 'ED admission confirmed', '2026-11-25T09:00:00.000Z');
    expect(closed.status).toBe('justified');
    expect(closed.transitions).toEqual([{ from: 'open', to: 'justified', at: '2026-11-25T09:00:00.000Z', reviewer: 'https://idp.example|privacy-1', note: 'ED admission confirmed' }]);
    expect(await cases.get(c.id)).toEqual(closed);
    expect(await cases.stats()).toEqual({ open: 0, oldestOpenAt: null });
    await expect(cases.closeAs(c.id, 'unjustified', { iss: 'x', sub: 'y', clientId: null, roles: [] }, 'again', '2026-11-25T10:00:00.000Z')).rejects.toEqual(new CaseTransitionError('case_not_open', c.id));
    await expect(cases.close('00000000-0000-4000-8000-000000000000', 'justified', 'r', 'n', '2026-11-25T10:00:00.000Z')).rejects.toEqual(new CaseTransitionError('case_not_found', '00000000-0000-4000-8000-000000000000'));

    // The transition is a record of its own, in the store, sealed into the `review` chain.
    const transitions = [];
    for await (const s of store.reader.scan({ kind: 'request', agent: 'privacy-1' })) transitions.push(s.record);
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ request: { interaction: 'operation', operation: 'review', id: c.id }, outcome: { reasons: ['review.justified'] }, principal: { sub: 'privacy-1' }, chain: { instance: 'review', seq: 1 } });
    const entries = [];
    for await (const e of store.reader.chainEntries('review')) entries.push(e);
    expect(verifyChain(entries, TEST_KEY)).toMatchObject({ ok: true, records: 1 });
  }, 60_000);
});
