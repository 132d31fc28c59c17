/** Token binding (RFC 9449 cnf.jkt, RFC 8705 cnf.x5t#S256) against what the request proved. */
import { createHash } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { checkTokenBinding, type PresentedProof } from '../../src/auth/token-binding.js';

const cert = Buffer.from('a DER certificate');
const x5t = createHash('sha256').update(cert).digest('base64url');
const bearer: PresentedProof = { scheme: 'bearer', dpopThumbprint: null, clientCertificate: null };
const dpop = (jkt: string): PresentedProof => ({ scheme: 'dpop', dpopThumbprint: jkt, clientCertificate: null });
const outcome = (cnf: unknown, presented: PresentedProof, dpopRequired = false) => {
  try {
    return `ok:${checkTokenBinding(cnf, presented, { dpopRequired })}`;
  } catch (e) {
    const err = e as { code: string; reasons: string[]; bearer?: { scheme?: string } };
    return `${err.code}:${err.reasons.join(',')}:${err.bearer?.scheme}`;
  }
};

describe('token binding', () => {
  test.each([
    ['an unbound Bearer token', undefined, bearer, 'ok:null'],
    ['a DPoP-bound token with the matching proof', { jkt: 'K' }, dpop('K'), 'ok:dpop'],
    ['a DPoP-bound token presented as Bearer', { jkt: 'K' }, bearer, 'token_invalid:token.dpop-bound:DPoP'],
    ['a DPoP-bound token with a proof by another key', { jkt: 'K' }, dpop('OTHER'), 'token_invalid:token.dpop-key-mismatch:DPoP'],
    ['an unbound token presented with the DPoP scheme', undefined, dpop('K'), 'token_invalid:token.not-dpop-bound:DPoP'],
    ['a certificate-bound token with its certificate', { 'x5t#S256': x5t }, { ...bearer, clientCertificate: cert }, 'ok:mtls'],
    ['a certificate-bound token without a certificate', { 'x5t#S256': x5t }, bearer, 'token_invalid:token.certificate-missing:Bearer'],
    ['a certificate-bound token with another certificate', { 'x5t#S256': x5t }, { ...bearer, clientCertificate: Buffer.from('other') }, 'token_invalid:token.certificate-mismatch:Bearer'],
    ['a token bound to both, with both proven', { jkt: 'K', 'x5t#S256': x5t }, { ...dpop('K'), clientCertificate: cert }, 'ok:dpop'],
    ['a token bound to both, certificate missing', { jkt: 'K', 'x5t#S256': x5t }, dpop('K'), 'token_invalid:token.certificate-missing:Bearer'],
    ['a malformed cnf (not an object) binds nothing', 'garbage', bearer, 'ok:null'],
  ])('%s', (_name, cnf, presented, expected) => {
    expect(outcome(cnf, presented)).toBe(expected);
  });

  test('with DPoP required, only DPoP-bound tokens pass', () => {
    expect(outcome(undefined, bearer, true)).toBe('token_invalid:token.dpop-required:DPoP');
    expect(outcome({ 'x5t#S256': x5t }, { ...bearer, clientCertificate: cert }, true)).toBe('token_invalid:token.dpop-required:DPoP');
    expect(outcome({ jkt: 'K' }, dpop('K'), true)).toBe('ok:dpop');
  });
});
