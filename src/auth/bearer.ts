/**
 * The access token comes from the Authorization header only (RFC 6750 2.1; the scheme name is
 * case-insensitive). Query-string and form-body tokens are never read: they end up in logs and
 * browser history. The classifier refuses an `access_token` query parameter outright.
 */
import { GatewayError } from '../errors.js';

// RFC 6750 b64token, which covers the JWS compact serialization.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export function bearerToken(authorization: string | string[] | undefined, maxBytes: number): string {
  if (authorization === undefined) throw new GatewayError('token_missing');
  if (Array.isArray(authorization)) throw new GatewayError('token_invalid', { reasons: ['token.multiple-headers'], bearer: { error: 'invalid_request' } });
  const space = authorization.indexOf(' ');
  const scheme = space === -1 ? authorization : authorization.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') throw new GatewayError('token_missing');
  const token = authorization.slice(space + 1).trim();
  if (token.length > maxBytes) throw new GatewayError('token_invalid', { reasons: ['token.too-large'], bearer: { error: 'invalid_token' } });
  if (!B64TOKEN.test(token)) throw new GatewayError('token_invalid', { reasons: ['token.malformed'], bearer: { error: 'invalid_token' } });
  return token;
}
