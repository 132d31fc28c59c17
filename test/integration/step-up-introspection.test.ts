/**
 * Assurance from an introspected opaque token: the demo authorization server (oidc-provider)
 * issues opaque tokens after a real login in Chromium (authorization code flow with PKCE), the
 * gateway verifies them by RFC 7662 introspection, and the login's acr/amr/auth_time reach policy
 * exactly as they would from a JWT: a multi-factor privacy officer reads an HIV result, a
 * password-only one gets the 404 of a missing resource, and a search for HIV data is challenged.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { DEMO_ACR, startAuthorizationServer, type DemoAuthorizationServer } from '../../src/devkit/authorization-server.js';
import { freePort } from '../../src/devkit/ports.js';
import { launchBrowser, startPageServer, type PageServer } from '../support/browser.js';
import { auditRecordOf, jsonOf, startStack, type Stack } from '../support/stack.js';

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
let as: DemoAuthorizationServer;
let stack: Stack;
let browser: Browser;
let app: PageServer;

beforeAll(async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/fhir`;
  as = await startAuthorizationServer({
    fhirBase: base, accessTokenFormat: 'opaque', patients: [{ id: 'pat-alba', display: 'Alba' }],
    users: [{ id: 'privacy', display: 'Privacy officer', roles: ['privacy-officer'], purposeOfUse: [], fhirUser: 'Practitioner/prac-privacy' }],
  });
  stack = await startStack({
    port,
    env: { AS_INTROSPECTION_SECRET: as.introspectionSecret },
    config: (d) => ({
      ...d,
      auth: {
        issuer: as.issuer,
        introspection: { endpoint: `${as.issuer}/token/introspection`, clientId: 'fhir-gateway', clientSecretEnv: 'AS_INTROSPECTION_SECRET' },
        assurance: { acr: { [DEMO_ACR.password]: 1, [DEMO_ACR.mfa]: 2 }, challenge: { '2': DEMO_ACR.mfa } },
      },
    }),
  });
  await stack.fhir.repo.updateResource({
    resourceType: 'Observation', id: 'obs-hiv-label', status: 'final', meta: { security: [{ system: ACT_CODE, code: 'HIV' }] },
    code: { text: 'Viral load' }, subject: { reference: 'Patient/pat-alba' },
  });
  app = await startPageServer({ '/cb': '<!doctype html><p>signed in</p>' });
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await stack?.close();
  await as?.close();
});

/** A real login in the browser (the demo's sign-in page), then the code exchanged with its PKCE verifier. */
async function loginToken(secondFactor: boolean): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = `${app.origin}/cb`;
  const authorize = new URL(`${as.issuer}/auth`);
  for (const [k, v] of Object.entries({ client_id: 'demo-app', response_type: 'code', redirect_uri: redirectUri, scope: 'openid user/*.rs', code_challenge: challenge, code_challenge_method: 'S256', aud: stack.base, state: 's1' })) {
    authorize.searchParams.set(k, v);
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(authorize.toString());
  await page.selectOption('#user', 'privacy');
  if (secondFactor) await page.check('#otp');
  await page.click('#sign-in');
  await page.waitForURL((url) => url.toString().startsWith(redirectUri));
  const code = new URL(page.url()).searchParams.get('code') as string;
  await context.close();
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: 'demo-app' }),
  });
  const body = (await res.json()) as { access_token: string };
  expect(res.status).toBe(200);
  return body.access_token;
}

describe('an introspected opaque token carries the login assurance', () => {
  test('after an MFA login the privacy officer reads the HIV result, and the audit record has the assurance', async () => {
    const token = await loginToken(true);
    expect(token.split('.')).toHaveLength(1); // opaque
    const res = await stack.fetch('Observation/obs-hiv-label', { token });
    expect(res.status).toBe(200);
    const record = await auditRecordOf(stack, res.headers.get('x-request-id') ?? '');
    expect(record.principal?.assurance).toEqual({ level: 2, methods: ['pwd', 'otp'], authenticatedAt: expect.any(String) });
    expect(Math.abs(Date.parse(record.principal?.assurance?.authenticatedAt ?? '') - Date.now())).toBeLessThan(10 * 60_000);
  }, 60_000);

  test('after a password-only login: the read is the 404 of a missing resource, the HIV search a step-up challenge', async () => {
    const token = await loginToken(false);
    const withheld = await stack.fetch('Observation/obs-hiv-label', { token });
    expect(withheld.status).toBe(404);
    expect(withheld.headers.get('www-authenticate')).toBeNull();
    const search = await stack.fetch(`Observation?_security=${ACT_CODE}|HIV`, { token });
    expect(search.status).toBe(401);
    expect(search.headers.get('www-authenticate')).toBe(
      `Bearer realm="${stack.base}", error="insufficient_user_authentication", error_description="A stronger or more recent authentication is required", acr_values="${DEMO_ACR.mfa}"`,
    );
    expect((await jsonOf(search)).issue[0].details.coding[0].code).toBe('insufficient_user_authentication');
  }, 60_000);
});
