/**
 * Assurance of the login and RFC 9470 step-up challenges, end to end: real signed tokens from two
 * issuers (an Okta-style `acr` mapping and an Entra-style `acrs` mapping), the shipped policy
 * compiled to WASM, the Medplum engine as upstream with HIV results beside the synthetic data.
 */
import type { Resource } from '@medplum/fhirtypes';
import { REASON_CODE_SYSTEM } from '../../src/errors.js';
import { startTokenIssuer, type TokenIssuer } from '../../src/devkit/token-issuer.js';
import { dpopProof, newDpopKey } from '../support/dpop.js';
import { metricValue } from '../support/audit.js';
import { auditRecordOf, jsonOf, startStack, type Stack } from '../support/stack.js';

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const HIV: Resource[] = [
  {
    resourceType: 'Observation', id: 'obs-hiv-label', status: 'final', meta: { security: [{ system: ACT_CODE, code: 'HIV' }] },
    code: { text: 'Viral load' }, subject: { reference: 'Patient/pat-alba' }, effectiveDateTime: '2026-09-01T10:00:00Z',
  },
  {
    resourceType: 'Observation', id: 'obs-hiv-code', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '75622-1' }] },
    subject: { reference: 'Patient/pat-alba' }, effectiveDateTime: '2026-09-02T10:00:00Z',
  },
];
const OKTA_MFA = 'urn:okta:loa:2fa:any';

let stack: Stack;
let entra: TokenIssuer;
let origin: string;

beforeAll(async () => {
  entra = await startTokenIssuer({ audience: 'placeholder' });
  stack = await startStack({
    config: (d) => ({
      ...d,
      auth: {
        issuers: [
          {
            issuer: (d.auth as { issuer: string }).issuer,
            assurance: { acr: { 'urn:okta:loa:1fa:pwd': 1, [OKTA_MFA]: 2 }, challenge: { '2': OKTA_MFA } },
          },
          { issuer: entra.issuer, audience: d.publicBaseUrl as string, assurance: { contexts: { c1: 2 }, challenge: { '2': 'c1' } } },
        ],
      },
    }),
  });
  origin = new URL(stack.base).origin;
  for (const r of HIV) await stack.fhir.repo.updateResource(r);
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await entra?.close();
});

const now = (): number => Math.floor(Date.now() / 1000);
const BTG = { purpose_of_use: ['BTG'], break_glass_reason: 'Unconscious patient in the ED' };
const clinician = (claims: Record<string, unknown>, issuer: TokenIssuer = stack.issuer): Promise<string> =>
  issuer.mint({ sub: 'Practitioner/prac-hopper', fhirUser: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], aud: stack.base, ...claims });
const officer = (claims: Record<string, unknown>): Promise<string> =>
  stack.issuer.mint({ sub: 'Practitioner/prac-registrar', scope: 'user/*.rs', roles: ['privacy-officer'], ...claims });
const reasonsOf = (outcome: any): string[] =>
  (outcome.issue?.[0]?.details?.coding ?? []).filter((c: any) => c.system === REASON_CODE_SYSTEM).map((c: any) => c.code as string);
const codeOf = (outcome: any): string => outcome.issue?.[0]?.details?.coding?.[0]?.code;

describe('break-the-glass needs a multi-factor login (RFC 9470 step-up)', () => {
  test('a password-only clinician gets the step-up challenge on HIV data; the same user after an MFA login gets the data', async () => {
    const before = stack.fhir.requests.length;
    const password = await clinician({ ...BTG, acr: 'urn:okta:loa:1fa:pwd', amr: ['pwd'], auth_time: now() - 30 });
    const refused = await stack.fetch('Observation/obs-hiv-label', { token: password });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe(
      `Bearer realm="${stack.base}", error="insufficient_user_authentication", error_description="A stronger or more recent authentication is required", acr_values="${OKTA_MFA}", max_age=900`,
    );
    const outcome = await jsonOf(refused);
    expect(codeOf(outcome)).toBe('insufficient_user_authentication');
    expect(reasonsOf(outcome)).toEqual(['assurance.level-insufficient']);
    expect(stack.fhir.requests.length).toBe(before); // refused before anything was forwarded

    const mfa = await clinician({ ...BTG, acr: OKTA_MFA, amr: ['pwd', 'otp'], auth_time: now() - 30 });
    const allowed = await stack.fetch('Observation/obs-hiv-label', { token: mfa });
    expect(allowed.status).toBe(200);
    expect((await jsonOf(allowed)).id).toBe('obs-hiv-label');
    const record = await auditRecordOf(stack, allowed.headers.get('x-request-id') ?? '');
    expect(record.outcome.breakGlass).toBe(true);
    expect(record.principal?.assurance).toEqual({ level: 2, methods: ['pwd', 'otp'], authenticatedAt: expect.any(String) });
    expect(await metricValue(origin, 'fhirgw_step_up_challenges_total', { reason: 'assurance.level-insufficient' })).toBeGreaterThanOrEqual(1);
  });

  test('break-the-glass with a stale auth_time gets max_age only; the challenge and refusal are audited', async () => {
    const stale = await clinician({ ...BTG, amr: ['pwd', 'hwk'], auth_time: now() - 3600 });
    const res = await stack.fetch('Observation/obs-hiv-code', { token: stale });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer realm="${stack.base}", error="insufficient_user_authentication", error_description="A stronger or more recent authentication is required", max_age=900`,
    );
    expect(reasonsOf(await jsonOf(res))).toEqual(['assurance.auth-too-old']);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id') ?? '');
    expect(record.outcome).toMatchObject({ status: 401, error: 'insufficient_user_authentication', reasons: ['assurance.auth-too-old'] });
    expect(await metricValue(origin, 'fhirgw_step_up_challenges_total', { reason: 'assurance.auth-too-old' })).toBe(1);
  });

  test('a DPoP-bound token is challenged with the DPoP scheme', async () => {
    const key = await newDpopKey();
    const token = await clinician({ ...BTG, amr: ['pwd'], auth_time: now() - 30, cnf: { jkt: key.thumbprint } });
    const url = `${stack.base}/Observation/obs-hiv-label`;
    const res = await fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: await dpopProof(key, { method: 'GET', url, accessToken: token }) } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^DPoP realm="[^"]+", error="insufficient_user_authentication", error_description="[^"]+", acr_values="urn:okta:loa:2fa:any", max_age=900$/);
  });

  test('the Entra-style acrs mapping: authentication context c1 is multi-factor, and the challenge asks for c1', async () => {
    const withoutContext = await clinician({ ...BTG, acrs: ['c2'], auth_time: now() - 30 }, entra);
    const refused = await stack.fetch('Observation/obs-hiv-label', { token: withoutContext });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('acr_values="c1", max_age=900');

    const withContext = await clinician({ ...BTG, acrs: ['c1'], auth_time: now() - 30 }, entra);
    const allowed = await stack.fetch('Observation/obs-hiv-label', { token: withContext });
    expect(allowed.status).toBe(200);
    const record = await auditRecordOf(stack, allowed.headers.get('x-request-id') ?? '');
    expect(record.principal?.assurance).toMatchObject({ level: 2, methods: [] });
  });
});

describe('staff access to sensitive labels needs a multi-factor login', () => {
  test('a password-only privacy officer reading an HIV result by id gets 404, exactly like a missing one (no challenge that would reveal it)', async () => {
    const password = await officer({ amr: ['pwd'], auth_time: now() - 30 });
    const withheld = await stack.fetch('Observation/obs-hiv-label', { token: password });
    const missing = await stack.fetch('Observation/obs-does-not-exist', { token: password });
    expect([withheld.status, missing.status]).toEqual([404, 404]);
    expect(withheld.headers.get('www-authenticate')).toBeNull();
    const [a, b] = [await jsonOf(withheld), await jsonOf(missing)];
    expect({ ...a, id: undefined }).toEqual({ ...b, id: undefined });

    const mfa = await officer({ amr: ['pwd', 'otp'], auth_time: now() - 30 });
    expect((await stack.fetch('Observation/obs-hiv-label', { token: mfa })).status).toBe(200);
  });

  test('a search the client scopes to HIV data is challenged before it is forwarded; after MFA it finds the results', async () => {
    const password = await officer({ amr: ['pwd'], auth_time: now() - 30 });
    const before = stack.fhir.requests.length;
    for (const query of [`Observation?_security=${ACT_CODE}|HIV`, 'Observation?code=http://loinc.org|75622-1']) {
      const res = await stack.fetch(query, { token: password });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain(`acr_values="${OKTA_MFA}"`);
      expect(res.headers.get('www-authenticate')).not.toContain('max_age');
    }
    expect(stack.fhir.requests.length).toBe(before);

    const mfa = await officer({ acr: OKTA_MFA, auth_time: now() - 30 });
    const found = await jsonOf(await stack.fetch('Observation?code=http://loinc.org|75622-1', { token: mfa }));
    expect(found.entry.map((e: any) => e.resource.id)).toEqual(['obs-hiv-code']);
  });

  test("a patient reads their own HIV result after a password-only login", async () => {
    const token = await stack.issuer.mint({ sub: 'Patient/pat-alba', scope: 'launch/patient patient/*.rs', patient: 'pat-alba', roles: ['patient'], amr: ['pwd'], auth_time: now() - 30 });
    expect((await stack.fetch('Observation/obs-hiv-code', { token })).status).toBe(200);
  });
});
