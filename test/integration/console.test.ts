/**
 * The console's listener, sign-in and API, against a real gateway (Medplum's FHIR engine behind
 * it) and a real OpenID Connect provider (node-oidc-provider), over real HTTP: authorization code
 * with PKCE through openid-client, session cookies, CSRF, roles per API, CSP, audit records.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../src/devkit/ports.js';
import { ensureOpa } from '../../scripts/lib/opa.mjs';
import { breakGlassClaims, RESTRICTED_OBSERVATION } from '../support/console-stack.js';
import { pdfText } from '../support/pdf-text.js';
import { CookieJar, signIn, startConsoleIdp, type ConsoleIdp, type ConsoleUserSpec } from '../support/console-idp.js';
import { startConsoleStack, type ConsoleStack } from '../support/console-stack.js';
import type { Stack } from '../support/stack.js';
import { eventually } from '../support/wait.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const officer: ConsoleUserSpec = { sub: 'po-1', name: 'Pat Officer', roles: ['privacy-officer'] };
const author: ConsoleUserSpec = { sub: 'pa-1', name: 'Paula Author', roles: ['policy-author'] };
const auditor: ConsoleUserSpec = { sub: 'au-1', name: 'Aude Auditor', roles: ['auditor'] };
const clinician: ConsoleUserSpec = { sub: 'dr-9', name: 'Doctor Nine', roles: ['clinician'] };

let stack: Stack;
let idp: ConsoleIdp;
let consoleUrl: string;
let running: ConsoleStack;

const billingCase = { claims: { scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] }, request: 'GET /Observation/o1', now: '2026-11-23T10:00:00Z' };

beforeAll(async () => {
  process.env['FHIRGW_OPA'] = ensureOpa();
  const port = await freePort();
  idp = await startConsoleIdp({ redirectUris: [`http://127.0.0.1:${port}/callback`] });
  running = await startConsoleStack(port, idp);
  ({ stack, consoleUrl } = running);
}, 90_000);

afterAll(async () => {
  await running?.close();
  await idp?.close();
  delete process.env['FHIRGW_OPA'];
});

function get(url: string, jar?: CookieJar): Promise<Response> {
  return fetch(url, { headers: jar ? { cookie: jar.header(url) } : {} });
}

function post(url: string, body: unknown, jar: CookieJar, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', cookie: jar.header(url), ...headers }, body: JSON.stringify(body) });
}

describe('the console listener', () => {
  test('is its own listener, apart from the FHIR API, and the gateway names its URL', async () => {
    expect(stack.gateway.consoleUrl).toBe(consoleUrl);
    expect(new URL(consoleUrl).port).not.toBe(new URL(stack.base).port);
    expect((await get(`${consoleUrl}/fhir/Patient`)).status).toBe(404);
  });

  test('every answer has the strict CSP (no inline script, frame-ancestors none) and no-store', async () => {
    const signedIn = await signIn(consoleUrl, idp, officer);
    for (const res of [await get(`${consoleUrl}/`), await get(`${consoleUrl}/api/session`), await fetch(`${consoleUrl}/login`, { redirect: 'manual' }), await get(`${consoleUrl}/api/overview`, signedIn.jar)]) {
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("default-src 'none'");
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });
});

describe('sign-in through OpenID Connect (authorization code with PKCE)', () => {
  test('the authorization request uses PKCE (S256), state and nonce', async () => {
    const res = await fetch(`${consoleUrl}/login`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const auth = new URL(res.headers.get('location')!);
    expect(auth.origin).toBe(idp.issuer);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(auth.searchParams.get('state')).toBeTruthy();
    expect(auth.searchParams.get('nonce')).toBeTruthy();
    expect(auth.searchParams.get('redirect_uri')).toBe(`${consoleUrl}/callback`);
  });

  test('signs the user in with the roles of the ID token, in an HttpOnly SameSite=Strict cookie that expires', async () => {
    const { jar, setCookies } = await signIn(consoleUrl, idp, officer);
    const session = await (await get(`${consoleUrl}/api/session`, jar)).json();
    expect(session.user).toEqual({ sub: 'po-1', name: 'Pat Officer', iss: idp.issuer });
    expect(session.roles).toEqual(['privacy-officer']);
    const cookie = setCookies.find((c) => c.startsWith('fhirgw_console='))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Max-Age=900/);
    // On loopback a browser would not send a Secure cookie over http; see the unit test for elsewhere.
    expect(cookie).not.toMatch(/Secure/);
    const loginCookie = setCookies.find((c) => c.startsWith('fhirgw_console_login='))!;
    expect(loginCookie).toMatch(/; Path=\/callback; Max-Age=600; HttpOnly; SameSite=Lax/);
    expect(Date.parse(session.expiresAt) - Date.now()).toBeGreaterThan(890_000);
    expect(Date.parse(session.expiresAt) - Date.now()).toBeLessThanOrEqual(900_000);
  });

  test('login rotates the session: the id the browser had before is ended, not kept', async () => {
    const first = await signIn(consoleUrl, idp, officer);
    const before = first.jar.get(consoleUrl, 'fhirgw_console')!;
    const second = await signIn(consoleUrl, idp, officer, first.jar);
    const after = second.jar.get(consoleUrl, 'fhirgw_console')!;
    expect(after).not.toBe(before);
    const stale = new CookieJar();
    stale.set(consoleUrl, 'fhirgw_console', before);
    expect((await get(`${consoleUrl}/api/session`, stale)).status).toBe(401);
    expect((await get(`${consoleUrl}/api/session`, second.jar)).status).toBe(200);
  });

  test('a callback without the login it answers, or replayed, is refused', async () => {
    const res = await fetch(`${consoleUrl}/callback?code=x&state=y`);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe('console_login_failed');
  });

  test('logout needs the CSRF token, then ends the session', async () => {
    const { jar, csrf } = await signIn(consoleUrl, idp, auditor);
    expect((await post(`${consoleUrl}/logout`, {}, jar)).status).toBe(403);
    expect((await get(`${consoleUrl}/api/session`, jar)).status).toBe(200);
    expect((await post(`${consoleUrl}/logout`, {}, jar, { 'x-csrf-token': csrf })).status).toBe(204);
    expect((await get(`${consoleUrl}/api/session`, jar)).status).toBe(401);
  });
});

describe('security of the API', () => {
  test('no access without a session, on every API', async () => {
    const apis = [
      ['GET', '/api/session'], ['GET', '/api/overview'], ['POST', '/api/playground/evaluate'], ['GET', '/api/access-history?patient=pat-alba&from=2026-01-01&to=2026-12-31'],
      ['GET', '/api/access-history/disclosures?patient=pat-alba&from=2026-01-01&to=2026-12-31&format=pdf'], ['GET', '/api/breach-scope?client=x&from=2026-01-01&to=2026-12-31'],
      ['POST', '/api/breach-scope/revoke'], ['GET', '/api/cases'], ['GET', '/api/cases/00000000-0000-4000-8000-000000000000'], ['POST', '/api/cases/00000000-0000-4000-8000-000000000000/close'],
      ['GET', '/api/impact/shadow'], ['POST', '/api/impact/ship'],
    ] as const;
    for (const [method, p] of apis) {
      const res = await fetch(`${consoleUrl}${p}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });
      expect(res.status).toBe(401);
      expect((await res.json()).error).toBe('console_session_required');
    }
    const forged = new CookieJar();
    forged.set(consoleUrl, 'fhirgw_console', 'A'.repeat(43));
    expect((await get(`${consoleUrl}/api/overview`, forged)).status).toBe(401);
  });

  test('roles are enforced per API: only a policy author uses the playground; a user without a console role gets nothing', async () => {
    const body = { case: billingCase };
    for (const user of [officer, auditor]) {
      const { jar, csrf } = await signIn(consoleUrl, idp, user);
      const res = await post(`${consoleUrl}/api/playground/evaluate`, body, jar, { 'x-csrf-token': csrf });
      expect(res.status).toBe(403);
      expect((await res.json()).error).toBe('console_role_required');
      expect((await get(`${consoleUrl}/api/overview`, jar)).status).toBe(200);
    }
    const outsider = await signIn(consoleUrl, idp, clinician);
    expect((await (await get(`${consoleUrl}/api/session`, outsider.jar)).json()).roles).toEqual([]);
    expect((await get(`${consoleUrl}/api/overview`, outsider.jar)).status).toBe(403);
    const { jar, csrf } = await signIn(consoleUrl, idp, author);
    expect((await post(`${consoleUrl}/api/playground/evaluate`, body, jar, { 'x-csrf-token': csrf })).status).toBe(200);
  });

  test('CSRF: a state change without the session token, with another token, or from another origin is refused', async () => {
    const { jar, csrf } = await signIn(consoleUrl, idp, author);
    const url = `${consoleUrl}/api/playground/evaluate`;
    const attempts: Record<string, string>[] = [{}, { 'x-csrf-token': 'x'.repeat(csrf.length) }, { 'x-csrf-token': csrf, origin: 'http://evil.example' }];
    for (const headers of attempts) {
      const res = await post(url, { case: billingCase }, jar, headers);
      expect(res.status).toBe(403);
      expect((await res.json()).error).toBe('console_csrf_refused');
    }
    expect((await post(url, { case: billingCase }, jar, { 'x-csrf-token': csrf, origin: consoleUrl })).status).toBe(200);
  });

  test('every console action is an audit record with the user as principal, refusals included', async () => {
    const { jar, csrf } = await signIn(consoleUrl, idp, { sub: 'pa-audit', name: 'Audited Author', roles: ['policy-author'] });
    await post(`${consoleUrl}/api/playground/evaluate`, { case: billingCase }, jar, { 'x-csrf-token': csrf });
    await post(`${consoleUrl}/api/playground/evaluate`, { case: billingCase }, jar);
    await get(`${consoleUrl}/api/overview?minutes=30`, jar);
    const mine = await eventually(
      async () => stack.auditRecords().filter((r) => r.principal?.sub === 'pa-audit'),
      (records) => records.length >= 4,
      'the four console records',
    );
    expect(mine.map((r) => [r.request?.operation, r.outcome.status, r.outcome.error])).toEqual([
      ['console.login', 200, null],
      ['console.playground.evaluate', 200, null],
      ['console.playground.evaluate', 403, 'console_csrf_refused'],
      ['console.overview', 200, null],
    ]);
    for (const r of mine) {
      expect(r.principal).toMatchObject({ iss: idp.issuer, sub: 'pa-audit', client_id: 'fhir-console', roles: ['policy-author'] });
      expect(r.request?.interaction).toBe('operation');
    }
    // Query values are masked like search values: the parameter is recorded, not what it held.
    expect(mine[3]!.request?.params).toEqual([{ name: 'minutes', modifier: null, value: null, mask: 'removed' }]);
  });
});

describe('API: playground and overview', () => {
  test('the playground decides with the active bundle and explains it with opa eval on its sources', async () => {
    const { jar, csrf } = await signIn(consoleUrl, idp, author);
    const res = await post(`${consoleUrl}/api/playground/evaluate`, { case: billingCase, explain: 'full' }, jar, { 'x-csrf-token': csrf });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.bundle).toBe('active');
    expect(body.result.request).toEqual({ allow: false, reasons: ['role.type-not-permitted'], obligations: {} });
    expect(body.inputs[0].input.principal.roles).toEqual(['billing']);
    const [e] = body.explanations;
    expect(e.engine).toContain('interpreter (opa eval --explain=full)');
    expect(e.agrees).toBe(true);
    expect(e.reasons[0].rules[0].rule).toBe('data.fhirgw.request.deny');
  });

  test('the playground evaluates a candidate built from uploaded sources', async () => {
    const { jar, csrf } = await signIn(consoleUrl, idp, author);
    const files: Record<string, string> = {};
    const policies = path.join(ROOT, 'policies');
    const { sourceFiles } = await import('../../src/policy/toolchain.js');
    for (const f of sourceFiles(policies)) files[path.relative(policies, f)] = readFileSync(f, 'utf8');
    const roles = JSON.parse(files['fhirgw/roles/data.json']!);
    roles.billing.read.push('Observation');
    files['fhirgw/roles/data.json'] = JSON.stringify(roles);
    const res = await post(`${consoleUrl}/api/playground/evaluate`, { case: billingCase, candidate: { files }, explain: 'notes' }, jar, { 'x-csrf-token': csrf });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.bundle).toBe('candidate');
    expect(body.result.request.allow).toBe(true);
    expect(body.explanations[0].agrees).toBe(true);

    const bad = await post(`${consoleUrl}/api/playground/evaluate`, { case: billingCase, candidate: { files: { '../escape.rego': 'package x' } } }, jar, { 'x-csrf-token': csrf });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toBe('console_invalid_request');
  });

  test('the overview counts decisions per minute, top reasons, the policy revision and the circuit state', async () => {
    const token = await stack.issuer.mint({ sub: 'biller-1', scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] });
    expect((await stack.fetch('Observation/obs-pat-alba-0', { token })).status).toBe(403);
    const { jar } = await signIn(consoleUrl, idp, auditor);
    const body = await (await get(`${consoleUrl}/api/overview?minutes=5`, jar)).json();
    expect(body.minutes).toBe(5);
    expect(body.perMinute.reduce((a: number, m: { denials: number }) => a + m.denials, 0)).toBeGreaterThanOrEqual(1);
    expect(body.topReasons).toContainEqual(expect.objectContaining({ reason: 'role.type-not-permitted', decision: 'deny' }));
    expect(body.policy[0]).toMatchObject({ bundle: 'enforcing', revision: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(body.upstreamCircuit).toEqual([expect.objectContaining({ state: 'closed' })]);
    expect((await get(`${consoleUrl}/api/overview?minutes=0`, jar)).status).toBe(400);
  });
});

describe('API: decisions (over the audit store)', () => {
  test('filters, a record in full with reasons in words and its chain verified, and the same request in the playground', async () => {
    const token = await stack.issuer.mint({ sub: 'biller-7', scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] });
    expect((await stack.fetch('Observation/obs-pat-alba-0', { token })).status).toBe(403);
    expect((await stack.fetch('Encounter/enc-pat-alba', { token })).status).toBe(200);
    const { jar } = await signIn(consoleUrl, idp, officer);
    const list = await eventually(
      async () => (await (await get(`${consoleUrl}/api/decisions?user=biller-7`, jar)).json()) as { records: { id: string; time: string; decision: string; reasons: string[]; request: { type: string } }[] },
      (b) => b.records.length >= 2,
      'both biller-7 records in the store',
    );
    expect(list.records.map((r) => [r.request.type, r.decision])).toEqual([['Encounter', 'allow'], ['Observation', 'deny']]);
    const denied = (await (await get(`${consoleUrl}/api/decisions?user=biller-7&decision=deny`, jar)).json()).records;
    expect(denied).toHaveLength(1);
    expect((await (await get(`${consoleUrl}/api/decisions?user=biller-7&reason=role.type-not-permitted`, jar)).json()).records.map((r: { id: string }) => r.id)).toEqual([denied[0].id]);
    expect((await (await get(`${consoleUrl}/api/decisions?user=biller-7&type=Patient`, jar)).json()).records).toEqual([]);
    expect((await get(`${consoleUrl}/api/decisions?decision=maybe`, jar)).status).toBe(400);

    const detail = await (await get(`${consoleUrl}/api/decisions/record?id=${encodeURIComponent(denied[0].id)}&time=${encodeURIComponent(denied[0].time)}`, jar)).json();
    expect(detail.record.deliveryId).toBe(denied[0].id);
    expect(detail.reasons).toEqual([{ code: 'role.type-not-permitted', meaning: expect.stringMatching(/\w/) }]);
    expect(detail.chain).toMatchObject({ macValid: true, instanceIntact: true, problem: null });
    expect(detail.playgroundCase.request).toBe('GET /Observation/obs-pat-alba-0');

    const authorSession = await signIn(consoleUrl, idp, author);
    expect((await get(`${consoleUrl}/api/decisions`, authorSession.jar)).status).toBe(403);
    const replayed = await (await post(`${consoleUrl}/api/playground/evaluate`, { case: detail.playgroundCase }, authorSession.jar, { 'x-csrf-token': authorSession.csrf })).json();
    expect(replayed.result.request.reasons).toEqual(['role.type-not-permitted']);
  });
});

describe('API: impact (a window of the trail replayed against a candidate)', () => {
  test('finds exactly the decisions the changed rule changes, grouped by reason, role, type and interaction', async () => {
    const from = new Date().toISOString();
    const biller = await stack.issuer.mint({ sub: 'biller-impact', scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] });
    const clinicianToken = await stack.issuer.mint({ sub: 'dr-impact', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    expect((await stack.fetch('Encounter/enc-pat-alba', { token: biller })).status).toBe(200);
    expect((await stack.fetch('Patient/pat-alba', { token: biller })).status).toBe(200);
    expect((await stack.fetch('Encounter/enc-pat-alba', { token: clinicianToken })).status).toBe(200);
    const { jar, csrf } = await signIn(consoleUrl, idp, author);
    // The candidate: the shipped sources, with billing no longer reading Encounters.
    const policies = path.join(ROOT, 'policies');
    const { sourceFiles } = await import('../../src/policy/toolchain.js');
    const files: Record<string, string> = {};
    for (const f of sourceFiles(policies)) files[path.relative(policies, f)] = readFileSync(f, 'utf8');
    const roles = JSON.parse(files['fhirgw/roles/data.json']!);
    roles.billing.read = roles.billing.read.filter((t: string) => t !== 'Encounter');
    files['fhirgw/roles/data.json'] = JSON.stringify(roles);
    const officerSession = await signIn(consoleUrl, idp, officer);
    const report = await eventually(
      async () => {
        const before = new Date(Date.now() + 1000).toISOString();
        return (await (await post(`${consoleUrl}/api/impact`, { from, before, candidate: { files } }, jar, { 'x-csrf-token': csrf })).json()) as {
          replayed: number;
          changes: { request: string; who: string }[];
          groups: Record<string, Record<string, number>>;
        };
      },
      (r) => r.replayed >= 3,
      'the three requests in the store',
    );
    expect(report.changes.map((c) => [c.request, c.who])).toEqual([['GET /Encounter/enc-pat-alba', 'biller-impact roles billing']]);
    expect(report.groups).toEqual({ reason: { 'scope.ok': 1, 'role.type-not-permitted': 1 }, role: { billing: 1 }, type: { Encounter: 1 }, interaction: { read: 1 } });
    const auditorSession = await signIn(consoleUrl, idp, auditor);
    expect((await post(`${consoleUrl}/api/impact`, { from, before: from, candidate: { files } }, auditorSession.jar, { 'x-csrf-token': auditorSession.csrf })).status).toBe(403);
    expect((await post(`${consoleUrl}/api/impact`, { from: 'yesterday', before: from, candidate: { files } }, officerSession.jar, { 'x-csrf-token': officerSession.csrf })).status).toBe(400);
  });
});

/** A window around now for the privacy office's reports (whole days, as the CLI takes them). */
function today(): { from: string; to: string } {
  const day = new Date().toISOString().slice(0, 10);
  return { from: day, to: day };
}

/** The shipped policy sources, for a candidate (optionally changed). */
async function policyFiles(change: (roles: Record<string, { read: string[] }>) => void = () => {}): Promise<Record<string, string>> {
  const policies = path.join(ROOT, 'policies');
  const { sourceFiles } = await import('../../src/policy/toolchain.js');
  const files: Record<string, string> = {};
  for (const f of sourceFiles(policies)) files[path.relative(policies, f)] = readFileSync(f, 'utf8');
  const roles = JSON.parse(files['fhirgw/roles/data.json']!);
  change(roles);
  files['fhirgw/roles/data.json'] = JSON.stringify(roles);
  return files;
}

describe('API: patient access history and the accounting of disclosures', () => {
  let traffic: { from: string; to: string };
  beforeAll(async () => {
    // A clinician reads the patient, a search over their Observations: both release pat-bruno's data.
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-history', fhirUser: 'Practitioner/prac-history', client_id: 'ward-app', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    expect((await stack.fetch('Patient/pat-bruno', { token })).status).toBe(200);
    expect((await stack.fetch('Observation?patient=Patient/pat-bruno', { token })).status).toBe(200);
    traffic = today();
    const { jar } = await signIn(consoleUrl, idp, officer);
    await eventually(
      async () => (await (await get(`${consoleUrl}/api/access-history?patient=pat-bruno&from=${traffic.from}&to=${traffic.to}`, jar)).json()) as { entries: unknown[] },
      (b) => b.entries.length >= 2,
      'both reads of pat-bruno in the store',
    );
  });

  test('shows what the patient sees (staff by role and organisation) and the staff names only the office sees', async () => {
    const { jar } = await signIn(consoleUrl, idp, auditor);
    const res = await get(`${consoleUrl}/api/access-history?patient=Patient/pat-bruno&from=${traffic.from}&to=${traffic.to}`, jar);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { patientAccess: { staff: string; organisation: string }; entries: Array<{ action: string; patientSees: { who: string; roles: string[] }; staff: { name: string; client: string }; released: Array<{ type: string }> }> };
    expect(body.patientAccess).toEqual({ staff: 'role-organisation', organisation: 'the care provider' });
    const mine = body.entries.filter((e) => e.staff.name === 'Practitioner/prac-history');
    expect(mine.map((e) => e.action).sort()).toEqual(['GET read Patient', 'GET search-type Observation']);
    for (const e of mine) {
      expect(e.patientSees).toEqual({ who: 'the care provider', roles: ['clinician'] });
      expect(e.staff.client).toBe('ward-app');
    }
    // The same entries the patient's own history at <base>/AuditEvent gives, in the same order.
    const patientToken = await stack.issuer.mint({ sub: 'Patient/pat-bruno', fhirUser: 'Patient/pat-bruno', patient: 'pat-bruno', scope: 'launch/patient patient/*.rs', roles: ['patient'] });
    const own = (await (await stack.fetch(`AuditEvent?patient=pat-bruno&date=ge${traffic.from}&_count=100`, { token: patientToken })).json()) as { entry?: Array<{ resource: { id: string } }> };
    const ids = (body as unknown as { entries: Array<{ id: string }> }).entries.map((e) => e.id);
    expect(ids).toEqual((own.entry ?? []).map((e) => e.resource.id).filter((id) => ids.includes(id)));
    expect(ids.length).toBeGreaterThanOrEqual(2);
  });

  test('exports the accounting of disclosures as CSV and as a paginated PDF naming the recipients', async () => {
    const { jar } = await signIn(consoleUrl, idp, officer);
    const base = `${consoleUrl}/api/access-history/disclosures?patient=pat-bruno&from=${traffic.from}&to=${traffic.to}&includeTpo=true`;
    const csv = await get(`${base}&format=csv`, jar);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="disclosures-pat-bruno-\d{4}-\d{2}-\d{2}\.csv"$/);
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe('date,user,organisation,client,description,purpose_of_use,tpo,break_glass,record');
    expect(lines.filter((l) => l.includes('Practitioner/prac-history,,ward-app,')).length).toBe(2);

    const pdf = await get(`${base}&format=pdf`, jar);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    const bytes = Buffer.from(await pdf.arrayBuffer());
    expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    const { strings, pages } = pdfText(bytes);
    expect(pages).toBeGreaterThanOrEqual(1);
    expect(strings).toEqual(expect.arrayContaining(['Accounting of disclosures', 'pat-bruno', 'Date (UTC)', 'Recipient', 'What was disclosed', 'ward-app']));
    expect(strings.filter((t) => t === 'Practitioner/prac-history')).toHaveLength(2);
    expect(strings.find((t) => t.startsWith('Page 1 of '))).toBe(`Page 1 of ${pages}`);
    // Without includeTpo, treatment disclosures are left out (45 CFR 164.528(a)(1)(i)).
    const tpoLeftOut = (await (await get(`${consoleUrl}/api/access-history/disclosures?patient=pat-bruno&from=${traffic.from}&to=${traffic.to}`, jar)).json()) as { disclosures: Array<{ recipient: { client: string } }> };
    expect(tpoLeftOut.disclosures.filter((d) => d.recipient.client === 'ward-app')).toEqual([]);
  });

  test('a policy author cannot see the access history or the disclosures; bad input is a 400', async () => {
    const { jar } = await signIn(consoleUrl, idp, author);
    for (const p of [`/api/access-history?patient=pat-bruno&from=${traffic.from}&to=${traffic.to}`, `/api/access-history/disclosures?patient=pat-bruno&from=${traffic.from}&to=${traffic.to}&format=pdf`]) {
      const res = await get(`${consoleUrl}${p}`, jar);
      expect(res.status).toBe(403);
      expect((await res.json()).error).toBe('console_role_required');
    }
    const officerJar = (await signIn(consoleUrl, idp, officer)).jar;
    for (const q of ['patient=../etc&from=2026-01-01&to=2026-01-02', 'patient=pat-bruno&from=yesterday&to=2026-01-02', 'patient=pat-bruno&from=2026-01-01', 'patient=pat-bruno&from=2026-01-01&to=2026-01-02&format=docx']) {
      const path = q.includes('format') ? 'access-history/disclosures' : 'access-history';
      const res = await get(`${consoleUrl}/api/${path}?${q}`, officerJar);
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('console_invalid_request');
    }
  });
});

describe('API: breach scope and revoke now', () => {
  test('the affected patients with what was released and the chain verified, as JSON and CSV; privacy officers only', async () => {
    const token = await stack.issuer.mint({ sub: 'leaked-user', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(200);
    expect((await stack.fetch('Observation?patient=Patient/pat-alba', { token })).status).toBe(200);
    const { from, to } = today();
    const { jar } = await signIn(consoleUrl, idp, officer);
    const url = `${consoleUrl}/api/breach-scope?subject=${encodeURIComponent(`${stack.issuer.issuer} leaked-user`)}&from=${from}&to=${to}`;
    const scope = await eventually(
      async () => (await (await get(url, jar)).json()) as { patients: Array<{ patient: string; released: Array<{ type: string; count: number }> }>; totals: { records: number }; chain: { ok: boolean; checked: number }; revocable: boolean },
      (b) => b.totals?.records >= 2,
      'both records of leaked-user in the store',
    );
    expect(scope.patients.map((p) => p.patient)).toEqual(['pat-alba']);
    expect(scope.patients[0]!.released.map((r) => r.type)).toEqual(expect.arrayContaining(['Observation', 'Patient']));
    expect(scope.chain).toMatchObject({ ok: true });
    expect(scope.chain.checked).toBeGreaterThanOrEqual(2);
    expect(scope.revocable).toBe(true);
    const csv = await get(`${url}&format=csv`, jar);
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="breach-scope-/);
    const rows = (await csv.text()).trim().split('\n');
    expect(rows[0]).toBe('patient,released,first_access,last_access,records');
    expect(rows[1]).toMatch(/^pat-alba,/);
    for (const user of [author, auditor]) {
      const res = await get(url, (await signIn(consoleUrl, idp, user)).jar);
      expect(res.status).toBe(403);
      expect((await res.json()).error).toBe('console_role_required');
    }
    expect((await get(`${consoleUrl}/api/breach-scope?subject=nospace&from=${from}&to=${to}`, jar)).status).toBe(400);
    expect((await get(`${consoleUrl}/api/breach-scope?client=a&jti=b&from=${from}&to=${to}`, jar)).status).toBe(400);
  });

  test('revoke now needs the confirmation field and the CSRF token; then the gateway refuses the subject\'s and the client\'s tokens (401)', async () => {
    const subjectToken = await stack.issuer.mint({ sub: 'stolen-login', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    const clientToken = await stack.issuer.mint({ sub: 'someone-else', client_id: 'compromised-app', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    expect((await stack.fetch('Patient/pat-alba', { token: subjectToken })).status).toBe(200);
    expect((await stack.fetch('Patient/pat-alba', { token: clientToken })).status).toBe(200);
    const { jar, csrf } = await signIn(consoleUrl, idp, { sub: 'po-revoke', name: 'Revoking Officer', roles: ['privacy-officer'] });
    const url = `${consoleUrl}/api/breach-scope/revoke`;
    const subject = `${stack.issuer.issuer} stolen-login`;
    // Refusals change nothing: no confirmation, a confirmation that is not `true`, an address, no CSRF token.
    for (const body of [{ subject }, { subject, confirm: 'yes' }, { address: '10.0.0.1', confirm: true }, { subject, client: 'x', confirm: true }]) {
      const res = await post(url, body, jar, { 'x-csrf-token': csrf });
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('console_invalid_request');
    }
    expect((await post(url, { subject, confirm: true }, jar)).status).toBe(403);
    const auditorSession = await signIn(consoleUrl, idp, auditor);
    const asAuditor = await post(url, { subject, confirm: true }, auditorSession.jar, { 'x-csrf-token': auditorSession.csrf });
    expect(asAuditor.status).toBe(403);
    expect((await asAuditor.json()).error).toBe('console_role_required');
    expect((await stack.fetch('Patient/pat-alba', { token: subjectToken })).status).toBe(200);

    const revoked = await post(url, { subject, confirm: true }, jar, { 'x-csrf-token': csrf });
    expect(revoked.status).toBe(201);
    expect(await revoked.json()).toEqual({ revoked: 'sub', iss: stack.issuer.issuer });
    const refused = await stack.fetch('Patient/pat-alba', { token: subjectToken });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('invalid_token');

    // A client: the one configured issuer is the default.
    expect((await post(url, { client: 'compromised-app', confirm: true }, jar, { 'x-csrf-token': csrf })).status).toBe(201);
    expect((await stack.fetch('Patient/pat-alba', { token: clientToken })).status).toBe(401);
    expect((await post(url, { client: 'compromised-app', iss: 'https://other.example', confirm: true }, jar, { 'x-csrf-token': csrf })).status).toBe(400);

    // Audited with the console user as principal.
    const records = await eventually(
      async () => stack.auditRecords().filter((r) => r.principal?.sub === 'po-revoke' && r.request?.operation === 'console.breach-scope.revoke'),
      (l) => l.filter((r) => r.outcome.status === 201).length === 2,
      'the two revocations recorded',
    );
    expect(records.filter((r) => r.outcome.status === 201).map((r) => r.principal)).toEqual([expect.objectContaining({ iss: idp.issuer, client_id: 'fhir-console', roles: ['privacy-officer'] }), expect.objectContaining({ sub: 'po-revoke' })]);
  });
});

describe('API: review cases', () => {
  let caseId: string;
  beforeAll(async () => {
    const token = await stack.issuer.mint(breakGlassClaims('Practitioner/prac-btg', 'Unconscious patient in the ED'));
    expect((await stack.fetch(`Observation/${RESTRICTED_OBSERVATION}`, { token })).status).toBe(200);
    const { jar } = await signIn(consoleUrl, idp, officer);
    const list = await eventually(
      async () => (await (await get(`${consoleUrl}/api/cases?kind=break-glass&patient=pat-alba`, jar)).json()) as { cases: Array<{ id: string; user: { sub: string } }> },
      (b) => b.cases.some((c) => c.user.sub === 'Practitioner/prac-btg'),
      'the break-the-glass case opened by the detector',
      20_000,
    );
    caseId = list.cases.find((c) => c.user.sub === 'Practitioner/prac-btg')!.id;
  }, 30_000);

  test('lists and filters cases, and a case shows its record trail with the chain verified; the overview counts open cases', async () => {
    const { jar } = await signIn(consoleUrl, idp, auditor);
    const open = (await (await get(`${consoleUrl}/api/cases?status=open`, jar)).json()) as { cases: Array<{ id: string }> };
    expect(open.cases.map((c) => c.id)).toContain(caseId);
    expect(((await (await get(`${consoleUrl}/api/cases?kind=detection`, jar)).json()) as { cases: Array<{ id: string }> }).cases.map((c) => c.id)).not.toContain(caseId);
    expect(((await (await get(`${consoleUrl}/api/cases?patient=pat-bruno`, jar)).json()) as { cases: Array<{ id: string }> }).cases.map((c) => c.id)).not.toContain(caseId);
    const detail = (await (await get(`${consoleUrl}/api/cases/${caseId}`, jar)).json()) as { case: { statedReason: string; findings: Array<{ signal: string; record: string }> }; trail: { records: Array<{ id: string; request: { type: string; id: string }; breakGlass: boolean }>; missing: string[]; chain: { ok: boolean } } };
    expect(detail.case.statedReason).toBe('Unconscious patient in the ED');
    expect(detail.trail.records.map((r) => [r.id, r.request.type, r.request.id, r.breakGlass])).toEqual([[detail.case.findings[0]!.record, 'Observation', RESTRICTED_OBSERVATION, true]]);
    expect(detail.trail.missing).toEqual([]);
    expect(detail.trail.chain.ok).toBe(true);
    const overview = (await (await get(`${consoleUrl}/api/overview`, jar)).json()) as { openCases: number };
    expect(overview.openCases).toBeGreaterThanOrEqual(1);
    for (const q of ['status=maybe', 'kind=other', 'limit=0']) expect((await get(`${consoleUrl}/api/cases?${q}`, jar)).status).toBe(400);
    expect((await get(`${consoleUrl}/api/cases/00000000-0000-4000-8000-000000000000`, jar)).status).toBe(404);
  });

  test('an auditor cannot close a case; bad input and a missing CSRF token change nothing; a privacy officer closes it once', async () => {
    const close = `${consoleUrl}/api/cases/${caseId}/close`;
    const auditorSession = await signIn(consoleUrl, idp, auditor);
    const asAuditor = await post(close, { status: 'justified', note: 'looked fine' }, auditorSession.jar, { 'x-csrf-token': auditorSession.csrf });
    expect(asAuditor.status).toBe(403);
    expect((await asAuditor.json()).error).toBe('console_role_required');
    const { jar, csrf } = await signIn(consoleUrl, idp, { sub: 'po-review', name: 'Reviewing Officer', roles: ['privacy-officer'] });
    for (const body of [{ status: 'fine', note: 'x' }, { status: 'justified' }, { status: 'justified', note: '' }, { status: 'justified', note: 'x', reviewer: 'someone else' }]) {
      const res = await post(close, body, jar, { 'x-csrf-token': csrf });
      expect(res.status).toBe(400);
      expect((await res.json()).error).toBe('console_invalid_request');
    }
    expect((await post(close, { status: 'justified', note: 'x' }, jar)).status).toBe(403);
    expect(((await (await get(`${consoleUrl}/api/cases/${caseId}`, jar)).json()) as { case: { status: string } }).case.status).toBe('open');

    const closed = await post(close, { status: 'unjustified', note: 'No ED admission on record' }, jar, { 'x-csrf-token': csrf });
    expect(closed.status).toBe(200);
    expect(await closed.json()).toMatchObject({ status: 'unjustified', transitions: [{ from: 'open', to: 'unjustified', reviewer: `${idp.issuer}|po-review`, note: 'No ED admission on record' }] });
    expect((await post(close, { status: 'justified', note: 'again' }, jar, { 'x-csrf-token': csrf })).status).toBe(412);
  });
});

describe('API: ship in shadow mode', () => {
  test('a policy author ships a candidate as the shadow bundle; the gateway loads it and counts its disagreements', async () => {
    const authorSession = await signIn(consoleUrl, idp, author);
    expect(await (await get(`${consoleUrl}/api/impact/shadow`, authorSession.jar)).json()).toEqual({ available: true, reason: null, bundle: 'bundle.tar.gz' });
    // The candidate: billing no longer reads Encounters.
    const files = await policyFiles((roles) => {
      roles['billing']!.read = roles['billing']!.read.filter((t) => t !== 'Encounter');
    });
    const officerSession = await signIn(consoleUrl, idp, officer);
    expect((await post(`${consoleUrl}/api/impact/ship`, { candidate: { files } }, officerSession.jar, { 'x-csrf-token': officerSession.csrf })).status).toBe(403);
    expect((await post(`${consoleUrl}/api/impact/ship`, { candidate: { files } }, authorSession.jar)).status).toBe(403);
    expect((await post(`${consoleUrl}/api/impact/ship`, { candidate: { files: { '../x.rego': 'package x' } } }, authorSession.jar, { 'x-csrf-token': authorSession.csrf })).status).toBe(400);
    expect(existsSync(running.shadowBundle)).toBe(false);

    const res = await post(`${consoleUrl}/api/impact/ship`, { candidate: { files } }, authorSession.jar, { 'x-csrf-token': authorSession.csrf });
    expect(res.status).toBe(201);
    const shipped = (await res.json()) as { revision: string };
    expect(shipped.revision).toMatch(/^[0-9a-f]{16}$/);
    // The gateway's watcher reloads the shadow bundle: its revision appears in the policy metric.
    await eventually(async () => (await stack.gateway.metrics.policyInfo.get()).values.some((v) => v.labels['bundle'] === 'shadow' && v.labels['revision'] === shipped.revision), Boolean, 'the shadow bundle loaded');
    const disagreements = async () => (await stack.gateway.metrics.shadowDisagreements.get()).values.filter((v) => v.labels['stage'] === 'request').reduce((a, v) => a + v.value, 0);
    const before = await disagreements();
    const biller = await stack.issuer.mint({ sub: 'biller-shadow', scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] });
    // Enforcing still allows it; the shadow denies the request (and so its resource), and that is counted.
    expect((await stack.fetch('Encounter/enc-pat-alba', { token: biller })).status).toBe(200);
    expect(await disagreements()).toBe(before + 1);
    const records = await eventually(async () => stack.auditRecords().filter((r) => r.principal?.sub === 'pa-1' && r.request?.operation === 'console.impact.ship'), (l) => l.some((r) => r.outcome.status === 201), 'the ship recorded');
    expect(records.some((r) => r.outcome.status === 201)).toBe(true);
  }, 60_000);
});
