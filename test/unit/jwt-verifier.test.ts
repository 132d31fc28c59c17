/**
 * JWT access token checks for one issuer, with a frozen clock (jose's currentDate), real keys and
 * real signatures. Each case asserts the stable error code and reason, never a message.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { generateKeyPair, SignJWT, exportJWK, type JWTPayload } from 'jose';
import { createJwksCache, type JwksCache } from '../../src/auth/jwks-cache.js';
import { createJwtVerifier } from '../../src/auth/jwt-verifier.js';
import { newSigningKey, type SigningKey } from '../../src/devkit/token-issuer.js';
import { signRaw } from '../support/jws.js';

const NOW = 1_800_000_000;
const ISS = 'https://idp.example';
const AUD = 'https://fhir.example/fhir';
let key: SigningKey;
let second: SigningKey;

beforeAll(async () => {
  key = await newSigningKey('ES256');
  second = await newSigningKey('ES256');
});

const verifierWith = (over: Partial<Parameters<typeof createJwtVerifier>[0]> = {}, keys: SigningKey[] = [key, second]) =>
  createJwtVerifier({
    issuer: ISS,
    audience: [AUD],
    algorithms: ['ES256', 'RS256'],
    typ: undefined,
    requiredClaims: [],
    clockToleranceSeconds: 30,
    keys: createJwksCache({ load: async () => ({ keys: keys.map((k) => k.publicJwk) }), maxAgeMs: 1e9, cooldownMs: 1e9, now: () => NOW * 1000 }),
    now: () => new Date(NOW * 1000),
    ...over,
  });

const sign = (claims: JWTPayload, header: Record<string, unknown> = {}, k: SigningKey = key) =>
  new SignJWT({ iss: ISS, aud: AUD, sub: 's', iat: NOW - 10, exp: NOW + 300, ...claims })
    .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: 'at+jwt', ...header })
    .sign(k.privateKey);

const outcome = async (token: string, verifier = verifierWith()) =>
  verifier.verify(token).then(
    () => 'ok',
    (e: { code?: string; reasons?: string[] }) => `${e.code}:${(e.reasons ?? []).join(',')}`,
  );

describe('JWT verifier', () => {
  test('a good token verifies; aud may be an array containing the audience', async () => {
    expect(await outcome(await sign({}))).toBe('ok');
    expect(await outcome(await sign({ aud: ['https://other', AUD] }))).toBe('ok');
  });

  test.each([
    ['expired', { exp: NOW - 31 }, 'token_expired:token.expired'],
    ['expired, but within the clock tolerance', { exp: NOW - 29 }, 'ok'],
    ['not yet valid', { nbf: NOW + 31 }, 'token_invalid:token.claim.nbf'],
    ['nbf within the tolerance', { nbf: NOW + 29 }, 'ok'],
    ['issued in the future', { iat: NOW + 31 }, 'token_invalid:token.claim.iat'],
    ['wrong issuer', { iss: 'https://evil.example' }, 'token_invalid:token.claim.iss'],
    ['wrong audience', { aud: 'https://other.example/fhir' }, 'token_invalid:token.claim.aud'],
    ['no audience', { aud: undefined }, 'token_invalid:token.claim.aud'],
    ['no exp', { exp: undefined }, 'token_invalid:token.claim.exp'],
  ])('%s', async (_name, claims, expected) => {
    expect(await outcome(await sign(claims))).toBe(expected);
  });

  test.each([
    ['jku', { jku: 'https://evil.example/jwks' }],
    ['x5u', { x5u: 'https://evil.example/cert.pem' }],
    ['jwk', { jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' } }],
  ])('a %s header is refused even when the signature is good', async (_name, header) => {
    expect(await outcome(await sign({}, header))).toBe('token_invalid:token.header-key');
  });

  test('an unknown crit header parameter is refused', async () => {
    const token = await signRaw({ alg: 'ES256', kid: key.kid, crit: ['exp-policy'], 'exp-policy': 1 }, { iss: ISS, aud: AUD, exp: NOW + 60 }, key);
    expect(await outcome(token)).toBe('token_invalid:token.malformed');
    // the same token without crit verifies: the refusal is the crit, not the signature
    expect(await outcome(await signRaw({ alg: 'ES256', kid: key.kid, 'exp-policy': 1 }, { iss: ISS, aud: AUD, exp: NOW + 60 }, key))).toBe('ok');
  });

  test('typ at+jwt is required where configured; otherwise only access-token types are accepted', async () => {
    const strict = verifierWith({ typ: 'at+jwt' });
    expect(await outcome(await sign({}, { typ: 'at+jwt' }), strict)).toBe('ok');
    expect(await outcome(await sign({}, { typ: 'application/at+jwt' }), strict)).toBe('ok');
    expect(await outcome(await sign({}, { typ: 'JWT' }), strict)).toBe('token_invalid:token.claim.typ');
    expect(await outcome(await sign({}, { typ: 'JWT' }))).toBe('ok');
    expect(await outcome(await sign({}, { typ: 'logout+jwt' }))).toBe('token_invalid:token.typ');
    expect(await outcome(await sign({}, { typ: 'dpop+jwt' }))).toBe('token_invalid:token.typ');
  });

  test('an algorithm outside the allow-list is refused before any key is looked up', async () => {
    const es256 = await newSigningKey('ES256');
    const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k384', alg: 'ES384' };
    const token = await new SignJWT({ iss: ISS, aud: AUD, exp: NOW + 60 }).setProtectedHeader({ alg: 'ES384', kid: 'k384' }).sign(privateKey);
    // The key set holds the ES384 key: only the allow-list, not a missing key, can refuse the token.
    let loads = 0;
    let lookups = 0;
    const cache = createJwksCache({
      load: async () => {
        loads++;
        return { keys: [es256.publicJwk, jwk] };
      },
      maxAgeMs: 1e9,
      cooldownMs: 1e9,
      now: () => NOW * 1000,
    });
    const counting: JwksCache = { ...cache, resolve: (header, t) => (lookups++, cache.resolve(header, t)) };
    const verifier = verifierWith({ keys: counting });
    expect(await outcome(token, verifier)).toBe('token_invalid:token.algorithm');
    expect({ loads, lookups }).toEqual({ loads: 0, lookups: 0 });
    // The counters count: an allowed algorithm looks its key up (and loads the set) once.
    expect(await outcome(await sign({}, {}, es256), verifier)).toBe('ok');
    expect({ loads, lookups }).toEqual({ loads: 1, lookups: 1 });
  });

  test('required claims are enforced', async () => {
    const strict = verifierWith({ requiredClaims: ['jti', 'client_id'] });
    expect(await outcome(await sign({ jti: 'j' }), strict)).toBe('token_invalid:token.claim.client_id');
    expect(await outcome(await sign({ jti: 'j', client_id: 'c' }), strict)).toBe('ok');
  });

  test('a token without kid verifies against the key that signed it, among several', async () => {
    const token = await new SignJWT({ iss: ISS, aud: AUD, exp: NOW + 60 }).setProtectedHeader({ alg: 'ES256' }).sign(second.privateKey);
    expect(await outcome(token)).toBe('ok');
    const foreign = await newSigningKey('ES256');
    const forged = await new SignJWT({ iss: ISS, aud: AUD, exp: NOW + 60 }).setProtectedHeader({ alg: 'ES256' }).sign(foreign.privateKey);
    expect(await outcome(forged)).toBe('token_invalid:token.signature');
  });

  test('garbage is malformed, never an exception of another kind', async () => {
    for (const t of ['a.b.c', 'x', `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.e30.`, '...']) {
      expect(await outcome(t)).toMatch(/^token_invalid:token\.(malformed|signature)$/);
    }
  });
});
