/**
 * RFC 7662 introspection: how the gateway asks (client authentication), what it trusts in the
 * answer, and how long it reuses it. The endpoint is a real HTTP server on loopback answering
 * what each test sets; the clock is injected.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createIntrospector, type IntrospectionOptions } from '../../src/auth/introspection.js';
import { createMemoryStateStore } from '../../src/auth/state-store.js';

const NOW = 1_800_000_000;
let endpoint: string;
let answer: { status: number; body: unknown };
const seen: Array<{ authorization: string | undefined; form: URLSearchParams }> = [];
let server: http.Server;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ authorization: req.headers.authorization, form: new URLSearchParams(body) });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

const clock = { t: NOW * 1000 };
const introspector = (over: Partial<IntrospectionOptions> = {}) =>
  createIntrospector({
    issuer: 'https://as.example',
    audience: ['https://fhir.example/fhir'],
    endpoint,
    clientId: 'gate way',
    clientSecret: 's:e/c r+et',
    authMethod: 'client_secret_basic',
    cacheSeconds: 300,
    inactiveCacheSeconds: 60,
    timeoutMs: 2000,
    clockToleranceSeconds: 30,
    cache: createMemoryStateStore({ maxEntries: 100, whenFull: 'evict-oldest', now: () => clock.t }),
    now: () => clock.t,
    ...over,
  });
const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code: string; reasons: string[] }) => `${e.code}:${e.reasons.join(',')}`);
const active = (over: Record<string, unknown> = {}) => ({ status: 200, body: { active: true, scope: 'system/*.rs', client_id: 'backend', exp: NOW + 120, ...over } });

describe('token introspection', () => {
  test('authenticates with client_secret_basic, form-encoding id and secret first (RFC 6749 2.3.1)', async () => {
    answer = active();
    seen.length = 0;
    await introspector().verify('tok-1');
    expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from('gate+way:s%3Ae%2Fc+r%2Bet').toString('base64')}`);
    expect(seen[0]!.form.get('token')).toBe('tok-1');
    expect(seen[0]!.form.get('token_type_hint')).toBe('access_token');
  });

  test('client_secret_post sends the credentials in the form instead', async () => {
    answer = active();
    seen.length = 0;
    await introspector({ authMethod: 'client_secret_post' }).verify('tok-2');
    expect(seen[0]!.authorization).toBeUndefined();
    expect(seen[0]!.form.get('client_id')).toBe('gate way');
    expect(seen[0]!.form.get('client_secret')).toBe('s:e/c r+et');
  });

  test.each([
    ['inactive', { status: 200, body: { active: false } }, 'token_invalid:token.inactive'],
    ['expired', active({ exp: NOW - 31 }), 'token_expired:token.expired'],
    ['another issuer', active({ iss: 'https://evil.example' }), 'token_invalid:token.claim.iss'],
    ['another audience', active({ aud: ['https://other.example/fhir'] }), 'token_invalid:token.claim.aud'],
    ['not yet valid', active({ nbf: NOW + 60 }), 'token_invalid:token.claim.nbf'],
    ['the endpoint failing', { status: 500, body: { error: 'x' } }, 'auth_unavailable:token.introspection-unavailable'],
    ['the endpoint refusing the gateway', { status: 401, body: { error: 'invalid_client' } }, 'auth_unavailable:token.introspection-unavailable'],
    ['an answer without active', { status: 200, body: { scope: 'x' } }, 'auth_unavailable:token.introspection-unavailable'],
    ['an active answer naming this issuer and audience', active({ iss: 'https://as.example', aud: 'https://fhir.example/fhir' }), 'ok'],
  ])('%s', async (_name, a, expected) => {
    answer = a;
    expect(await outcome(introspector().verify(`tok-${Math.random()}`))).toBe(expected);
  });

  test('an active answer is reused until the token expires, never longer than cacheSeconds', async () => {
    const intro = introspector();
    answer = active({ exp: NOW + 120 });
    seen.length = 0;
    await intro.verify('cached');
    await intro.verify('cached');
    expect(seen).toHaveLength(1);
    clock.t = (NOW + 121) * 1000; // past exp: the cache entry is gone and the answer is asked for again
    answer = active({ exp: NOW + 600 });
    await intro.verify('cached');
    expect(seen).toHaveLength(2);
    clock.t = NOW * 1000;
  });

  test('an inactive answer is reused for inactiveCacheSeconds, so a flood of bad tokens is not a flood of calls', async () => {
    const intro = introspector();
    answer = { status: 200, body: { active: false } };
    seen.length = 0;
    for (let i = 0; i < 5; i++) expect(await outcome(intro.verify('bad'))).toBe('token_invalid:token.inactive');
    expect(seen).toHaveLength(1);
  });

  test('a failing cache is skipped, not fatal', async () => {
    const broken = { claimOnce: async () => true, put: async () => Promise.reject(new Error('down')), getMany: async () => Promise.reject(new Error('down')) };
    answer = active();
    const events: string[] = [];
    expect(await outcome(introspector({ cache: broken, onCache: (r) => events.push(r) }).verify('t'))).toBe('ok');
    expect(events).toEqual(['error', 'error']);
  });
});
