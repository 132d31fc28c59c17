/**
 * The access token comes from the Authorization header only (RFC 6750 2.1, RFC 9449 7.1; scheme
 * names are case-insensitive): `Bearer <token>` or `DPoP <token>` with its proof in the `DPoP`
 * header. Query-string and form-body tokens are never read: they end up in logs and browser
 * history (the classifier refuses an `access_token` parameter outright).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.js';

export interface PresentedToken {
  readonly scheme: 'bearer' | 'dpop';
  readonly token: string;
  /** The DPoP proof, for the DPoP scheme (absent when the client sent none). */
  readonly proof: string | null;
}

// RFC 6750 b64token, which covers the JWS compact serialization.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function presentedToken(headers: IncomingHttpHeaders, maxBytes: number): PresentedToken {
  const authorization = headers.authorization;
  if (authorization === undefined) throw new GatewayError('token_missing');
  if (Array.isArray(authorization)) throw new GatewayError('token_invalid', { reasons: ['token.multiple-headers'], bearer: { error: 'invalid_request' } });
  const space = authorization.indexOf(' ');
  const schemeName = (space === -1 ? authorization : authorization.slice(0, space)).toLowerCase();
  if (schemeName !== 'bearer' && schemeName !== 'dpop') throw new GatewayError('token_missing');
  const scheme = schemeName === 'dpop' ? 'dpop' : 'bearer';
  const challenge = scheme === 'dpop' ? 'DPoP' : 'Bearer';
  const token = authorization.slice(space + 1).trim();
  if (Buffer.byteLength(token) > maxBytes) throw new GatewayError('token_invalid', { reasons: ['token.too-large'], bearer: { error: 'invalid_token', scheme: challenge } });
  if (space === -1 || !B64TOKEN.test(token)) throw new GatewayError('token_invalid', { reasons: ['token.malformed'], bearer: { error: 'invalid_token', scheme: challenge } });
  if (scheme === 'bearer') return { scheme, token, proof: null };

  // Node joins repeated unknown headers with ", ": a comma means more than one DPoP header (RFC 9449 4.3 allows exactly one).
  const proof = headers.dpop;
  if (proof === undefined) return { scheme, token, proof: null };
  if (typeof proof !== 'string' || Buffer.byteLength(proof) > maxBytes || !COMPACT_JWS.test(proof)) {
    throw new GatewayError('dpop_proof_invalid', { reasons: ['dpop.malformed'], bearer: { error: 'invalid_dpop_proof', scheme: 'DPoP' } });
  }
  return { scheme, token, proof };
}
