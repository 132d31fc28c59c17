/**
 * The access history's pure parts: parameters read strictly, and an entry for one patient that is
 * a function of that patient's share of the record alone (two records that differ only in other
 * patients' data give the same entry).
 */
import { describe, expect, test } from '@jest/globals';
import { GENESIS, seal } from '../../src/audit/chain.js';
import type { RequestRecord, UnsealedRequestRecord } from '../../src/audit/record.js';
import { dateRange, parseHistoryParams } from '../../src/audit/history/params.js';
import { historyEntry } from '../../src/audit/history/view.js';
import { auditEventSchema } from '../../src/audit/formats/audit-event.js';
import { GatewayError } from '../../src/errors.js';
import { makeParam } from '../../src/fhir/search-params.js';
import { sampleRecord, TEST_KEY } from '../support/audit.js';

const view = { patient: 'a', staff: 'role-organisation' as const, organisation: 'Example Hospital', publicBaseUrl: 'https://fhir.example.org/fhir' };
const sealed = (r: UnsealedRequestRecord) => seal(r, 'inst-a', { seq: 0, hash: GENESIS }, TEST_KEY) as RequestRecord;

/** A clinician's search that released data of a and of b, with b's data shaping the rest. */
function searchAcross(bWorld: 'one' | 'two'): RequestRecord {
  const base = sampleRecord();
  return sealed({
    ...base,
    principal: { ...base.principal!, patient: bWorld === 'one' ? 'b' : null },
    request: { method: 'GET', interaction: 'search-compartment', type: 'Observation', id: null, version: null, compartment: 'Patient/b', operation: null, params: [{ name: 'code', modifier: null, value: bWorld === 'one' ? 'hiv' : 'glucose', mask: 'kept' }] },
    outcome: { decision: 'allow', reasons: bWorld === 'one' ? ['scope.ok', 'consent.deny.actor'] : ['scope.ok'], error: null, status: 200, breakGlass: bWorld === 'one', breakGlassReason: bWorld === 'one' ? 'ED' : null },
    entries: bWorld === 'one' ? { returned: 3, withheld: 2, redacted: 0, withheldRefs: ['Observation/b1', 'Observation/b2'], redactedRefs: [] } : { returned: 9, withheld: 0, redacted: 1, withheldRefs: [], redactedRefs: ['Observation/b9'] },
    patients: {
      released: [{ id: 'a', types: { Observation: 2 } }, ...(bWorld === 'one' ? [{ id: 'b', types: { Observation: 1 } }] : [{ id: 'b', types: { Observation: 7 } }, { id: 'c', types: { Observation: 1 } }])],
      releasedCount: bWorld === 'one' ? 2 : 3,
      withheld: bWorld === 'one' ? ['b'] : [],
      withheldCount: bWorld === 'one' ? 1 : 0,
      changed: [],
      changedCount: 0,
    },
  });
}

describe('an entry of a patient\'s history', () => {
  test('is the same whatever the other patients of the record', () => {
    const [one, two] = [searchAcross('one'), searchAcross('two')];
    // The same access (same delivery id and time): only the other patients' data differs.
    const same = { ...two, deliveryId: one.deliveryId, decisionId: one.decisionId, requestId: one.requestId, chain: one.chain };
    expect(historyEntry(one, view)).toEqual(historyEntry(same, view));
    const text = JSON.stringify(historyEntry(one, view));
    expect(text).not.toMatch(/Patient\/b|"b1"|hiv|consent|break-glass/);
  });

  test('is a valid AuditEvent with the patient in the BALP patient slice and staff by role and organisation', () => {
    const event = historyEntry(searchAcross('one'), view);
    expect(auditEventSchema.safeParse(event).success).toBe(true);
    expect(event.entity.filter((e) => e.type?.code === '1').map((e) => e.what?.reference)).toEqual(['Patient/a']);
    expect(event.entity.filter((e) => e.type?.code === 'released-patient').map((e) => e.detail)).toEqual([[{ type: 'Observation', valueString: '2' }]]);
    const user = event.agent.find((a) => a.requestor)!;
    expect(user.who).toEqual({ display: 'Example Hospital' });
    expect(user.policy).toBeUndefined();
  });

  test('names staff when the obligation says so, but never another patient acting as the user', () => {
    const named = historyEntry(searchAcross('one'), { ...view, staff: 'names' });
    expect(named.agent.find((a) => a.requestor)?.who).toEqual({ reference: 'Practitioner/p1' });
    const base = searchAcross('one');
    const byPatientB = { ...base, principal: { ...base.principal!, fhir_user: 'Patient/b', roles: ['patient'] } };
    expect(historyEntry(byPatientB, { ...view, staff: 'names' }).agent.find((a) => a.requestor)?.who).toEqual({ display: 'a patient or their representative' });
    // The patient's own accesses (reading their history, say) show them as themself.
    const byPatientA = { ...base, principal: { ...base.principal!, fhir_user: null, patient: 'a', roles: ['patient'], sub: 'user-a' } };
    expect(historyEntry(byPatientA, view).agent.find((a) => a.requestor)?.who).toEqual({ identifier: { system: 'https://idp.example', value: 'user-a' } });
  });
});

describe('history parameters', () => {
  const parse = (...pairs: Array<[string, string]>) => parseHistoryParams(pairs.map(([n, v]) => makeParam(n, v)));
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err instanceof GatewayError ? [err.code, err.reasons[0]] : err;
    }
    return null;
  };

  test('dates are ranges: ge/gt/le/lt at their precision, the tightest bounds win', () => {
    expect(dateRange('ge2026-12', 'date')).toEqual({ from: new Date('2026-12-01T00:00:00Z'), before: null });
    expect(dateRange('le2026-12-03', 'date')).toEqual({ from: null, before: new Date('2026-12-04T00:00:00Z') });
    expect(dateRange('gt2026', 'date')).toEqual({ from: new Date('2027-01-01T00:00:00Z'), before: null });
    expect(dateRange('lt2026-12-03T10:00:00Z', 'date')).toEqual({ from: null, before: new Date('2026-12-03T10:00:00Z') });
    const q = parse(['date', 'ge2026-01-01'], ['date', 'ge2026-06-01'], ['date', 'le2026-12-31'], ['_sort', 'date'], ['_count', '5'], ['patient', 'Patient/p1']);
    expect(q).toMatchObject({ from: new Date('2026-06-01T00:00:00Z'), before: new Date('2027-01-01T00:00:00Z'), order: 'asc', count: 5, patient: 'p1' });
  });

  test('unknown, repeated or malformed parameters are refused', () => {
    expect(code(() => parse(['site', 'x']))).toEqual(['invalid_search_parameter', 'history-search.param-unsupported']);
    expect(code(() => parse(['patient', 'a'], ['patient', 'b']))).toEqual(['invalid_search_parameter', 'history-search.param-repeated']);
    expect(code(() => parse(['date', '2026-02-30']))).toEqual(['invalid_search_parameter', 'history-search.date-malformed']);
    expect(code(() => parse(['_sort', '-_lastUpdated']))).toEqual(['invalid_search_parameter', 'history-search.sort-unsupported']);
    expect(code(() => parse(['_format', 'json'], ['outcome', '0,4']))).toBeNull();
  });
});
