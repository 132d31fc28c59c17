import { describe, expect, test } from '@jest/globals';
import { checkCriteria } from '../../src/enforce/criteria.js';
import { GatewayError } from '../../src/errors.js';
import { parseQueryString } from '../../src/fhir/search-params.js';
import type { Redaction } from '../../src/policy/contract.js';

/** `reason:parameter` of the refusal, or 'ok'. */
function verdict(type: string | null, query: string, redactions: Redaction[], now?: Date): string {
  try {
    checkCriteria(type, parseQueryString(query), redactions, now);
    return 'ok';
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    expect(err.code).toBe('invalid_search_parameter');
    return `${err.reasons.join(',')}:${err.parameter}`;
  }
}

const SAFE_HARBOR: Redaction[] = [{ path: '*', action: 'safe-harbor' }];
const BILLING: Redaction[] = [
  { path: '*', action: 'free-text' },
  { path: 'Encounter.reasonCode', action: 'remove' },
  { path: 'Patient.photo', action: 'remove' },
];

describe('criteria held against element redactions', () => {
  test('without redactions every criterion stands', () => {
    expect(verdict('Patient', 'family=Smith&birthdate=1961-03-14&identifier=x', [])).toBe('ok');
  });

  test('a removed element cannot be tested, by its own parameter or by _sort', () => {
    expect(verdict('Encounter', 'reason-code=86406008', BILLING)).toBe('search.criterion-redacted:reason-code');
    expect(verdict('Encounter', '_sort=reason-code', BILLING)).toBe('search.criterion-redacted:reason-code');
    expect(verdict('Encounter', 'subject=Patient/1&status=finished', BILLING)).toBe('ok');
  });

  test('a rule on one type leaves the criteria of another alone', () => {
    expect(verdict('Condition', 'code=x', [{ path: 'Encounter.reasonCode', action: 'remove' }])).toBe('ok');
  });

  test('free text removed: string values, notes and narratives cannot be searched', () => {
    expect(verdict('Observation', 'value-string=x', BILLING)).toBe('search.criterion-redacted:value-string');
    expect(verdict('Observation', '_text=x', BILLING)).toBe('search.criterion-redacted:_text');
    expect(verdict('Observation', '_content=x', BILLING)).toBe('search.criterion-redacted:_content');
    expect(verdict('Observation', 'code=x&value-quantity=5', BILLING)).toBe('ok');
  });

  test('a date generalised to the year is searched at year precision only, and not sorted by', () => {
    const year: Redaction[] = [{ path: 'Patient.birthDate', action: 'year' }];
    expect(verdict('Patient', 'birthdate=1961', year)).toBe('ok');
    expect(verdict('Patient', 'birthdate=ge1961', year)).toBe('ok');
    expect(verdict('Patient', 'birthdate=1961-03', year)).toBe('search.criterion-year-only:birthdate');
    expect(verdict('Patient', 'birthdate=1961-03-14', year)).toBe('search.criterion-year-only:birthdate');
    expect(verdict('Patient', '_sort=-birthdate', year)).toBe('search.criterion-year-only:birthdate');
  });

  test('a postal code cut to three digits is searched by its first three only', () => {
    const zip3: Redaction[] = [{ path: 'Patient.address.postalCode', action: 'zip3' }];
    expect(verdict('Patient', 'address-postalcode=627', zip3)).toBe('ok');
    expect(verdict('Patient', 'address-postalcode=62704', zip3)).toBe('search.criterion-redacted:address-postalcode');
    // `address` reads the whole Address, postal code included.
    expect(verdict('Patient', 'address=Springfield', zip3)).toBe('search.criterion-redacted:address');
  });

  test('a FHIRPath rule counts for the element it starts from; one the gateway cannot place refuses every criterion', () => {
    const ssn: Redaction[] = [{ path: "Patient.identifier.where(system='http://hl7.org/fhir/sid/us-ssn')", action: 'remove' }];
    expect(verdict('Patient', 'identifier=123', ssn)).toBe('search.criterion-redacted:identifier');
    expect(verdict('Patient', 'gender=female', ssn)).toBe('ok');
    expect(verdict('Patient', 'gender=female', [{ path: 'Patient.descendants().where(x)', action: 'remove' }])).toBe('search.criterion-redacted:gender');
  });
});

describe('criteria under Safe Harbor: only what de-identification keeps', () => {
  test.each([
    ['identifier=MRN-1', 'search.criterion-deidentified:identifier'],
    ['family=Smith', 'search.criterion-deidentified:family'],
    ['name=Smith', 'search.criterion-deidentified:name'],
    ['phone=555', 'search.criterion-deidentified:phone'],
    ['email=a@b', 'search.criterion-deidentified:email'],
    ['address-city=Springfield', 'search.criterion-deidentified:address-city'],
    ['_id=pat-1', 'search.criterion-deidentified:_id'],
    ['general-practitioner=Practitioner/1', 'search.criterion-deidentified:general-practitioner'],
    ['birthdate=1961-03-14', 'search.criterion-year-only:birthdate'],
    ['_sort=birthdate', 'search.criterion-year-only:birthdate'],
    ['_lastUpdated=gt2020', 'search.criterion-deidentified:_lastUpdated'],
    ['_has:Observation:patient:code=x', 'search.criterion-deidentified:_has:Observation:patient:code'],
    ['birthdate=1961', 'ok'],
    ['gender=female', 'ok'],
    ['active=true', 'ok'],
  ])('Patient?%s → %s', (query, expected) => {
    expect(verdict('Patient', query, SAFE_HARBOR)).toBe(expected);
  });

  // In 2026 the birth years up to 1936 imply 90 or more: de-identified output withholds them as one group.
  test.each([
    ['birthdate=1933', 'search.criterion-deidentified:birthdate'],
    ['birthdate=1936', 'search.criterion-deidentified:birthdate'],
    ['birthdate=ge1930', 'search.criterion-deidentified:birthdate'],
    ['birthdate=le1935', 'search.criterion-deidentified:birthdate'],
    ['birthdate=gt1935', 'search.criterion-deidentified:birthdate'],
    ['birthdate=ne1920', 'search.criterion-deidentified:birthdate'],
    ['birthdate=ap1940', 'search.criterion-deidentified:birthdate'],
    ['birthdate=1961,1933', 'search.criterion-deidentified:birthdate'],
    ['birthdate=1937', 'ok'],
    ['birthdate=ge1937', 'ok'],
    ['birthdate=gt1936', 'ok'],
    ['birthdate=le1936', 'ok'],
    ['birthdate=le1950', 'ok'],
    ['birthdate=lt1937', 'ok'],
    ['birthdate=ap1961', 'ok'],
  ])('Safe Harbor in 2026, Patient?%s → %s: the 90-or-over group is selected whole or not at all', (query, expected) => {
    expect(verdict('Patient', query, SAFE_HARBOR, new Date('2026-12-03T00:00:00Z'))).toBe(expected);
  });

  test('the 90-or-over cut moves with the year: 1937 is in the group in 2027', () => {
    expect(verdict('Patient', 'birthdate=1937', SAFE_HARBOR, new Date('2027-01-02T00:00:00Z'))).toBe('search.criterion-deidentified:birthdate');
    expect(verdict('Patient', 'birthdate=1937', [{ path: '*', action: 'limited-data-set' }], new Date('2027-01-02T00:00:00Z'))).toBe('ok');
  });

  test.each([
    ['code=http://loinc.org|4548-4', 'ok'],
    ['category=laboratory&status=final', 'ok'],
    ['value-quantity=gt6', 'ok'],
    ['date=2026', 'ok'],
    ['date=2026-10-01', 'search.criterion-year-only:date'],
    ['code:text=glucose', 'search.criterion-deidentified:code'],
    ['subject=Patient/1', 'search.criterion-deidentified:subject'],
    ['subject.name=Smith', 'search.criterion-deidentified:subject.name'],
    ['value-string=x', 'search.criterion-deidentified:value-string'],
    ['subject:identifier=MRN-1', 'search.criterion-deidentified:subject'],
  ])('Observation?%s → %s', (query, expected) => {
    expect(verdict('Observation', query, SAFE_HARBOR)).toBe(expected);
  });
});

describe('criteria under the limited data set (the profile of src/enforce/deidentify.ts)', () => {
  const LDS: Redaction[] = [{ path: '*', action: 'limited-data-set' }];
  test.each([
    // It keeps dates whole, and an address's city, state, ZIP and country.
    ['birthdate=1961-03-14', 'ok'],
    ['address-city=Springfield', 'ok'],
    ['address-state=IL', 'ok'],
    ['address-postalcode=62704', 'ok'],
    ['address-country=US', 'ok'],
    // It removes the direct identifiers, the street and the rest of an address, and free text.
    ['address=Elm', 'search.criterion-deidentified:address'],
    ['family=Smith', 'search.criterion-deidentified:family'],
    ['phone=555', 'search.criterion-deidentified:phone'],
    ['identifier=MRN-1', 'search.criterion-deidentified:identifier'],
    ['_id=pat-1', 'search.criterion-deidentified:_id'],
  ])('Patient?%s → %s', (query, expected) => {
    expect(verdict('Patient', query, LDS)).toBe(expected);
  });
});
