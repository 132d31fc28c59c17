/**
 * Console sessions (a fixed clock instead of waiting), its configuration, and the cookie flags
 * outside loopback (the console app on an https public URL, its IdP described, not contacted).
 */
import { describe, expect, test } from '@jest/globals';
import * as oidc from 'openid-client';
import request from 'supertest';
import { buildConfig, ConfigError } from '../../src/config/load.js';
import { CONSOLE_CSP, createConsoleApp } from '../../src/console/app.js';
import { csrfMatches, SessionStore, type ConsoleUser } from '../../src/console/session.js';
import { shadowRoutes } from '../../src/console/shadow.js';
import { createLogger } from '../../src/observability/logger.js';

const minimal = { publicBaseUrl: 'https://fhir.example.org/fhir', upstream: { url: 'http://hapi:8080/fhir' }, auth: { issuer: 'https://idp.example.org' } };
const user: ConsoleUser = { iss: 'https://idp.example.org', sub: 'po-1', client: 'fhir-console', name: 'P', roles: ['privacy-officer'], tokenRoles: ['privacy-officer'] };

describe('console sessions', () => {
  test('a session expires at its TTL from login, whatever its use', () => {
    let now = 1_000_000;
    const store = new SessionStore(60_000, () => now);
    const s = store.create(user, undefined);
    now += 59_999;
    expect(store.get(s.id)).toBe(s);
    now += 1;
    expect(store.get(s.id)).toBeNull();
  });

  test('login ends the session the browser presented and makes a new id and CSRF token', () => {
    const store = new SessionStore(60_000);
    const first = store.create(user, undefined);
    const second = store.create(user, first.id);
    expect(second.id).not.toBe(first.id);
    expect(second.csrf).not.toBe(first.csrf);
    expect(store.get(first.id)).toBeNull();
    expect(csrfMatches(second, second.csrf)).toBe(true);
    expect(csrfMatches(second, first.csrf)).toBe(false);
    expect(csrfMatches(second, undefined)).toBe(false);
  });

  test('a pending login is taken once, and not after ten minutes', () => {
    let now = 0;
    const store = new SessionStore(60_000, () => now);
    const id = store.startLogin({ verifier: 'v', state: 's', nonce: 'n' });
    expect(store.takeLogin(id)).toMatchObject({ verifier: 'v' });
    expect(store.takeLogin(id)).toBeNull();
    const late = store.startLogin({ verifier: 'v', state: 's', nonce: 'n' });
    now += 10 * 60 * 1000;
    expect(store.takeLogin(late)).toBeNull();
  });
});

describe('console configuration', () => {
  test('off by default', () => {
    expect(buildConfig(minimal, { env: {} }).console).toBeUndefined();
  });

  test('on with a section: defaults for host, port and session length', () => {
    const c = buildConfig({ ...minimal, console: { oidc: { issuer: 'https://idp.example.org', clientId: 'fhir-console' } } }, { env: {} }).console!;
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8081, sessionTtlSeconds: 28800, oidc: { scope: 'openid' } });
  });

  test('outside loopback the console must be https', () => {
    const doc = { ...minimal, console: { host: '0.0.0.0', publicUrl: 'http://console.hospital.example', oidc: { issuer: 'https://idp.example.org', clientId: 'c' } } };
    let err: unknown;
    try {
      buildConfig(doc, { env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe('console.publicUrl');
    expect(() => buildConfig({ ...doc, console: { ...doc.console, publicUrl: 'https://console.hospital.example' } }, { env: {} })).not.toThrow();
  });
});

describe('cookies outside loopback', () => {
  test('the login cookie is Secure (with HttpOnly, SameSite=Lax, scoped to /callback) and the redirect names the https callback', async () => {
    const server = new oidc.Configuration({ issuer: 'https://idp.example.org', authorization_endpoint: 'https://idp.example.org/auth', token_endpoint: 'https://idp.example.org/token' }, 'fhir-console');
    const app = createConsoleApp({
      publicUrl: 'https://console.hospital.example',
      oidc: server,
      scope: 'openid',
      claims: { roles: 'roles', purposeOfUse: 'purpose_of_use', patient: 'patient', encounter: 'encounter', fhirUser: 'fhirUser', scope: 'scope', clientId: 'client_id', tenant: 'tenant', organization: 'organization', breakGlassReason: 'break_glass_reason' },
      sessions: new SessionStore(60_000),
      sessionTtlSeconds: 60,
      routes: [],
      // Not called on /login: nothing is recorded before a user is known.
      audit: { admit: () => {}, record: async () => {}, append: async () => {}, close: async () => {} },
      policyRevision: () => 'r',
      logger: createLogger('silent'),
      assetsDir: null,
    });
    const res = await request(app).get('/login');
    expect(res.status).toBe(303);
    expect(res.headers['location']).toMatch(/^https:\/\/idp\.example\.org\/auth\?/);
    expect(new URL(res.headers['location']!).searchParams.get('redirect_uri')).toBe('https://console.hospital.example/callback');
    expect(res.headers['set-cookie']![0]).toMatch(/^fhirgw_console_login=[A-Za-z0-9_-]{43}; Path=\/callback; Max-Age=600; HttpOnly; SameSite=Lax; Secure$/);
    expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
  });
});

describe('ship in shadow mode', () => {
  const ship = (target: { bundleFile: string | null; signingRequired: boolean }) => {
    const routes = shadowRoutes(target, createLogger('silent'));
    const route = (p: string) => routes.find((r) => r.path === p)!;
    const ctx = { session: {} as never, req: { body: { candidate: { files: {} } } } as never };
    return { status: () => route('/impact/shadow').handle(ctx, {}), ship: () => route('/impact/ship').handle(ctx, {}) };
  };

  test('without policy.shadow.bundle the page is told why and shipping is 409 console_shadow_unavailable', async () => {
    const s = ship({ bundleFile: null, signingRequired: false });
    expect((await s.status()).body).toEqual({ available: false, reason: expect.stringContaining('policy.shadow.bundle'), bundle: null });
    await expect(s.ship()).rejects.toMatchObject({ code: 'console_shadow_unavailable', status: 409, parameter: expect.stringContaining('policy.shadow.bundle') });
  });

  test('where bundles must be signed the console does not ship (it cannot sign)', async () => {
    const s = ship({ bundleFile: '/srv/policy/shadow.tar.gz', signingRequired: true });
    expect((await s.status()).body).toEqual({ available: false, reason: expect.stringContaining('signed'), bundle: 'shadow.tar.gz' });
    await expect(s.ship()).rejects.toMatchObject({ code: 'console_shadow_unavailable', status: 409 });
  });
});
