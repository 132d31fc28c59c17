/**
 * A corpus of policy inputs that exercises every layer of the shipped policies (scopes, the
 * patient compartment, roles and purposes, redaction, sensitivity labels, consents, break-the-glass),
 * for tests that two ways of deciding agree: the in-process engine and an OPA server, or a
 * batched and a per-resource evaluation.
 */
import { parseScopes } from '../../src/auth/scopes.js';
import type { Consents, FhirResourceJson, RequestInput, ResourcesInput } from '../../src/policy/contract.js';
import { policyEnv, resourceFacts } from '../../src/policy/input.js';
import { principalWith } from './principal.js';

const BASES = ['http://upstream.test/fhir'];
const env = policyEnv(new Date('2026-11-24T10:00:00Z'), 'corpus');

const principal = (scope: string, roles: string[], purposes: string[] = [], patient: string | null = null) => {
  const scopes = parseScopes(scope);
  return principalWith({ scopes: scopes.resources, other_scopes: scopes.other, roles, purpose_of_use: purposes, patient });
};

/** A multi-factor login a minute before the corpus's decision time. */
const mfaLogin = { level: null, methods: ['pwd', 'otp'], authenticated_at: env.now_seconds - 60 };

export const CORPUS_PRINCIPALS = {
  patient: principal('launch/patient patient/*.rs', ['patient'], [], 'p1'),
  patientLabOnly: principal('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory', ['patient'], [], 'p1'),
  clinician: principal('user/*.cruds', ['clinician'], ['TREAT']),
  clinicianBreakGlass: { ...principal('user/*.rs', ['clinician'], ['BTG']), break_glass_reason: 'unconscious patient in the ED', assurance: mfaLogin },
  // The same without the multi-factor login break-the-glass needs: refused with a step-up obligation.
  clinicianBreakGlassPassword: { ...principal('user/*.rs', ['clinician'], ['BTG']), break_glass_reason: 'unconscious patient in the ED', assurance: { level: 1 as const, methods: ['pwd'], authenticated_at: env.now_seconds - 60 } },
  privacyOfficer: { ...principal('user/*.rs', ['privacy-officer']), assurance: mfaLogin },
  researcher: principal('user/*.rs', ['researcher'], ['HRESCH']),
  researcherNoPurpose: principal('user/*.rs', ['researcher']),
  billing: principal('user/*.rs', ['billing'], ['HPAYMT']),
  system: principal('system/*.rs', []),
  noRole: principal('user/*.rs', []),
  noScope: principal('openid', ['clinician'], ['TREAT']),
};

const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const observation = (id: string, patient: string, code: string, category: string, extra: Record<string, unknown> = {}): FhirResourceJson => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  category: [{ coding: [{ system: CATEGORY, code: category }] }],
  code: { coding: [{ system: 'http://loinc.org', code }] },
  subject: { reference: `Patient/${patient}` },
  effectiveDateTime: '2026-10-01T09:00:00Z',
  valueQuantity: { value: 6.1, unit: '%' },
  note: [{ text: `about ${patient}` }],
  ...extra,
});

export const CORPUS_RESOURCES: FhirResourceJson[] = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'One', given: ['Pat'] }], birthDate: '1961-03-14', address: [{ postalCode: '62704', city: 'Springfield' }], identifier: [{ system: 'urn:mrn', value: 'MRN-1' }] },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Two' }], birthDate: '1987-11-02', telecom: [{ system: 'phone', value: '+1-555-0202' }] },
  observation('o1', 'p1', '4548-4', 'laboratory'),
  observation('o2', 'p2', '8867-4', 'vital-signs'),
  observation('o3-hiv', 'p1', '75622-1', 'laboratory'),
  observation('o4-restricted', 'p2', '4548-4', 'laboratory', { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] } }),
  observation('o5', 'p3', '4548-4', 'laboratory'),
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' }, reasonCode: [{ text: 'checkup' }] },
  { resourceType: 'Condition', id: 'c2', subject: { reference: 'Patient/p2' }, code: { text: 'diabetes' }, note: [{ text: 'family clinic' }] },
  { resourceType: 'Practitioner', id: 'pr1', name: [{ family: 'Hollis' }] },
  { resourceType: 'Device', id: 'd1', status: 'active', patient: { reference: 'Patient/p2' } },
  { resourceType: 'Device', id: 'd-stock', status: 'active' },
  { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] },
];

/** p2 opted out of research; p3's consents could not be read. */
export const CORPUS_CONSENTS: Consents = {
  p1: { status: 'ok', consents: [] },
  p2: {
    status: 'ok',
    consents: [
      {
        id: 'consent-p2',
        scope: 'research',
        date: '2026-01-01',
        base: 'permit',
        rules: [{ type: 'deny', depth: 1, conditions: [{ actors: [], actor_roles: [], purposes: ['HRESCH'], labels: [], classes: [], codes: [], data_period: null }] }],
      },
    ],
  },
  p3: { status: 'unavailable' },
};

const request = (interaction: 'read' | 'search-type' | 'create', type: string, id: string | null = null) =>
  ({ method: interaction === 'create' ? 'POST' : 'GET', interaction, type, id, version: null, compartment: null, operation: null, params: [], search_via_post: false, if_none_exist: null }) as const;

export const CORPUS_REQUESTS = [request('read', 'Patient', 'p1'), request('search-type', 'Observation'), request('search-type', 'Encounter'), request('read', 'Practitioner', 'pr1')];

/** Request inputs: each principal with each request, and with a create of each resource. */
export function corpusRequestInputs(): RequestInput[] {
  return Object.values(CORPUS_PRINCIPALS).flatMap((p) => [
    ...CORPUS_REQUESTS.map((r) => ({ principal: p, request: r, env })),
    ...CORPUS_RESOURCES.filter((r) => r.id !== undefined).map((r) => ({ principal: p, request: request('create', r.resourceType), env, resource: r, facts: resourceFacts(r, BASES) })),
  ]);
}

/** Resource inputs: each principal with every resource of the corpus, in one batch. */
export function corpusResourcesInputs(): ResourcesInput[] {
  const items = CORPUS_RESOURCES.map((resource) => ({ resource, facts: resourceFacts(resource, BASES) }));
  return Object.values(CORPUS_PRINCIPALS).map((p) => ({ principal: p, request: request('search-type', 'Observation'), env, items, consents: CORPUS_CONSENTS }));
}
