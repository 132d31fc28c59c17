/** Where the access token is read from: the Authorization header only, Bearer or DPoP. */
import { describe, expect, test } from '@jest/globals';
import { presentedToken } from '../../src/auth/presented-token.js';

const JWS = 'eyJhbGciOiJFUzI1NiJ9.eyJ4IjoxfQ.c2ln';
const outcome = (headers: Record<string, string | string[]>) => {
  try {
    const p = presentedToken(headers, 1024);
    return `${p.scheme}:${p.proof === null ? 'no-proof' : 'proof'}`;
  } catch (e) {
    const err = e as { code: string; reasons: string[] };
    return `${err.code}:${err.reasons.join(',')}`;
  }
};

describe('presented token', () => {
  test.each([
    [{}, 'token_missing:'],
    [{ authorization: `Bearer ${JWS}` }, 'bearer:no-proof'],
    [{ authorization: `bearer ${JWS}` }, 'bearer:no-proof'],
    [{ authorization: `BEARER ${JWS}` }, 'bearer:no-proof'],
    [{ authorization: `DPoP ${JWS}`, dpop: JWS }, 'dpop:proof'],
    [{ authorization: `dpop ${JWS}` }, 'dpop:no-proof'],
    [{ authorization: `Basic dXNlcjpwYXNz` }, 'token_missing:'],
    [{ authorization: 'Bearer' }, 'token_invalid:token.malformed'],
    [{ authorization: 'Bearer a b' }, 'token_invalid:token.malformed'],
    [{ authorization: `Bearer ${'a'.repeat(1025)}` }, 'token_invalid:token.too-large'],
    [{ authorization: `DPoP ${JWS}`, dpop: `${JWS}, ${JWS}` }, 'dpop_proof_invalid:dpop.malformed'],
    [{ authorization: `DPoP ${JWS}`, dpop: 'not a jws' }, 'dpop_proof_invalid:dpop.malformed'],
  ])('%j', (headers, expected) => {
    expect(outcome(headers)).toBe(expected);
  });
});
