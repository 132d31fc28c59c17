/**
 * Disclosure facts: the enforcement summary (and so the audit record and its views) names the
 * patients whose data was released, with types and counts, and those with data withheld, by the
 * Patient compartment facts policy decided on; lists are capped with exact counts.
 */
import { describe, expect, test } from '@jest/globals';
import { buildRequestRecord } from '../../src/audit/build.js';
import { GENESIS, seal, verifyChain } from '../../src/audit/chain.js';
import { toAuditEvent } from '../../src/audit/formats/audit-event.js';
import { toDecisionLog } from '../../src/audit/formats/decision-log.js';
import { parseRecordedLine } from '../../src/policy-cli/replay.js';
import type { RequestRecord } from '../../src/audit/record.js';
import { emptySummary, enforceResponse, MAX_LISTED_PATIENTS, mergeSummary, noteWritten, type ResponseEnforcer } from '../../src/enforce/response.js';
import { createLinkRewriter } from '../../src/fhir/links.js';
import type { Decision } from '../../src/policy/contract.js';
import { asEntries, sampleRecord, TEST_KEY } from '../support/audit.js';
import { assertValid } from '../support/schemas.js';

const UP = 'http://hapi.internal:8080/fhir';
const links = createLinkRewriter(UP, 'https://fhir.example.org/fhir');
const allow: Decision = { allow: true, reasons: ['scope.ok'], obligations: {} };
const deny: Decision = { allow: false, reasons: ['compartment.other-patient'], obligations: {} };
/** Releases everything except patient `withheld`'s data. */
const allExcept = (withheld: string): ResponseEnforcer => ({ links, decide: (items) => items.map((i) => (i.facts.patients.includes(withheld) ? deny : allow)) });
const searchset = (resources: object[]) => ({ resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource, search: { mode: 'match' } })) });
const facts = (summary: ReturnType<typeof emptySummary>) => ({
  requestId: 'req-1', decisionId: '0b0c5c4e-3d5e-4f7a-9a51-2f7c1e9d8a01', time: new Date('2026-11-24T10:00:00Z'), request: null, principal: null, decision: null,
  summary, policyRevision: 'rev', status: 200, error: null, durationSeconds: 0.5, clientAddress: null,
});
const options = { mask: () => ({ name: 'x', modifier: null, value: null, mask: 'removed' as const }), clientAddress: false };

describe('patients in the enforcement summary', () => {
  test('a search across patients names each released patient with types and counts, and the withheld one', async () => {
    const body = searchset([
      { resourceType: 'Observation', id: 'o1', subject: { reference: 'Patient/a' } },
      { resourceType: 'Observation', id: 'o2', subject: { reference: 'Patient/a' } },
      { resourceType: 'Condition', id: 'c1', subject: { reference: `${UP}/Patient/b` } },
      { resourceType: 'Observation', id: 'o3', subject: { reference: 'Patient/c' } },
      { resourceType: 'Medication', id: 'm1' },
    ]);
    const summary = await enforceResponse(body, allExcept('c'));
    const record = buildRequestRecord(facts(summary), options);
    expect(record.patients).toEqual({
      released: [
        { id: 'a', types: { Observation: 2 } },
        { id: 'b', types: { Condition: 1 } },
      ],
      releasedCount: 2,
      withheld: ['c'],
      withheldCount: 1,
      changed: [],
      changedCount: 0,
    });
    const sealed = seal(record, 'inst-a', { seq: 0, hash: GENESIS }, TEST_KEY);
    assertValid('audit-record.schema.json', sealed);
    const event = toAuditEvent(sealed as RequestRecord, { publicBaseUrl: 'https://fhir.example.org/fhir' });
    const patientEntities = event.entity.filter((e) => e.type?.code?.endsWith('-patient')).map((e) => [e.type?.code, e.what?.reference, e.detail]);
    expect(patientEntities).toEqual([
      ['released-patient', 'Patient/a', [{ type: 'Observation', valueString: '2' }]],
      ['released-patient', 'Patient/b', [{ type: 'Condition', valueString: '1' }]],
      ['withheld-patient', 'Patient/c', undefined],
    ]);
    expect(toDecisionLog(sealed as RequestRecord, '0.1.0').result.patients).toMatchObject({ released_count: 2, withheld: ['c'], capped: false });
  });

  test('a write names the patients it changed; batch summaries merge patients', () => {
    const a = noteWritten(emptySummary(), ['a']);
    const b = noteWritten(emptySummary(), ['b', 'a']);
    mergeSummary(a, b);
    expect(buildRequestRecord(facts(a), options).patients).toMatchObject({ changed: ['a', 'b'], changedCount: 2 });
  });

  test('beyond the cap, patients are counted exactly and the record says the list is capped', async () => {
    const n = MAX_LISTED_PATIENTS + 5;
    const body = searchset(Array.from({ length: n }, (_, i) => ({ resourceType: 'Observation', id: `o${i}`, subject: { reference: `Patient/p${i}` } })));
    // Each patient twice: the second release of a listed patient adds to its count, of an unlisted one to nothing.
    const again = searchset(Array.from({ length: n }, (_, i) => ({ resourceType: 'Observation', id: `x${i}`, subject: { reference: `Patient/p${i}` } })));
    const summary = await enforceResponse(body, allExcept('none'));
    mergeSummary(summary, await enforceResponse(again, allExcept('none')));
    const record = buildRequestRecord(facts(summary), options);
    expect(record.patients?.released).toHaveLength(MAX_LISTED_PATIENTS);
    expect(record.patients?.released[0]).toEqual({ id: 'p0', types: { Observation: 2 } });
    expect(record.patients).toMatchObject({ releasedCount: n, capped: true });
  });
});

describe('older records', () => {
  test('records of schema version 2 (without patients) still verify and replay', () => {
    const { patients: _p, ...v2 } = sampleRecord();
    const sealed = seal({ ...v2, schemaVersion: 2 } as never, 'inst-a', { seq: 0, hash: GENESIS }, TEST_KEY);
    expect(verifyChain(asEntries([sealed]), TEST_KEY)).toMatchObject({ ok: true, records: 1 });
    expect(parseRecordedLine(JSON.stringify(sealed))).toMatchObject({ id: sealed.kind === 'request' ? sealed.decisionId : '' });
  });
});
