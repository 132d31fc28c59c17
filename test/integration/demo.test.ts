/**
 * The demo as a SMART developer meets it: a real authorization server (oidc-provider) behind the
 * gateway's discovery, the printed curl lines (each run and its answer checked), the one-line audit
 * summaries, `npm run demo -- token`, and a browser SMART app (fhirclient in Chromium) running
 * the standalone launch (patient and staff with the patient picker) and the EHR launch, from
 * authorize to data, refresh token included.
 */
import { PassThrough } from 'node:stream';
import type { Browser, Page } from 'playwright-core';
import { DEMO_ACR } from '../../src/devkit/authorization-server.js';
import { runDemo, type RunningDemo } from '../../src/devkit/demo.js';
import { runDemoToken } from '../../src/devkit/demo-token.js';
import { freePort } from '../../src/devkit/ports.js';
import { launchBrowser, startPageServer, type PageServer } from '../support/browser.js';
import { until } from '../support/audit.js';
import { decodeJwt } from 'jose';

let demo: RunningDemo;
let printed = '';
let browser: Browser;
let app: PageServer;

const SCRIPT = (body: string): string => `<!doctype html><html><head><script src="/fhir-client.js"></script></head><body><pre id="result"></pre><script>
const show = (v) => { document.getElementById('result').textContent = JSON.stringify(v); };
${body}
</script></body></html>`;

// The app's pages: a standalone or EHR launch page, and the redirect target that reads data.
const PAGES = {
  '/standalone': SCRIPT(`FHIR.oauth2.authorize({ iss: new URLSearchParams(location.search).get('iss'), clientId: 'demo-app',
    scope: new URLSearchParams(location.search).get('scope'), redirectUri: '/callback' });`),
  '/launch': SCRIPT(`FHIR.oauth2.authorize({ clientId: 'demo-app', scope: 'launch openid fhirUser patient/*.rs online_access', redirectUri: '/callback' });`),
  '/callback': SCRIPT(`FHIR.oauth2.ready().then(async (client) => {
    const patient = await client.request('Patient/' + client.patient.id);
    const observations = await client.request('Observation');
    const first = client.state.tokenResponse.access_token;
    let refreshed = null;
    let again = null;
    if (client.state.tokenResponse.refresh_token) {
      // A public client's refresh names the client (RFC 6749 section 6; fhirclient's refresh() leaves client_id out).
      const res = await fetch(client.state.tokenUri, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: client.state.tokenResponse.refresh_token, client_id: 'demo-app' }) });
      refreshed = (await res.json()).access_token;
      again = (await (await fetch(client.state.serverUrl + '/Patient/' + client.patient.id, { headers: { authorization: 'Bearer ' + refreshed } })).json()).id;
    }
    show({ patient: patient.id, family: patient.name[0].family, observations: (observations.entry || []).map((e) => e.resource.subject.reference),
      tokenPatient: client.patient.id, accessToken: first, refreshed, again, scope: client.state.tokenResponse.scope });
  }).catch((e) => show({ error: String(e) }));`),
};

beforeAll(async () => {
  const appPort = await freePort();
  const out = new PassThrough();
  out.on('data', (chunk: Buffer) => (printed += chunk.toString('utf8')));
  demo = await runDemo({ port: await freePort(), authPort: await freePort(), allowOrigins: [`http://127.0.0.1:${appPort}`], out });
  app = await startPageServer(PAGES, { port: appPort });
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await demo?.close();
});

/** The curl lines the demo printed, with the comment above each. */
function curlLines(): Array<{ comment: string; method: string; url: string; token: string | null; body: string | null }> {
  const lines = printed.split('\n');
  const result = [];
  let comment = '';
  for (const line of lines) {
    if (line.startsWith('#')) comment = line;
    if (!line.startsWith('curl ')) continue;
    expect(line).toMatch(/^curl -i /);
    result.push({
      comment,
      method: /-X (\w+)/.exec(line)?.[1] ?? 'GET',
      url: /'(http[^']+)'$/.exec(line)?.[1] as string,
      token: /Bearer ([^"]+)"/.exec(line)?.[1] ?? null,
      body: /-d '([^']+)'/.exec(line)?.[1] ?? null,
    });
  }
  return result;
}

describe('the demo', () => {
  test("every printed curl line answers as its comment says, including a write, a nurse, billing, a backend service and break-the-glass", async () => {
    const statuses: Array<[string, number, string | null]> = [];
    for (const c of curlLines()) {
      const res = await fetch(c.url, {
        method: c.method,
        headers: { ...(c.token ? { authorization: `Bearer ${c.token}` } : {}), ...(c.body ? { 'content-type': 'application/fhir+json' } : {}) },
        ...(c.body ? { body: c.body } : {}),
      });
      statuses.push([c.url.replace(demo.base, ''), res.status, res.headers.get('www-authenticate')]);
    }
    const claimsOf = (t: string | null) => (t ? decodeJwt(t) : null);
    const lines = curlLines();
    expect(statuses.map(([p, s]) => [p, s])).toEqual([
      ['/Patient/pat-alba', 200],
      ['/Observation', 200],
      ['/Patient/pat-bruno', 403],
      ['/Observation?_count=5', 200],
      ['/Observation/obs-hiv-demo', 404],
      ['/Observation', 201],
      ['/Patient/pat-alba', 200],
      ['/Observation', 403],
      ['/Patient', 200],
      ['/Patient', 200],
      ['/Observation/obs-hiv-demo', 200],
      ['/Observation/obs-hiv-demo', 401],
      ['/Patient/pat-alba', 401],
    ]);
    expect(claimsOf(lines[5]?.token ?? null)?.['roles']).toEqual(['nurse']);
    expect(claimsOf(lines[6]?.token ?? null)?.['roles']).toEqual(['billing']);
    // The backend service's token came from client credentials with private_key_jwt: issued to demo-backend.
    expect(claimsOf(lines[9]?.token ?? null)).toMatchObject({ client_id: 'demo-backend', scope: 'system/*.rs' });
    expect(claimsOf(lines[10]?.token ?? null)).toMatchObject({ purpose_of_use: ['BTG'], acr: DEMO_ACR.mfa });
    expect(statuses[11]?.[2]).toMatch(/error="insufficient_user_authentication".*acr_values="urn:fhirgw:demo:mfa", max_age=900/);
  });

  test('prints a one-line audit summary per request', async () => {
    const res = await fetch(`${demo.base}/Patient/pat-bruno`, { headers: { authorization: `Bearer ${curlLines()[0]?.token}` } });
    expect(res.status).toBe(403);
    const summary = await until(
      () => printed.split('\n').filter((l) => / audit 403 read Patient\/pat-bruno by Patient\/pat-alba \[patient\] deny compartment\.other-patient \(forbidden\)$/.test(l)),
      (found) => found.length >= 2, // the curl line's and this one
      5000,
      'the audit summary line',
    );
    expect(summary[0]).toMatch(/^\d\d:\d\d:\d\d audit /);
  });

  test('`demo token` mints a token for a role with the asked scope, purpose, reason and login', async () => {
    let token = '';
    const out = new PassThrough();
    out.on('data', (c: Buffer) => (token += c.toString('utf8')));
    const code = await runDemoToken(['--role', 'nurse', '--scope', 'user/*.cruds', '--purpose', 'BTG', '--reason', 'code blue', '--acr', 'password', '--issuer', demo.issuer], out);
    expect(code).toBe(0);
    expect(decodeJwt(token.trim())).toMatchObject({ iss: demo.issuer, aud: demo.base, roles: ['nurse'], scope: 'user/*.cruds', purpose_of_use: ['BTG'], break_glass_reason: 'code blue', acr: DEMO_ACR.password, amr: ['pwd'] });
    const res = await fetch(`${demo.base}/Observation/obs-hiv-demo`, { headers: { authorization: `Bearer ${token.trim()}` } });
    expect(res.status).toBe(401);

    const err = new PassThrough();
    let errors = '';
    err.on('data', (c: Buffer) => (errors += c.toString('utf8')));
    expect(await runDemoToken(['--role', 'surgeon'], new PassThrough(), err)).toBe(2);
    expect(errors).toMatch(/--role must be one of patient, clinician, nurse, billing/);
  });

  test("the authorization server's discovery documents are consistent, and the gateway's smart-configuration points at it", async () => {
    const oidc = (await (await fetch(`${demo.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const smart = (await (await fetch(`${demo.base}/.well-known/smart-configuration`)).json()) as Record<string, unknown>;
    expect(oidc['issuer']).toBe(demo.issuer);
    expect(smart).toMatchObject({ issuer: demo.issuer, authorization_endpoint: oidc['authorization_endpoint'], token_endpoint: oidc['token_endpoint'], jwks_uri: oidc['jwks_uri'] });
    expect(smart['capabilities']).toEqual(expect.arrayContaining(['launch-standalone', 'launch-ehr', 'context-standalone-patient', 'client-confidential-asymmetric']));
    // Each endpoint answers (an authorization request without parameters is a 400, a token request without a grant too).
    expect((await fetch(oidc['jwks_uri'] as string)).status).toBe(200);
    expect((await fetch(oidc['authorization_endpoint'] as string, { redirect: 'manual' })).status).toBe(400);
    expect((await fetch(oidc['token_endpoint'] as string, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=authorization_code' })).status).toBe(400);
  });
});

async function signIn(page: Page, user: string, secondFactor: boolean): Promise<void> {
  await page.waitForSelector('#sign-in');
  await page.selectOption('#user', user);
  if (secondFactor) await page.check('#otp');
  await page.click('#sign-in');
}

async function resultOf(page: Page): Promise<Record<string, any>> {
  await page.waitForFunction(() => (document.getElementById('result')?.textContent ?? '') !== '', undefined, { timeout: 20_000 });
  return JSON.parse((await page.textContent('#result')) as string) as Record<string, any>;
}

describe('a browser SMART app (fhirclient in Chromium) against the demo', () => {
  test('standalone launch as the patient: authorize, sign in, token with her patient context, her data, a refresh token', async () => {
    const page = await browser.newPage();
    const scope = 'launch/patient openid fhirUser patient/*.rs online_access';
    await page.goto(`${app.origin}/standalone?iss=${encodeURIComponent(demo.base)}&scope=${encodeURIComponent(scope)}`);
    await signIn(page, 'alba', false);
    const result = await resultOf(page);
    expect(result['error']).toBeUndefined();
    expect(result).toMatchObject({ patient: 'pat-alba', family: 'Quintero-Zeta', tokenPatient: 'pat-alba', again: 'pat-alba' });
    expect(new Set(result['observations'])).toEqual(new Set(['Patient/pat-alba']));
    expect(decodeJwt(result['accessToken'])).toMatchObject({ iss: demo.issuer, aud: demo.base, patient: 'pat-alba', acr: DEMO_ACR.password, amr: ['pwd'] });
    expect(typeof result['refreshed']).toBe('string');
    expect(result['refreshed']).not.toBe(result['accessToken']);
    await page.close();
  }, 60_000);

  test('standalone launch as a clinician: the patient picker sets the context, and the MFA login is in the token', async () => {
    const page = await browser.newPage();
    const scope = 'launch/patient openid fhirUser patient/*.rs';
    await page.goto(`${app.origin}/standalone?iss=${encodeURIComponent(demo.base)}&scope=${encodeURIComponent(scope)}`);
    await signIn(page, 'hollis', true);
    await page.waitForSelector('#choose');
    await page.check('input[value="pat-bruno"]');
    await page.click('#choose');
    const result = await resultOf(page);
    expect(result).toMatchObject({ patient: 'pat-bruno', tokenPatient: 'pat-bruno', refreshed: null, again: null });
    expect(new Set(result['observations'])).toEqual(new Set(['Patient/pat-bruno']));
    expect(decodeJwt(result['accessToken'])).toMatchObject({ roles: ['clinician'], acr: DEMO_ACR.mfa, amr: ['pwd', 'otp'], auth_time: expect.any(Number) });
    await page.close();
  }, 60_000);

  test('EHR launch: the launch id carries the patient the EHR had open', async () => {
    const page = await browser.newPage();
    await page.goto(`${demo.issuer}/ehr-launch?launch_uri=${encodeURIComponent(`${app.origin}/launch`)}&patient=pat-chen`);
    await signIn(page, 'nurse', true);
    const result = await resultOf(page);
    expect(result).toMatchObject({ patient: 'pat-chen', tokenPatient: 'pat-chen' });
    await page.close();
  }, 60_000);
});
