/**
 * The attack battery: one test per forged-token class of issue 3. Every forged token gets 401 and
 * an OperationOutcome, and not one request reaches the upstream FHIR server (the devkit server
 * records every request it receives). Real ES256/RS256 keys, a real JWKS on loopback, a real
 * redis-server holding the revocation list and the DPoP replay cache.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { newSigningKey } from '../../src/devkit/token-issuer.js';
import { dpopProof, newDpopKey } from '../support/dpop.js';
import { signRaw, unsigned } from '../support/jws.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';
import { scrape, type Sample } from '../support/metrics.js';
import { reasonLabel } from '../../src/observability/labels.js';

const [alba, bruno] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];
const ADMIN_TOKEN = 'admin-credential-for-tests-0123456789abcdef';

let stack: Stack;
let tokens: ReturnType<typeof tokensFor>;
let redis: RedisServer;
/** An attacker-controlled server: it serves the attacker's JWKS and counts every request it gets. */
let attacker: { url: string; hits: number; jwks: unknown; close(): Promise<void> };

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({
    config: (d) => ({ ...d, auth: { issuer: (d.auth as { issuer: string }).issuer, typ: 'at+jwt' }, redis: { url: redis.url, keyPrefix: 'attacks:' } }),
    env: { FHIRGW_ADMIN_TOKEN: ADMIN_TOKEN },
  });
  tokens = tokensFor(stack.issuer);
  attacker = await startAttackerServer();
});
afterAll(async () => {
  await stack.close();
  await attacker.close();
  await redis.stop();
});

const upstreamCount = () => stack.fhir.requests.length;
const reasonCodes = (body: { issue?: Array<{ details?: { coding?: Array<{ code?: string }> } }> }) =>
  (body.issue?.[0]?.details?.coding ?? []).map((c) => c.code);
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({ iss: stack.issuer.issuer, aud: stack.base, sub: 'mallory', scope: 'user/*.rs', iat: now(), exp: now() + 600, jti: `j-${Math.random()}`, ...over });

const rejections = async (): Promise<Sample[]> => (await scrape(new URL(stack.base).origin)).filter((x) => x.name === 'fhirgw_token_rejections_total');
/** How much each reason's rejection counter grew between two scrapes (reasons that did not grow left out). */
const grown = (before: Sample[], after: Sample[]): Record<string, number> =>
  Object.fromEntries(after.map((a) => [a.labels['reason']!, a.value - (before.find((b) => b.labels['reason'] === a.labels['reason'])?.value ?? 0)] as const).filter(([, d]) => d > 0));

/**
 * 401 with the given error and reason codes, an OperationOutcome without patient data, nothing
 * forwarded, and the refusal counted once, under its reason.
 */
async function expectRefused(headers: Record<string, string>, codes: string[], challenge = /^Bearer realm="[^"]+", error="invalid_token"$/) {
  const before = upstreamCount();
  const counted = await rejections();
  const res = await stack.fetch(`Patient/${alba.id}`, { headers });
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(challenge);
  const text = await res.text();
  const body = JSON.parse(text);
  expect(body.resourceType).toBe('OperationOutcome');
  expect(reasonCodes(body)).toEqual(codes);
  expect(text).not.toContain(alba.family);
  expect(upstreamCount()).toBe(before);
  expect(grown(counted, await rejections())).toEqual({ [reasonLabel(codes[1]!)]: 1 });
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('forged, stale and misdirected tokens (first battery, from the walking skeleton)', () => {
  const expectRefusedAndNotForwarded = async (authorization: string | undefined, challenge: RegExp) => {
    const before = upstreamCount();
    const res = await stack.fetch(`Patient/${alba.id}`, authorization ? { headers: { authorization } } : {});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(challenge);
    const body = await jsonOf(res);
    expect(body.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(body)).not.toContain(alba.family);
    expect(upstreamCount()).toBe(before);
  };
  const invalid = /^Bearer realm="[^"]+", error="invalid_token"$/;

  test('no token: 401 with a Bearer challenge and no error code (RFC 6750 3.1)', async () => {
    await expectRefusedAndNotForwarded(undefined, /^Bearer realm="[^"]+"$/);
  });

  test('expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], iat: now - 7200, exp: now - 3600 });
    await expectRefusedAndNotForwarded(`Bearer ${token}`, invalid);
  });

  test('not yet valid token (nbf in the future)', async () => {
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], nbf: Math.floor(Date.now() / 1000) + 3600 });
    await expectRefusedAndNotForwarded(`Bearer ${token}`, invalid);
  });

  test('wrong audience', async () => {
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], aud: 'https://other.example/fhir' });
    await expectRefusedAndNotForwarded(`Bearer ${token}`, invalid);
  });

  test('wrong issuer', async () => {
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], iss: 'https://evil.example' });
    await expectRefusedAndNotForwarded(`Bearer ${token}`, invalid);
  });

  test('signed by a key the issuer never published', async () => {
    const foreign = await newSigningKey('ES256');
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'] }, { key: { ...foreign, kid: stack.issuer.keys[0]!.kid } });
    await expectRefusedAndNotForwarded(`Bearer ${token}`, invalid);
  });

  test('alg none', async () => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const token = `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: stack.issuer.issuer, aud: stack.base, sub: 'x', scope: 'user/*.rs', exp: now + 600 })}.`;
    await expectRefusedAndNotForwarded(`Bearer ${token}`, invalid);
  });

  test('HS256 keyed with the public key (algorithm confusion)', async () => {
    const jwk = stack.issuer.keys[0]!.publicJwk;
    const token = await new SignJWT({ sub: 'x', scope: 'user/*.rs' })
      .setProtectedHeader({ alg: 'HS256', kid: jwk.kid })
      .setIssuer(stack.issuer.issuer)
      .setAudience(stack.base)
      .setExpirationTime('10m')
      .sign(Buffer.from(JSON.stringify(jwk)));
    await expectRefusedAndNotForwarded(`Bearer ${token}`, invalid);
  });

  test('tampered payload', async () => {
    const token = await tokens.patient(alba.id);
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.patient = bruno.id;
    await expectRefusedAndNotForwarded(`Bearer ${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, invalid);
  });

  test('garbage and oversized tokens', async () => {
    await expectRefusedAndNotForwarded('Bearer not-a-jwt', invalid);
    await expectRefusedAndNotForwarded(`Bearer ${'a'.repeat(20000)}`, invalid);
  });

  test('the scheme name is case-insensitive', async () => {
    const res = await stack.fetch(`Patient/${alba.id}`, { headers: { authorization: `bEaReR ${await tokens.patient(alba.id)}` } });
    expect(res.status).toBe(200);
  });

  test('a token in the query string is refused, not read', async () => {
    const before = upstreamCount();
    const res = await stack.fetch(`Patient?access_token=${await tokens.clinician()}`);
    expect(res.status).toBe(400);
    expect(upstreamCount()).toBe(before);
  });

  test('insufficient scope: 403 with the scope the request needs', async () => {
    const res = await stack.fetch('Condition', { token: await tokens.clinician('user/Observation.rs') });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${stack.base}", error="insufficient_scope", scope="user/Condition.s"`);
  });
});


describe('the attack battery', () => {
  test('alg none', async () => {
    await expectRefused(bearer(unsigned({ alg: 'none', typ: 'at+jwt' }, claims())), ['token_invalid', 'token.algorithm']);
  });

  test('HS256 keyed with the issuer public key (algorithm confusion)', async () => {
    const jwk = stack.issuer.keys[0]!.publicJwk;
    for (const secret of [Buffer.from(JSON.stringify(jwk)), Buffer.from(jwk.x as string, 'base64url')]) {
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: jwk.kid, typ: 'at+jwt' }).sign(secret);
      await expectRefused(bearer(token), ['token_invalid', 'token.algorithm']);
    }
  });

  test('key confusion: an RS256 token naming the kid of the issuer EC key', async () => {
    const rsa = await newSigningKey('RS256');
    const token = await signRaw({ alg: 'RS256', kid: stack.issuer.keys[0]!.kid, typ: 'at+jwt' }, claims(), rsa);
    await expectRefused(bearer(token), ['token_invalid', 'token.unknown-key']);
  });

  test('stripped signature', async () => {
    const [h, p] = (await tokens.clinician()).split('.') as [string, string];
    await expectRefused(bearer(`${h}.${p}.`), ['token_invalid', 'token.signature']);
  });

  test('altered signature', async () => {
    const [h, p, s] = (await tokens.clinician()).split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[10] = (sig[10] as number) ^ 0xff;
    await expectRefused(bearer(`${h}.${p}.${sig.toString('base64url')}`), ['token_invalid', 'token.signature']);
  });

  test('a foreign key with a known kid', async () => {
    const foreign = await newSigningKey('ES256');
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'] }, { key: { ...foreign, kid: stack.issuer.keys[0]!.kid } });
    await expectRefused(bearer(token), ['token_invalid', 'token.signature']);
  });

  test.each(['jku', 'x5u'])('%s injection: the attacker URL is never fetched', async (param) => {
    const key = await newSigningKey('ES256');
    attacker.jwks = { keys: [key.publicJwk] };
    const hitsBefore = attacker.hits;
    const token = await signRaw({ alg: 'ES256', kid: key.kid, typ: 'at+jwt', [param]: `${attacker.url}/jwks` }, claims(), key);
    await expectRefused(bearer(token), ['token_invalid', 'token.header-key']);
    expect(attacker.hits).toBe(hitsBefore);
  });

  test('jwk injection: a key embedded in the header is not trusted', async () => {
    const key = await newSigningKey('ES256');
    const token = await signRaw({ alg: 'ES256', typ: 'at+jwt', jwk: key.publicJwk }, claims(), key);
    await expectRefused(bearer(token), ['token_invalid', 'token.header-key']);
  });

  test('an unknown crit header parameter', async () => {
    const key = stack.issuer.keys[0]!;
    const token = await signRaw({ alg: 'ES256', kid: key.kid, typ: 'at+jwt', crit: ['urn:x-policy'], 'urn:x-policy': true }, claims(), key);
    await expectRefused(bearer(token), ['token_invalid', 'token.malformed']);
  });

  test('expired, not yet valid, issued in the future', async () => {
    await expectRefused(bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], iat: now() - 7200, exp: now() - 3600 })), ['token_expired', 'token.expired']);
    await expectRefused(bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], nbf: now() + 3600 })), ['token_invalid', 'token.claim.nbf']);
    await expectRefused(bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], iat: now() + 3600 })), ['token_invalid', 'token.claim.iat']);
  });

  test('wrong issuer (signed by the real key), wrong audience, audience array without this gateway', async () => {
    await expectRefused(bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], iss: 'https://evil.example' })), ['token_invalid', 'token.claim.iss']);
    await expectRefused(bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], aud: 'https://other.example/fhir' })), ['token_invalid', 'token.claim.aud']);
    await expectRefused(bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], aud: ['https://a.example', `${stack.base}/`] })), ['token_invalid', 'token.claim.aud']);
  });

  test('a token of another type signed by the same IdP (typ JWT where at+jwt is required)', async () => {
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'] }, { header: { typ: 'JWT' } });
    await expectRefused(bearer(token), ['token_invalid', 'token.claim.typ']);
  });

  test('oversized token', async () => {
    const big = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], padding: 'x'.repeat(17000) });
    await expectRefused(bearer(big), ['token_invalid', 'token.too-large']);
  });

  test('a revoked jti, and every token of a subject revoked everywhere', async () => {
    const jti = `revoke-me-${Date.now()}`;
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], jti });
    expect((await stack.fetch(`Patient/${alba.id}`, { token })).status).toBe(200);
    expect((await revoke({ jti })).status).toBe(201);
    await expectRefused(bearer(token), ['token_revoked', 'token.revoked']);

    const other = await stack.issuer.mint({ sub: 'Practitioner/logged-out', scope: 'user/*.rs', roles: ['clinician'] });
    expect((await stack.fetch(`Patient/${alba.id}`, { token: other })).status).toBe(200);
    expect((await revoke({ sub: 'Practitioner/logged-out' })).status).toBe(201);
    await expectRefused(bearer(other), ['token_revoked', 'token.subject-revoked']);
  });

  test('a replayed DPoP proof', async () => {
    const key = await newDpopKey();
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], cnf: { jkt: key.thumbprint } });
    const url = `${stack.base}/Patient/${alba.id}`;
    const proof = await dpopProof(key, { method: 'GET', url, accessToken: token });
    const headers = { authorization: `DPoP ${token}`, dpop: proof };
    expect((await stack.fetch(`Patient/${alba.id}`, { headers })).status).toBe(200);
    await expectRefused(headers, ['dpop_proof_invalid', 'dpop.replay'], /^DPoP realm="[^"]+", error="invalid_dpop_proof"$/);
  });

  test('a DPoP-bound token presented as a Bearer token', async () => {
    const key = await newDpopKey();
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], cnf: { jkt: key.thumbprint } });
    await expectRefused(bearer(token), ['token_invalid', 'token.dpop-bound'], /^DPoP realm="[^"]+", error="invalid_token"$/);
  });

  test('a DPoP-bound token with a proof made by another key, or for another URL', async () => {
    const key = await newDpopKey();
    const thief = await newDpopKey();
    const token = await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', roles: ['clinician'], cnf: { jkt: key.thumbprint } });
    const url = `${stack.base}/Patient/${alba.id}`;
    await expectRefused({ authorization: `DPoP ${token}`, dpop: await dpopProof(thief, { method: 'GET', url, accessToken: token }) }, ['token_invalid', 'token.dpop-key-mismatch'], /^DPoP /);
    await expectRefused({ authorization: `DPoP ${token}`, dpop: await dpopProof(key, { method: 'GET', url: `${stack.base}/Patient/${bruno.id}`, accessToken: token }) }, ['dpop_proof_invalid', 'dpop.htu'], /^DPoP /);
  });

  test('a token of an issuer that is not configured, with a valid signature from its own keys', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    attacker.jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'evil' }] };
    const token = await new SignJWT(claims({ iss: attacker.url })).setProtectedHeader({ alg: 'ES256', kid: 'evil', typ: 'at+jwt' }).sign(privateKey);
    const hitsBefore = attacker.hits;
    await expectRefused(bearer(token), ['token_invalid', 'token.claim.iss']);
    expect(attacker.hits).toBe(hitsBefore);
  });

  test('each refusal is counted once, under its own reason, whatever ran before', async () => {
    const [h, p] = (await tokens.clinician()).split('.') as [string, string];
    const dpopKey = await newDpopKey();
    const headerKey = await newSigningKey('ES256');
    const cases: Array<[reason: string, headers: Record<string, string>]> = [
      ['token.missing', {}],
      ['token.malformed', bearer('not-a-jwt')],
      ['token.algorithm', bearer(unsigned({ alg: 'none', typ: 'at+jwt' }, claims()))],
      ['token.signature', bearer(`${h}.${p}.`)],
      ['token.header-key', bearer(await signRaw({ alg: 'ES256', typ: 'at+jwt', jwk: headerKey.publicJwk }, claims(), headerKey))],
      ['token.claim.aud', bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', aud: 'https://other.example/fhir' }))],
      ['token.expired', bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', iat: now() - 7200, exp: now() - 3600 }))],
      ['token.dpop-bound', bearer(await stack.issuer.mint({ sub: 'x', scope: 'user/*.rs', cnf: { jkt: dpopKey.thumbprint } }))],
    ];
    for (const [reason, headers] of cases) {
      const before = await rejections();
      expect((await stack.fetch(`Patient/${alba.id}`, { headers })).status).toBe(401);
      expect({ reason, grown: grown(before, await rejections()) }).toEqual({ reason, grown: { [reason]: 1 } });
    }
  });
});

describe('the revocation admin endpoint', () => {
  test('needs its own credential: an access token or a wrong credential is refused', async () => {
    const origin = new URL(stack.base).origin;
    const post = (authorization: string | undefined) =>
      fetch(`${origin}/admin/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: JSON.stringify({ jti: 'x' }) });
    expect((await post(undefined)).status).toBe(401);
    expect((await post(`Bearer ${ADMIN_TOKEN}x`)).status).toBe(401);
    expect((await post(`Bearer ${await tokens.clinician()}`)).status).toBe(401);
    const bad = await fetch(`${origin}/admin/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ jti: 'a', sub: 'b' }) });
    expect(bad.status).toBe(400);
    expect(reasonCodes(await jsonOf(bad))).toEqual(['admin_invalid_request', 'admin.jti-or-sub']);
  });
});

function revoke(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${new URL(stack.base).origin}/admin/revocations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify(body),
  });
}

async function startAttackerServer(): Promise<typeof attacker> {
  const state = { url: '', hits: 0, jwks: { keys: [] } as unknown, close: async () => {} };
  const server = http.createServer((_req, res) => {
    state.hits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(state.jwks));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((r) => server.close(() => r()));
  return state;
}

describe('tokens outside the Authorization header', () => {
  test.each([
    ['a search', (t: string) => `Patient?access_token=${t}`, ['invalid_search_parameter', 'param.unknown']],
    ['a read', (t: string) => `Patient/${alba.id}?access_token=${t}`, ['invalid_search_parameter', 'param.not-allowed-here']],
    ['an operation', (t: string) => `Patient/${alba.id}/$everything?access_token=${t}`, ['invalid_request', 'param.access-token']],
  ])('an access_token query parameter on %s is refused (400), not read, not forwarded', async (_name, pathOf, codes) => {
    const before = upstreamCount();
    const res = await stack.fetch(pathOf(await tokens.clinician()));
    expect(res.status).toBe(400);
    expect(reasonCodes(await jsonOf(res))).toEqual(codes);
    expect(upstreamCount()).toBe(before);
  });

  test('an access_token in a form body (POST _search) is refused, not read', async () => {
    const before = upstreamCount();
    const res = await stack.fetch('Patient/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${await tokens.clinician()}`,
    });
    expect(res.status).toBe(400);
    expect(reasonCodes(await jsonOf(res))).toEqual(['invalid_search_parameter', 'param.unknown']);
    expect(upstreamCount()).toBe(before);
  });
});
