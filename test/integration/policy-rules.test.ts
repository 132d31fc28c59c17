/**
 * Every default rule of the shipped policy library, end to end: the real bundle compiled to WASM,
 * the Medplum engine as upstream, real signed tokens per role, Consents written through the gateway
 * (so cache invalidation is part of what is proven), and the audit trail and metrics read back.
 */
import type { Resource } from '@medplum/fhirtypes';
import { REASON_CODE_SYSTEM } from '../../src/errors.js';
import { metricValue } from '../support/audit.js';
import { auditRecordOf, jsonOf, startStack, type Stack } from '../support/stack.js';
import type { RequestRecord } from '../../src/audit/record.js';

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';

/** Sensitive and financial data beside the synthetic patients: what the default rules are about. */
const EXTRA: Resource[] = [
  {
    resourceType: 'Observation', id: 'obs-hiv-label', status: 'final',
    meta: { security: [{ system: ACT_CODE, code: 'HIV' }, { system: CONFIDENTIALITY, code: 'R' }] },
    code: { text: 'Viral load' }, subject: { reference: 'Patient/pat-alba' }, effectiveDateTime: '2026-09-01T10:00:00Z',
  },
  {
    // Unlabelled, but coded with an HIV test LOINC code from the sensitivity value set.
    resourceType: 'Observation', id: 'obs-hiv-code', status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '75622-1', display: 'HIV 1 and 2 tests' }] },
    subject: { reference: 'Patient/pat-alba' }, effectiveDateTime: '2026-09-02T10:00:00Z',
  },
  { resourceType: 'Coverage', id: 'cov-alba', status: 'active', beneficiary: { reference: 'Patient/pat-alba' }, payor: [{ display: 'Acme Health' }], subscriberId: 'SUB-4411' },
  {
    resourceType: 'Encounter', id: 'enc-billing', status: 'finished', class: { system: ACT_CODE, code: 'AMB' },
    subject: { reference: 'Patient/pat-alba' }, reasonCode: [{ text: 'Follow-up of a private matter' }],
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Visit narrative</div>' },
  },
];

let stack: Stack;
let origin: string;

beforeAll(async () => {
  stack = await startStack({ config: (d) => ({ ...d, consent: { enabled: true, cacheTtlSeconds: 300 } }) });
  origin = new URL(stack.base).origin;
  for (const r of EXTRA) await stack.fhir.repo.updateResource(r);
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

type Claims = Record<string, unknown>;
/** A multi-factor login just now: what staff need for sensitive labels and break-the-glass (data.fhirgw.assurance). */
const mfa = (): Claims => ({ amr: ['pwd', 'otp'], auth_time: Math.floor(Date.now() / 1000) });
const mint = (claims: Claims, scope = 'user/*.rs'): Promise<string> => stack.issuer.mint({ sub: 'user-x', scope, ...claims });
const clinician = (over: Claims = {}, scope?: string) => mint({ sub: 'Practitioner/prac-hopper', fhirUser: 'Practitioner/prac-hopper', roles: ['clinician'], purpose_of_use: ['TREAT'], ...over }, scope);

async function get(path: string, token: string): Promise<{ status: number; body: any }> {
  const res = await stack.fetch(path, { token });
  return { status: res.status, body: await jsonOf(res) };
}

const reasonsOf = (outcome: any): string[] =>
  (outcome.issue?.[0]?.details?.coding ?? []).filter((c: any) => c.system === REASON_CODE_SYSTEM).map((c: any) => c.code as string);
/** A withheld read answers like a missing resource (404, no reasons shown); its audit record says why. */
async function withheldReasons(path: string, token: string): Promise<string[]> {
  const res = await stack.fetch(path, { token });
  const body = await jsonOf(res);
  expect(res.status).toBe(404);
  expect(reasonsOf(body)).toEqual([]);
  return (await auditRecordOf(stack, res.headers.get('x-request-id') ?? '')).outcome.reasons;
}
const idsOf = (bundle: any): string[] => (bundle.entry ?? []).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);

/** The registrar who records patients' consent decisions: the privacy office, the role that may change protections. */
const registrar = () => mint({ sub: 'Practitioner/prac-registrar', fhirUser: 'Practitioner/prac-registrar', roles: ['privacy-officer'], ...mfa() }, 'user/*.cruds');
const written = new Map<string, Record<string, unknown>>();

/** Writes a Consent through the gateway, as the registrar recording the patient's decision would. */
async function writeConsent(consent: Record<string, unknown>, token?: string): Promise<string> {
  const resource = { resourceType: 'Consent', status: 'active', category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }], ...consent };
  const res = await stack.fetch('Consent', { method: 'POST', token: token ?? (await registrar()), headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(resource) });
  const text = await res.text();
  expect([res.status, res.status === 201 ? [] : reasonsOf(JSON.parse(text))]).toEqual([201, []]);
  const id = /\/Consent\/([^/]+)/.exec(res.headers.get('location') ?? '')?.[1] as string;
  written.set(id, resource);
  return id;
}

/** Sets a Consent inactive through the gateway (which invalidates the cached consents). */
async function retire(id: string): Promise<void> {
  const res = await stack.fetch(`Consent/${id}`, {
    method: 'PUT',
    token: await registrar(),
    headers: { 'content-type': 'application/fhir+json' },
    body: JSON.stringify({ ...written.get(id), id, status: 'inactive' }),
  });
  expect(res.status).toBe(200);
}

const privacy = (patient: string, provision: Record<string, unknown>) => ({
  scope: { coding: [{ system: CONSENT_SCOPE, code: 'patient-privacy' }] },
  patient: { reference: `Patient/${patient}` },
  provision,
});

describe('sensitive data (security labels and the sensitive code value set)', () => {
  test('a clinician is refused a labelled and a coded HIV result as if missing, the reason in the audit record, and searches leave them out', async () => {
    const token = await clinician();
    for (const id of ['obs-hiv-label', 'obs-hiv-code']) {
      expect(await withheldReasons(`Observation/${id}`, token)).toContain('label.sensitive');
      const { body } = await get(`Observation/${id}`, token);
      expect(JSON.stringify(body)).not.toMatch(/Viral load|75622-1/);
    }
    const search = await get('Observation?patient=Patient/pat-alba', token);
    expect(search.status).toBe(200);
    expect(idsOf(search.body)).toEqual(expect.arrayContaining(['Observation/obs-pat-alba-0']));
    expect(idsOf(search.body)).not.toEqual(expect.arrayContaining(['Observation/obs-hiv-label']));
    expect(JSON.stringify(search.body)).not.toMatch(/obs-hiv|Viral load/);
  });

  test('the patient sees her own sensitive data (HIPAA right of access)', async () => {
    const token = await mint({ sub: 'Patient/pat-alba', patient: 'pat-alba', roles: ['patient'] }, 'launch/patient patient/*.rs');
    expect((await get('Observation/obs-hiv-label', token)).status).toBe(200);
    expect((await get('Observation/obs-hiv-code', token)).status).toBe(200);
  });
});

describe('break-the-glass', () => {
  test('opens sensitive data with a stated reason, and the audit record and metric say so', async () => {
    const before = await metricValue(origin, 'fhirgw_break_glass_total');
    const token = await clinician({ purpose_of_use: ['BTG'], break_glass_reason: 'Unconscious patient in the ED', ...mfa() });
    const { status, body } = await get('Observation/obs-hiv-label', token);
    expect(status).toBe(200);
    expect(body.id).toBe('obs-hiv-label');
    expect(await metricValue(origin, 'fhirgw_break_glass_total')).toBe(before + 1);
    const record = await recordWhere((r) => r.request?.id === 'obs-hiv-label' && r.outcome.status === 200 && r.principal?.purpose_of_use.includes('BTG') === true);
    expect(record?.outcome.breakGlass).toBe(true);
    expect(record?.outcome.breakGlassReason).toBe('Unconscious patient in the ED');
    expect(record?.outcome.reasons).toContain('break-glass');
  });

  test('without a stated reason it is refused on the request, whatever the request reaches, and says why', async () => {
    const token = await clinician({ purpose_of_use: ['BTG'], ...mfa() });
    for (const path of ['Observation/obs-hiv-label', 'Observation/obs-pat-alba-0', 'Observation/does-not-exist']) {
      const { status, body } = await get(path, token);
      expect(status).toBe(403);
      expect(reasonsOf(body)).toEqual(['break-glass.reason-missing']);
    }
  });

  test('is not open to roles the role table does not mark for it', async () => {
    // A researcher reaches de-identified data by search only; the HIV results stay out of it.
    const token = await mint({ roles: ['researcher'], purpose_of_use: ['HRESCH', 'BTG'], break_glass_reason: 'curiosity' });
    const res = await stack.fetch('Observation?code=http://loinc.org|75622-1', { token });
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).entry).toBeUndefined();
    const record = await auditRecordOf(stack, res.headers.get('x-request-id') ?? '');
    expect(record.entries?.withheld).toBeGreaterThanOrEqual(1);
    expect(record.outcome.reasons).toContain('label.sensitive');
  });
});

describe('roles', () => {
  test('billing reads demographics, coverage and encounters without clinical detail or narrative, and no clinical data', async () => {
    const token = await mint({ roles: ['billing'], purpose_of_use: ['HPAYMT'] });
    const coverage = await get('Coverage/cov-alba', token);
    expect(coverage.status).toBe(200);
    expect(coverage.body.subscriberId).toBe('SUB-4411');

    const encounter = await get('Encounter/enc-billing', token);
    expect(encounter.status).toBe(200);
    expect(encounter.body.reasonCode).toBeUndefined();
    expect(JSON.stringify(encounter.body)).not.toMatch(/private matter|Visit narrative/);

    const patient = await get('Patient/pat-alba', token);
    expect(patient.status).toBe(200);
    expect(patient.body.name[0].family).toBe('Quintero-Zeta');
    expect(patient.body.text).toBeUndefined();

    const observations = await get('Observation?patient=Patient/pat-alba', token);
    expect(observations.status).toBe(403);
    expect(reasonsOf(observations.body)).toContain('role.type-not-permitted');
    expect((await get('Condition/cond-pat-alba', token)).status).toBe(403);
  });

  test('billing without a payment purpose of use is refused', async () => {
    const { status, body } = await get('Coverage/cov-alba', await mint({ roles: ['billing'], purpose_of_use: ['TREAT'] }));
    expect(status).toBe(403);
    expect(reasonsOf(body)).toContain('purpose.missing');
  });

  test('admin manages the directory but reads no clinical data', async () => {
    const token = await mint({ roles: ['admin'] });
    expect((await get('Practitioner/prac-hopper', token)).status).toBe(200);
    const patient = await get('Patient/pat-alba', token);
    expect(patient.status).toBe(403);
    expect(reasonsOf(patient.body)).toContain('role.type-not-permitted');
    expect((await get('Observation/obs-pat-alba-0', token)).status).toBe(403);
  });

  test('a nurse reads clinical data and writes what nursing documents, nothing else', async () => {
    const token = await mint({ roles: ['nurse'], purpose_of_use: ['TREAT'] }, 'user/*.cruds');
    expect((await get('Observation/obs-pat-bruno-0', token)).status).toBe(200);
    const write = (type: string, body: Record<string, unknown>) =>
      stack.fetch(type, { method: 'POST', token, headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: type, ...body }) });
    const vitals = await write('Observation', { status: 'final', code: { text: 'Temperature' }, subject: { reference: 'Patient/pat-bruno' } });
    expect(vitals.status).toBe(201);
    const diagnosis = await write('Condition', { code: { text: 'Something' }, subject: { reference: 'Patient/pat-bruno' } });
    expect(diagnosis.status).toBe(403);
    expect(reasonsOf(await diagnosis.json())).toContain('role.type-not-permitted');
  });

  test('a token without any role the table knows is refused', async () => {
    const { status, body } = await get('Observation/obs-pat-alba-0', await mint({ roles: ['janitor'] }));
    expect(status).toBe(403);
    expect(reasonsOf(body)).toContain('role.none');
  });
});

describe('research: HIPAA Safe Harbor and research opt-outs', () => {
  const researcher = () => mint({ sub: 'researcher-1', roles: ['researcher'], purpose_of_use: ['HRESCH'] });

  test('patients are de-identified: no names, telecom, MRN, street or full dates', async () => {
    const { status, body } = await get('Patient?_count=50', await researcher());
    expect(status).toBe(200);
    const text = JSON.stringify(body);
    for (const marker of ['Quintero-Zeta', 'Okafor-Yarrow', 'MRN-700101', '+1-555-0101', '1961-03-14', 'House 1', 'pat-alba']) expect(text).not.toContain(marker);
    const years = body.entry.map((e: any) => e.resource.birthDate);
    expect(years).toEqual(expect.arrayContaining(['1961', '1987']));
  });

  test('a researcher without the research purpose of use is refused', async () => {
    const { status, body } = await get('Patient?_count=5', await mint({ roles: ['researcher'], purpose_of_use: ['TREAT'] }));
    expect(status).toBe(403);
    expect(reasonsOf(body)).toContain('purpose.missing');
  });

  test('a patient who opts out of research is excluded entirely, from the moment the Consent is written', async () => {
    const token = await researcher();
    const before = await get('Observation?_count=100', token);
    const countBefore = before.body.entry.length;
    const id = await writeConsent({
      scope: { coding: [{ system: CONSENT_SCOPE, code: 'research' }] },
      patient: { reference: 'Patient/pat-chen' },
      policyRule: { coding: [{ system: ACT_CODE, code: 'OPTOUT' }] },
    });
    try {
      const after = await get('Observation?_count=100', token);
      expect(after.status).toBe(200);
      // pat-chen has 4 Observations; none of them, pseudonymised or not, is released any more.
      expect(after.body.entry.length).toBe(countBefore - 4);
      const patients = await get('Patient?_count=50', token);
      expect(patients.body.entry.map((e: any) => e.resource.birthDate)).not.toContain('1933');
    } finally {
      await retire(id);
    }
    expect((await get('Observation?_count=100', token)).body.entry.length).toBe(countBefore);
  });
});

describe('consent (patient-privacy Consents written through the gateway)', () => {
  test('deny a named practitioner: that practitioner is refused, another is not', async () => {
    const id = await writeConsent(
      privacy('pat-bruno', { type: 'permit', provision: [{ type: 'deny', actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }] }, reference: { reference: 'Practitioner/prac-hopper' } }] }] }),
    );
    try {
      expect(await withheldReasons('Observation/obs-pat-bruno-0', await clinician())).toContain('consent.deny.actor');
      const other = await clinician({ sub: 'Practitioner/prac-other', fhirUser: 'Practitioner/prac-other' });
      expect((await get('Observation/obs-pat-bruno-0', other)).status).toBe(200);
    } finally {
      await retire(id);
    }
    expect((await get('Observation/obs-pat-bruno-0', await clinician())).status).toBe(200);
  });

  test('a write carried out but withheld from the writer is not reported as refused', async () => {
    // A nurse records a psychiatric note: labelling data is no protection change, and nurses do not read PSY.
    const nurse = await mint({ sub: 'Practitioner/prac-nurse', fhirUser: 'Practitioner/prac-nurse', roles: ['nurse'], purpose_of_use: ['TREAT'] }, 'user/*.cruds');
    const res = await stack.fetch('Observation', {
      method: 'POST',
      token: nurse,
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'Mood assessment' }, subject: { reference: 'Patient/pat-bruno' }, meta: { security: [{ system: ACT_CODE, code: 'PSY' }] } }),
    });
    expect(res.status).toBe(201);
    expect(await res.text()).toBe('');
    const id = /\/Observation\/([^/]+)/.exec(res.headers.get('location') ?? '')?.[1] as string;
    const record = await auditRecordOf(stack, res.headers.get('x-request-id') ?? '');
    expect(record.request).toMatchObject({ interaction: 'create', type: 'Observation' });
    expect(record.outcome.status).toBe(201);
    expect(record.entries?.withheld).toBe(1);
    expect(record.outcome.reasons).toEqual(expect.arrayContaining(['write.result-withheld', 'label.sensitive']));
    expect(record.outcome.protectionChange).toBeUndefined();
    // What the nurse wrote is withheld from the nurse from then on, like anything missing.
    expect(await withheldReasons(`Observation/${id}`, nurse)).toContain('label.sensitive');
  });

  test('a Consent written by the privacy office is recorded as a change of protections', async () => {
    const id = await writeConsent(privacy('pat-bruno', { type: 'permit' }));
    try {
      const record = await recordWhere((r) => r.request?.type === 'Consent' && r.request.interaction === 'create' && r.outcome.status === 201);
      expect(record?.outcome.protectionChange).toBe(true);
    } finally {
      await retire(id);
    }
  });

  test('a clinician cannot write, change or delete a Consent, nor strip a label, whatever a write scope says', async () => {
    const token = await clinician({}, 'user/*.cruds');
    const consent = { resourceType: 'Consent', status: 'active', category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }], ...privacy('pat-bruno', { type: 'deny' }) };
    const created = await stack.fetch('Consent', { method: 'POST', token, headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(consent) });
    expect(created.status).toBe(403);
    expect(reasonsOf(await jsonOf(created))).toContain('protection.not-permitted');
    const stripped = await stack.fetch('Observation/obs-hiv-label', {
      method: 'PATCH',
      token: await clinician({ purpose_of_use: ['BTG'], break_glass_reason: 'chart review', ...mfa() }, 'user/*.cruds'),
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'remove', path: '/meta/security' }]),
    });
    expect(stripped.status).toBe(403);
    expect(reasonsOf(await jsonOf(stripped))).toContain('protection.not-permitted');
    expect((await get('Observation/obs-hiv-label', await clinician())).status).toBe(404);
  });

  test('deny a category of data: Conditions withheld, Observations still released', async () => {
    const id = await writeConsent(privacy('pat-bruno', { type: 'permit', provision: [{ type: 'deny', class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Condition' }] }] }));
    try {
      const token = await clinician();
      expect(await withheldReasons('Condition/cond-pat-bruno', token)).toContain('consent.deny.class');
      expect((await get('Observation/obs-pat-bruno-0', token)).status).toBe(200);
      const everything = await get('Patient/pat-bruno/$everything', token);
      expect(idsOf(everything.body)).not.toContain('Condition/cond-pat-bruno');
    } finally {
      await retire(id);
    }
  });

  test('permit only for treatment: a treating clinician reads, the same clinician for operations does not', async () => {
    const id = await writeConsent(privacy('pat-bruno', { type: 'deny', provision: [{ type: 'permit', purpose: [{ system: ACT_REASON, code: 'TREAT' }] }] }));
    try {
      expect((await get('Observation/obs-pat-bruno-1', await clinician({ purpose_of_use: ['TREAT'] }))).status).toBe(200);
      expect(await withheldReasons('Observation/obs-pat-bruno-1', await clinician({ purpose_of_use: ['HOPERAT'] }))).toContain('consent.deny.base');
      // Another patient's data is untouched by pat-bruno's Consent.
      expect((await get('Observation/obs-pat-alba-1', await clinician({ purpose_of_use: ['HOPERAT'] }))).status).toBe(200);
    } finally {
      await retire(id);
    }
  });

  test('a Consent that is not active, or whose period has ended, does not apply', async () => {
    const read = async () => (await get('Observation/obs-pat-bruno-2', await clinician())).status;
    // The control: the same deny, active and current, withholds the resource.
    const active = await writeConsent(privacy('pat-bruno', { type: 'deny' }));
    try {
      expect(await withheldReasons('Observation/obs-pat-bruno-2', await clinician())).toContain('consent.deny.base');
    } finally {
      await retire(active);
    }
    for (const [name, consent] of [
      ['a draft', { status: 'draft', ...privacy('pat-bruno', { type: 'deny' }) }],
      ['an ended period', privacy('pat-bruno', { type: 'deny', period: { start: '2020-01-01', end: '2021-01-01' } })],
    ] as const) {
      const id = await writeConsent(consent);
      try {
        expect({ consent: name, status: await read() }).toEqual({ consent: name, status: 200 });
      } finally {
        await retire(id);
      }
    }
  });

  test('a patient consent that permits a named practitioner opens sensitive data to them', async () => {
    const id = await writeConsent(
      privacy('pat-alba', { type: 'permit', provision: [{ type: 'permit', actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PRCP' }] }, reference: { reference: 'Practitioner/prac-hopper' } }], securityLabel: [{ system: ACT_CODE, code: 'HIV' }] }] }),
    );
    try {
      expect((await get('Observation/obs-hiv-label', await clinician())).status).toBe(200);
      const other = await clinician({ sub: 'Practitioner/prac-other', fhirUser: 'Practitioner/prac-other' });
      expect(await withheldReasons('Observation/obs-hiv-label', other)).toContain('label.sensitive');
    } finally {
      await retire(id);
    }
  });
});

describe('reasons reach the audit trail', () => {
  test('a request refusal is recorded with exactly the reason codes the client saw', async () => {
    const res = await stack.fetch('Observation/obs-hiv-code', { token: await clinician({ purpose_of_use: ['BTG'], ...mfa() }) });
    const seen = reasonsOf(await jsonOf(res));
    expect(seen).toEqual(['break-glass.reason-missing']);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id') ?? '');
    expect(record.outcome.decision).toBe('deny');
    expect(record.outcome.reasons).toEqual(seen);
  });

  test('a concealed withholding is recorded with the reasons the client did not see', async () => {
    const res = await stack.fetch('Observation/obs-hiv-code', { token: await clinician() });
    expect(res.status).toBe(404);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id') ?? '');
    expect(record.outcome.decision).toBe('deny');
    expect(record.outcome.reasons).toContain('label.sensitive');
    expect(JSON.stringify(record)).not.toContain('75622-1');
  });
});

/** The newest audit record matching `match`, waited for (the file sink writes asynchronously, and earlier records are already there). */
async function recordWhere(match: (r: RequestRecord) => boolean, timeoutMs = 3000): Promise<RequestRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = stack.auditRecords().reverse().find(match);
    if (found || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
}
