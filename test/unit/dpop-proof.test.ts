/** DPoP proof checks (RFC 9449 4.3), each with its stable reason; frozen clock, real keys. */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { verifyDpopProof } from '../../src/auth/dpop-proof.js';
import { createMemoryStateStore, type AuthStateStore } from '../../src/auth/state-store.js';
import { dpopProof, newDpopKey, type DpopClientKey } from '../support/dpop.js';

const NOW = 1_800_000_000;
const req = { method: 'GET', url: 'https://fhir.example/fhir/Patient/1', accessToken: 'the-access-token' };
let key: DpopClientKey;
beforeAll(async () => {
  key = await newDpopKey();
});

const optionsWith = (replay: AuthStateStore = createMemoryStateStore({ maxEntries: 100, whenFull: 'refuse' })) => ({
  algorithms: ['ES256', 'RS256'],
  maxAgeSeconds: 60,
  clockToleranceSeconds: 5,
  replay,
  now: () => new Date(NOW * 1000),
});
const outcome = (proof: string | null, request = req, options = optionsWith()) =>
  verifyDpopProof(proof, request, options).then(
    (jkt) => `ok:${jkt}`,
    (e: { code?: string; reasons?: string[] }) => `${e.code}:${(e.reasons ?? []).join(',')}`,
  );
const proof = (over: Parameters<typeof dpopProof>[2] = {}, request = req) => dpopProof(key, request, { iat: NOW, ...over });

describe('DPoP proof', () => {
  test('a good proof yields the thumbprint of its key', async () => {
    expect(await outcome(await proof())).toBe(`ok:${key.thumbprint}`);
  });

  test('htu is compared without query and fragment, after normalisation', async () => {
    expect(await outcome(await proof({ claims: { htu: 'HTTPS://FHIR.example:443/fhir/Patient/1' } }), { ...req, url: 'https://fhir.example/fhir/Patient/1' })).toBe(`ok:${key.thumbprint}`);
    expect(await outcome(await proof({ claims: { htu: 'https://fhir.example/fhir/Patient/1?x=1#f' } }))).toBe(`ok:${key.thumbprint}`);
  });

  test.each([
    ['no proof', null, 'dpop.missing'],
  ])('%s', async (_n, p, reason) => {
    expect(await outcome(p)).toBe(`dpop_proof_invalid:${reason}`);
  });

  test.each([
    ['another method', { claims: { htm: 'POST' } }, 'dpop.htm'],
    ['another URL', { claims: { htu: 'https://fhir.example/fhir/Patient/2' } }, 'dpop.htu'],
    ['another host', { claims: { htu: 'https://evil.example/fhir/Patient/1' } }, 'dpop.htu'],
    ['another access token', { claims: { ath: 'x' } }, 'dpop.ath'],
    ['too old', { iat: NOW - 66 }, 'dpop.iat'],
    ['from the future', { iat: NOW + 6 }, 'dpop.iat'],
    ['wrong typ', { header: { typ: 'JWT' } }, 'dpop.typ'],
  ])('%s is refused', async (_n, over, reason) => {
    expect(await outcome(await proof(over))).toBe(`dpop_proof_invalid:${reason}`);
  });

  test('a proof whose header carries the private key is refused', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    const p = await new SignJWT({ htm: 'GET', htu: req.url, jti: 'j', ath: 'a' }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: privateJwk }).setIssuedAt(NOW).sign(privateKey);
    expect(await outcome(p)).toBe('dpop_proof_invalid:dpop.key');
  });

  test('a proof signed by another key than its header names is refused', async () => {
    const other = await newDpopKey();
    const p = await dpopProof(other, req, { iat: NOW, header: { jwk: key.publicJwk } });
    expect(await outcome(p)).toBe('dpop_proof_invalid:dpop.signature');
  });

  test('a symmetric (HMAC) proof is refused', async () => {
    const secret = new Uint8Array(32);
    const header = { alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'AAAA' } } as unknown as Parameters<SignJWT['setProtectedHeader']>[0];
    const p = await new SignJWT({ htm: 'GET', htu: req.url, jti: 'j', ath: 'a' }).setProtectedHeader(header).setIssuedAt(NOW).sign(secret);
    expect(await outcome(p)).toBe('dpop_proof_invalid:dpop.key');
  });

  test('a replayed proof is refused, also when the store is shared', async () => {
    const shared = createMemoryStateStore({ maxEntries: 100, whenFull: 'refuse' });
    const p = await proof();
    expect(await outcome(p, req, optionsWith(shared))).toBe(`ok:${key.thumbprint}`);
    expect(await outcome(p, req, optionsWith(shared))).toBe('dpop_proof_invalid:dpop.replay');
  });

  test('without a working replay store, no proof is accepted (503)', async () => {
    const broken: AuthStateStore = { claimOnce: async () => Promise.reject(new Error('down')), put: async () => {}, getMany: async () => [] };
    expect(await outcome(await proof(), req, optionsWith(broken))).toBe('auth_state_unavailable:dpop.replay-store');
  });
});
