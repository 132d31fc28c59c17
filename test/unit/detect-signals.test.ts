/**
 * The detector's pure parts: working hours in a role's time zone (windows that wrap midnight,
 * weekdays), the robust volume test, the patients a record released (schema 3 as listed, schema 2
 * derived from the request), and which purposes count as treatment, payment and operations.
 */
import { describe, expect, test } from '@jest/globals';
import type { ReadableRecord } from '../../src/audit/record.js';
import { withinHours } from '../../src/detect/hours.js';
import { DEFAULT_VOLUME, judgeVolume } from '../../src/detect/volume.js';
import { isTpo } from '../../src/privacy/disclosures.js';
import { releasedPatients, type AnyRequestRecord } from '../../src/privacy/released.js';
import { sampleRecord } from '../support/audit.js';

describe('working hours', () => {
  const day = { start: '07:00', end: '19:00', timeZone: 'Europe/Copenhagen', days: [1, 2, 3, 4, 5] };
  const night = { start: '19:00', end: '07:00', timeZone: 'Europe/Copenhagen' };
  test('local time in the role time zone, weekdays by the day a shift starts, windows across midnight', () => {
    // 2026-11-23 is a Monday; Copenhagen is UTC+1 in November.
    expect(withinHours('2026-11-23T06:30:00Z', day)).toBe(true); // 07:30 local
    expect(withinHours('2026-11-23T05:30:00Z', day)).toBe(false); // 06:30 local
    expect(withinHours('2026-11-23T18:30:00Z', day)).toBe(false); // 19:30 local
    expect(withinHours('2026-11-28T10:00:00Z', day)).toBe(false); // Saturday
    expect(withinHours('2026-11-23T22:00:00Z', night)).toBe(true); // 23:00 local
    expect(withinHours('2026-11-24T04:00:00Z', night)).toBe(true); // 05:00 local, the shift that began the evening before
    expect(withinHours('2026-11-24T11:00:00Z', night)).toBe(false); // noon
  });
});

describe('volume spikes', () => {
  const steady = [3, 4, 2, 5, 3, 4, 3, 2, 4, 3, 5, 3];
  test('a burst far above the user own baseline is a spike; their usual hours and an earlier spike are not a baseline lift', () => {
    expect(judgeVolume(25, steady, DEFAULT_VOLUME)).toMatchObject({ spike: true, why: 'baseline', median: 3 });
    expect(judgeVolume(6, steady, DEFAULT_VOLUME)).toEqual({ spike: false });
    expect(judgeVolume(25, [...steady, 30, 28], DEFAULT_VOLUME)).toMatchObject({ spike: true });
  });
  test('without enough history only the ceiling applies', () => {
    expect(judgeVolume(60, [2, 3], DEFAULT_VOLUME)).toEqual({ spike: false });
    expect(judgeVolume(DEFAULT_VOLUME.ceiling + 1, [2, 3], DEFAULT_VOLUME)).toMatchObject({ spike: true, why: 'ceiling' });
  });
});

describe('released patients', () => {
  test('schema 3: as listed, with the patients a write changed', () => {
    const r = sampleRecord({ patients: { released: [{ id: 'a', types: { Observation: 2 } }], releasedCount: 1, withheld: ['b'], withheldCount: 1, changed: ['c'], changedCount: 1 } });
    expect(releasedPatients({ ...r, deliveryId: 'x/1', chain: { instance: 'x', seq: 1, prev: '0'.repeat(64), alg: 'sha256', hash: '0'.repeat(64) } } as AnyRequestRecord)).toEqual([
      { patient: 'a', released: [{ type: 'Observation', count: 2 }] },
      { patient: 'c', released: [{ type: 'Patient', count: 1 }] },
    ]);
  });
  test('schema 2: the compartment, the Patient read, or nothing; refused requests release nothing', () => {
    const { patients: _p, ...base } = sampleRecord();
    const legacy = (over: object) => ({ ...base, ...over, schemaVersion: 2, deliveryId: 'x/1', chain: { instance: 'x', seq: 1, prev: '0'.repeat(64), alg: 'sha256', hash: '0'.repeat(64) } }) as unknown as ReadableRecord & AnyRequestRecord;
    expect(releasedPatients(legacy({ request: { method: 'GET', interaction: 'search-compartment', type: 'Condition', id: null, version: null, compartment: 'Patient/p9', operation: null, params: [] }, entries: { returned: 4, withheld: 0, redacted: 0, withheldRefs: [], redactedRefs: [] } }))).toEqual([{ patient: 'p9', released: [{ type: 'Condition', count: 4 }] }]);
    expect(releasedPatients(legacy({}))).toEqual([{ patient: 'pat-1', released: [{ type: 'Patient', count: 1 }] }]);
    expect(releasedPatients(legacy({ request: { method: 'GET', interaction: 'search-type', type: 'Observation', id: null, version: null, compartment: null, operation: null, params: [] } }))).toEqual([]);
    expect(releasedPatients(legacy({ outcome: { decision: 'deny', reasons: [], error: 'forbidden', status: 403, breakGlass: false } }))).toEqual([]);
  });
});

describe('TPO', () => {
  test('treatment, payment and operations codes (bare or system|code) are TPO; research, public health and no purpose are not', () => {
    expect(isTpo(['TREAT'])).toBe(true);
    expect(isTpo(['http://terminology.hl7.org/CodeSystem/v3-ActReason|HPAYMT'])).toBe(true);
    expect(isTpo(['HOPERAT', 'ETREAT'])).toBe(true);
    expect(isTpo(['HRESCH'])).toBe(false);
    expect(isTpo(['PUBHLTH'])).toBe(false);
    expect(isTpo(['TREAT', 'HRESCH'])).toBe(false);
    expect(isTpo([])).toBe(false);
  });
});

describe('protection changes', () => {
  test('a write that changed protections opens a protection-change case naming the patient it changed', async () => {
    const { createMemoryCaseStore } = await import('../../src/cases/memory-store.js');
    const { createDetector } = await import('../../src/detect/detector.js');
    const { createLinkedPatients } = await import('../../src/detect/staff-links.js');
    const { createMemoryVolumeState } = await import('../../src/detect/volume.js');
    const cases = createMemoryCaseStore();
    const detector = createDetector({ facts: { factsOf: async () => ({ careActors: new Set(), labels: new Set(), found: true }) }, links: createLinkedPatients([], async () => null), volumeState: createMemoryVolumeState(24), volume: DEFAULT_VOLUME, restrictedLabels: [], restrictedPatients: [], hours: {}, signals: [] }, cases);
    const record = {
      ...sampleRecord({
        request: { method: 'PUT', interaction: 'update', type: 'Consent', id: 'c-1', version: null, compartment: null, operation: null, params: [] },
        outcome: { decision: 'allow', reasons: ['scope.ok'], error: null, status: 200, breakGlass: false, protectionChange: true },
        patients: { released: [], releasedCount: 0, withheld: [], withheldCount: 0, changed: ['pat-4'], changedCount: 1 },
      }),
      deliveryId: 'gw/9',
      chain: { instance: 'gw', seq: 9, prev: '0'.repeat(64), alg: 'sha256' as const, hash: '0'.repeat(64) },
    };
    await detector.process(record);
    await detector.process(record);
    expect(await cases.list({})).toMatchObject([{ kind: 'protection-change', patient: 'pat-4', status: 'open', findings: [{ signal: 'protection-change', record: 'gw/9' }], released: [{ type: 'Consent', count: 1 }] }]);
  });
});
