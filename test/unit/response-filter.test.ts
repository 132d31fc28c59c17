import { describe, expect, test } from '@jest/globals';
import { enforceResponse, type ResponseEnforcer } from '../../src/enforce/response.js';
import { GatewayError } from '../../src/errors.js';
import { createLinkRewriter } from '../../src/fhir/links.js';
import type { Decision, Redaction } from '../../src/policy/contract.js';

const UP = 'http://hapi.internal:8080/fhir';
const PUB = 'https://fhir.example.org/fhir';
const links = createLinkRewriter(UP, PUB);
const allow = (redact?: Redaction[]): Decision => ({ allow: true, reasons: ['scope.ok'], obligations: redact ? { redact } : {} });
const deny: Decision = { allow: false, reasons: ['compartment.other-patient'], obligations: {} };

/** An enforcer that allows resources of patient p1 and denies everything else. */
const onlyPatient = (id: string, redact?: Redaction[]): ResponseEnforcer & { calls: number } => {
  const e = {
    calls: 0,
    links,
    decide(items: ReadonlyArray<{ facts: { patients: readonly string[] } }>) {
      e.calls++;
      return items.map((i) => (i.facts.patients.includes(id) ? allow(redact) : deny));
    },
  };
  return e;
};

const obs = (id: string, patient: string) => ({ resourceType: 'Observation', id, status: 'final', subject: { reference: `Patient/${patient}` } });
const searchset = <T extends { id: string }>(entries: T[], extra: object = {}) => ({
  resourceType: 'Bundle',
  type: 'searchset',
  total: entries.length,
  link: [{ relation: 'self', url: `${UP}/Observation?code=x` }],
  entry: entries.map((r) => ({ fullUrl: `${UP}/Observation/${r.id}`, resource: r, search: { mode: 'match' } })),
  ...extra,
});

describe('Bundle filter', () => {
  test('withholds denied entries, recomputes total on a single page, rewrites every URL, decides once per Bundle', async () => {
    const body = searchset([obs('a', 'p1'), obs('b', 'p2'), obs('c', 'p1')]);
    const enforcer = onlyPatient('p1');
    const summary = await enforceResponse(body, enforcer);
    expect(enforcer.calls).toBe(1);
    expect(summary).toMatchObject({ returned: 2, withheld: 1, redacted: 0, withheldRefs: ['Observation/b'] });
    expect(body.entry.map((e) => e.resource.id)).toEqual(['a', 'c']);
    expect(body.total).toBe(2);
    expect(body.link).toEqual([{ relation: 'self', url: `${PUB}/Observation?code=x` }]);
    expect(body.entry.map((e) => e.fullUrl)).toEqual([`${PUB}/Observation/a`, `${PUB}/Observation/c`]);
    expect(JSON.stringify(body)).not.toContain('hapi.internal');
  });

  test('drops total when entries were withheld and more pages follow (it would count them)', async () => {
    const body = searchset([obs('a', 'p1'), obs('b', 'p2')], { total: 40 });
    body.link.push({ relation: 'next', url: `${UP}?_getpages=abc&_getpagesoffset=2` });
    await enforceResponse(body, onlyPatient('p1'));
    expect(body).not.toHaveProperty('total');
    expect(body.link[1]).toEqual({ relation: 'next', url: `${PUB}?_getpages=abc&_getpagesoffset=2` });
  });

  test('keeps total when nothing was withheld', async () => {
    const body = searchset([obs('a', 'p1')], { total: 1 });
    await enforceResponse(body, onlyPatient('p1'));
    expect(body.total).toBe(1);
  });

  test('links to any other host are dropped, never passed on', async () => {
    const body = searchset([obs('a', 'p1')], { link: [{ relation: 'next', url: 'http://10.0.0.5:9999/internal?page=2' }] });
    await enforceResponse(body, onlyPatient('p1'));
    expect(body).not.toHaveProperty('link');
  });

  test('an all-withheld page has no entry array at all', async () => {
    const body = searchset([obs('b', 'p2')]);
    await enforceResponse(body, onlyPatient('p1'));
    expect(body).not.toHaveProperty('entry');
    expect(body.total).toBe(0);
  });

  test('nested Bundles (a searchset inside a batch-response) are filtered too', async () => {
    const inner = searchset([obs('a', 'p1'), obs('b', 'p2')]);
    const body = { resourceType: 'Bundle', type: 'batch-response', entry: [{ resource: inner, response: { status: '200 OK' } }] };
    const summary = await enforceResponse(body, onlyPatient('p1'));
    expect(summary.withheld).toBe(1);
    expect(inner.entry.map((e) => e.resource.id)).toEqual(['a']);
  });

  test('references are matched exactly: Patient/p1 does not cover Patient/p12', async () => {
    const body = searchset([obs('a', 'p12'), obs('b', 'p1')]);
    await enforceResponse(body, onlyPatient('p1'));
    expect(body.entry.map((e) => e.resource.id)).toEqual(['b']);
  });

  test('absolute references on the upstream base count; on a foreign base they do not', async () => {
    const viaUpstream = { ...obs('a', 'x'), subject: { reference: `${UP}/Patient/p1` } };
    const viaForeign = { ...obs('b', 'x'), subject: { reference: 'https://elsewhere.example/fhir/Patient/p1' } };
    const body = searchset([viaUpstream, viaForeign]);
    await enforceResponse(body, onlyPatient('p1'));
    expect(body.entry.map((e) => e.resource.id)).toEqual(['a']);
  });

  test('a denied single resource is answered as missing, its reasons for the audit record only', async () => {
    const err = await enforceResponse(obs('b', 'p2'), onlyPatient('p1')).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'not_found', reasons: [], auditReasons: ['compartment.other-patient'] });
  });

  test.each([
    ['not an object', '"text"'],
    ['no resourceType', '{"id":"x"}'],
    ['entry not an array', '{"resourceType":"Bundle","entry":{}}'],
    ['entry resource without type', '{"resourceType":"Bundle","entry":[{"resource":{"id":"x"}}]}'],
  ])('fails closed on a body that is %s', async (_name, json) => {
    await expect(enforceResponse(JSON.parse(json), onlyPatient('p1'))).rejects.toThrow(GatewayError);
  });

  test('a policy answering the wrong number of decisions fails closed', async () => {
    const bad: ResponseEnforcer = { links, decide: () => [allow()] };
    await expect(enforceResponse(searchset([obs('a', 'p1'), obs('b', 'p1')]), bad)).rejects.toMatchObject({ code: 'policy_error' });
  });

  test('redaction obligations are applied and the resource labelled REDACTED', async () => {
    const patient = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Zeta', _family: { extension: [] } }], birthDate: '1961-03-14', identifier: [{ value: 'MRN-1' }], address: [{ line: ['1 Road'], city: 'X' }] };
    const summary = await enforceResponse(patient, onlyPatient('p1', [
      { path: 'Patient.name', action: 'remove' },
      { path: 'Patient.birthDate', action: 'year' },
      { path: 'Patient.address.line', action: 'remove' },
      { path: 'Observation.note', action: 'remove' },
    ]));
    expect(summary.redacted).toBe(1);
    expect(patient).toEqual({
      resourceType: 'Patient',
      id: 'p1',
      birthDate: '1961',
      identifier: [{ value: 'MRN-1' }],
      address: [{ city: 'X' }],
      meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'redacted' }] },
    });
  });

  test('a redaction of the type labels the resource REDACTED even when its element is absent, so the label does not tell whether it was there', async () => {
    const o = obs('a', 'p1');
    const summary = await enforceResponse(o, onlyPatient('p1', [{ path: 'Observation.note', action: 'remove' }]));
    expect(summary.redacted).toBe(0);
    expect((o as any).meta.security).toEqual([expect.objectContaining({ code: 'REDACTED' })]);
  });

  test('a redaction of another type leaves the resource unlabelled', async () => {
    const o = obs('a', 'p1');
    await enforceResponse(o, onlyPatient('p1', [{ path: 'Encounter.reasonCode', action: 'remove' }]));
    expect(o).not.toHaveProperty('meta');
  });
});
