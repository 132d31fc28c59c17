/**
 * The value rules of de-identification: ZIP3 (with the restricted areas), ages of 90 or over, and
 * every FHIR date shape (partial dates, times, zones), then the same rules as the walk applies them.
 */
import { describe, expect, test } from '@jest/globals';
import { aggregateAge, birthYearImplies90, RESTRICTED_ZIP3, yearOf, zip3 } from '../../src/enforce/deid-rules.js';
import { deidentify } from '../../src/enforce/deidentify.js';

const ctx = { now: new Date('2026-12-01T00:00:00Z'), pseudonymKey: new Uint8Array(32).fill(2) };

describe('ZIP3', () => {
  test('a 5-digit, ZIP+4 or 3-digit US ZIP gives its first three digits', () => {
    expect(zip3('62704')).toBe('627');
    expect(zip3('62704-1234')).toBe('627');
    expect(zip3('627041234')).toBe('627');
    expect(zip3(' 627 ')).toBe('627');
  });

  test('every restricted 3-digit area (20,000 people or fewer) is released as 000', () => {
    expect(RESTRICTED_ZIP3.size).toBe(17);
    for (const area of RESTRICTED_ZIP3) expect(zip3(`${area}01`)).toBe('000');
    expect(zip3('03601')).toBe('000');
    expect(zip3('03701')).toBe('037');
  });

  test('a postal code that is not a US ZIP is not released', () => {
    for (const code of ['SW1A 1AA', 'H0H 0H0', '1234', '62', '6270', 'ZIP 62704', '']) expect(zip3(code)).toBeNull();
  });
});

describe('90 or over', () => {
  test('a birth year 90 or more years before now is withheld; 89 is released', () => {
    expect(birthYearImplies90('1936', ctx.now)).toBe(true);
    expect(birthYearImplies90('1900', ctx.now)).toBe(true);
    expect(birthYearImplies90('1937', ctx.now)).toBe(false);
    expect(birthYearImplies90('2020', ctx.now)).toBe(false);
  });

  test('an age of 90 or more, in years, months, weeks or days, becomes ">= 90 a"', () => {
    const cases: Array<[Record<string, unknown>, boolean]> = [
      [{ value: 97, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' }, true],
      [{ value: 90, unit: 'years' }, true],
      [{ value: 1100, code: 'mo', system: 'http://unitsofmeasure.org' }, true],
      [{ value: 33000, unit: 'd' }, true],
      [{ value: 5000, unit: 'wk' }, true],
      [{ value: 89, unit: 'a' }, false],
      [{ value: 1000, unit: 'mo' }, false],
      [{ value: 97, unit: 'kg' }, false],
    ];
    for (const [q, aggregated] of cases) {
      const copy = { ...q };
      expect(aggregateAge(copy, true)).toBe(aggregated);
      if (aggregated) expect(copy).toMatchObject({ value: 90, comparator: '>=', unit: 'a' });
      else expect(copy).toEqual(q);
    }
  });

  test('an Age of 90 or more without a known unit is read as years', () => {
    const q: Record<string, unknown> = { value: 93 };
    expect(aggregateAge(q, true, true)).toBe(true);
    expect(q).toEqual({ value: 90, comparator: '>=', unit: 'a' });
    expect(aggregateAge({ value: 93 }, true, false)).toBe(false);
  });

  test('a SimpleQuantity, which has no comparator, is aggregated to 90 without one', () => {
    const q: Record<string, unknown> = { value: 95, unit: 'a' };
    expect(aggregateAge(q, false)).toBe(true);
    expect(q).toEqual({ value: 90, unit: 'a' });
  });
});

describe('dates', () => {
  test('every FHIR date shape gives the year it states: partial dates, times, zones, fractions', () => {
    const shapes: Array<[string, string]> = [
      ['2026', '2026'],
      ['2026-03', '2026'],
      ['2026-03-14', '2026'],
      ['2026-03-14T10:11', '2026'],
      ['2026-03-14T10:11:12', '2026'],
      ['2026-03-14T10:11:12Z', '2026'],
      ['2026-03-14T10:11:12.345Z', '2026'],
      ['2026-03-14T10:11:12+05:00', '2026'],
      ['2026-12-31T23:30:00-10:00', '2026'], // 2027 in UTC: the year as written is the year stated
      ['2027-01-01T00:30:00+14:00', '2027'],
    ];
    for (const [value, year] of shapes) expect(yearOf(value)).toBe(year);
  });

  test('values that are not FHIR dates have no year', () => {
    for (const value of ['14/03/2026', 'March 2026', '2026-13-01', '2026-02-30T25:00:00Z', '26-03-14', '2026-03-14T10:11:12+15:00', '']) expect(yearOf(value)).toBeNull();
  });

  test('Safe Harbor: dates, dateTimes, Periods and Timing.event to the year; instants withheld, or a choice dateTime year', () => {
    const r: Record<string, unknown> = {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361' }] },
      subject: { reference: 'Patient/p1' },
      authoredOn: '2026-03-14T10:11:12+05:00',
      dosageInstruction: [{ timing: { event: ['2026-03-14', '2026-03-15T08:00:00Z'], repeat: { boundsPeriod: { start: '2026-03', end: '2026-04-01' }, timeOfDay: ['08:00:00'] } } }],
    };
    deidentify(r, 'safe-harbor', ctx);
    expect(r['authoredOn']).toBe('2026');
    expect(r['dosageInstruction']).toEqual([{ timing: { event: ['2026', '2026'], repeat: { boundsPeriod: { start: '2026', end: '2026' } } } }]);
    const o: Record<string, unknown> = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, effectiveInstant: '2026-03-14T10:11:12.345Z', issued: '2026-03-14T10:11:12.345Z' };
    deidentify(o, 'safe-harbor', ctx);
    expect(o).toMatchObject({ effectiveDateTime: '2026' });
    expect(o).not.toHaveProperty('effectiveInstant');
    expect(o).not.toHaveProperty('issued');
  });

  test('the limited data set keeps every date shape whole', () => {
    const r: Record<string, unknown> = { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, effectiveInstant: '2026-03-14T10:11:12.345+05:00', issued: '2026-03-14T10:11:12.345Z', valueTime: '10:11:12' };
    deidentify(r, 'limited-data-set', ctx);
    expect(r).toMatchObject({ effectiveInstant: '2026-03-14T10:11:12.345+05:00', issued: '2026-03-14T10:11:12.345Z', valueTime: '10:11:12' });
  });
});
