/**
 * The console's listener, sign-in and API, against a real gateway (Medplum's FHIR engine behind
 * it) and a real OpenID Connect provider (node-oidc-provider), over real HTTP: authorization code
 * with PKCE through openid-client, session cookies, CSRF, roles per API, CSP, audit records.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/devkit/ports.js';
import { ensureOpa } from '../../scripts/lib/opa.mjs';
import { CookieJar, signIn, startConsoleIdp, type ConsoleIdp, type ConsoleUserSpec } from '../support/console-idp.js';
import { startStack, type Stack } from '../support/stack.js';
import { eventually } from '../support/wait.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const officer: ConsoleUserSpec = { sub: 'po-1', name: 'Pat Officer', roles: ['privacy-officer'] };
const author: ConsoleUserSpec = { sub: 'pa-1', name: 'Paula Author', roles: ['policy-author'] };
const auditor: ConsoleUserSpec = { sub: 'au-1', name: 'Aude Auditor', roles: ['auditor'] };
const clinician: ConsoleUserSpec = { sub: 'dr-9', name: 'Doctor Nine', roles: ['clinician'] };

let stack: Stack;
let idp: ConsoleIdp;
let consoleUrl: string;
let storeDir: string;

const billingCase = { claims: { scope: 'user/*.rs', roles: ['billing'], purpose_of_use: ['HPAYMT'] }, request: 'GET /Observation/o1', now: '2026-11-23T10:00:00Z' };

beforeAll(async () => {
  process.env['FHIRGW_OPA'] = ensureOpa();
  const port = await freePort();
  storeDir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-console-store-'));
  consoleUrl = `http://127.0.0.1:${port}`;
  idp = await startConsoleIdp({ redirectUris: [`${consoleUrl}/callback`] });
  stack = await startStack({
    config: (d) => ({ ...d, audit: { sinks: [...(d.audit?.sinks ?? []), { type: 'postgres', embedded: { dir: storeDir } }] }, console: { host: '127.0.0.1', port, oidc: { issuer: idp.issuer, clientId: 'fhir-console', scope: 'openid profile roles' }, sessionTtlSeconds: 900 } }),
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await idp?.close();
  rmSync(storeDir, { recursive: true, force: true });
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
    for (const [method, p] of [['GET', '/api/session'], ['GET', '/api/overview'], ['POST', '/api/playground/evaluate']] as const) {
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
