/**
 * One issuer's JWT access tokens (RFC 9068, RFC 8725), verified with jose against keys from the
 * issuer's JWKS only.
 *
 * - Algorithms are pinned per issuer (asymmetric only; the configuration cannot say `none` or
 *   HMAC), and jose's key set only yields a key whose type fits the algorithm (`kty`, `crv`, `use`,
 *   and the JWK's own `alg` when it has one).
 * - `jku`, `x5u` and `jwk` header parameters are refused outright: keys never come from the token.
 *   An unknown `crit` is refused by jose.
 * - `iss` exact, `aud` (string or array) contains an accepted audience, `exp` required, `nbf` and
 *   `iat` not in the future, each with the configured clock tolerance.
 * - `typ`: `at+jwt` is required where the issuer is configured for it; otherwise an explicit `typ`
 *   must still be `JWT` or `at+jwt`, so an ID token typed `id+jwt`, a logout token or a DPoP proof
 *   signed by the same IdP is never taken for an access token.
 *
 * jose's error codes become the gateway's codes; jose's messages never reach a client.
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { GatewayError } from '../errors.js';
import type { JwksCache, ResolvedKey } from './jwks-cache.js';
import { invalidToken } from './token-errors.js';

export interface JwtVerifierOptions {
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly algorithms: readonly string[];
  readonly typ: 'at+jwt' | undefined;
  readonly requiredClaims: readonly string[];
  readonly clockToleranceSeconds: number;
  readonly keys: JwksCache;
  readonly now?: () => Date;
}

export interface VerifiedJwt {
  readonly claims: JWTPayload;
  readonly header: { readonly alg: string; readonly kid?: string | undefined; readonly typ?: string | undefined };
}

export interface JwtVerifier {
  verify(token: string): Promise<VerifiedJwt>;
}

/** Header parameters that would let the token choose its own verification key. */
const KEY_HEADERS = ['jku', 'x5u', 'jwk'] as const;
const ACCESS_TOKEN_TYPES = new Set(['jwt', 'at+jwt']);

export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const now = options.now ?? (() => new Date());
  const baseOptions: JWTVerifyOptions = {
    issuer: options.issuer,
    audience: [...options.audience],
    algorithms: [...options.algorithms],
    clockTolerance: options.clockToleranceSeconds,
    requiredClaims: ['exp', ...options.requiredClaims],
    ...(options.typ ? { typ: options.typ } : {}),
  };

  return {
    async verify(token) {
      let header: ReturnType<typeof decodeProtectedHeader>;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw invalidToken('token.malformed');
      }
      if (KEY_HEADERS.some((name) => header[name] !== undefined)) throw invalidToken('token.header-key');
      if (!options.typ && typeof header.typ === 'string' && !ACCESS_TOKEN_TYPES.has(normalizeTyp(header.typ))) throw invalidToken('token.typ');

      const currentDate = now();
      const verifyOptions: JWTVerifyOptions = { ...baseOptions, currentDate };
      let payload: JWTPayload;
      try {
        ({ payload } = await verifyWithEveryCandidate(token, options.keys, verifyOptions));
      } catch (err) {
        throw mapJoseError(err);
      }
      // jose checks `iat` only when a maximum age is set; a token issued in the future is refused here.
      if (typeof payload.iat === 'number' && payload.iat > currentDate.getTime() / 1000 + options.clockToleranceSeconds) {
        throw invalidToken('token.claim.iat');
      }
      return { claims: payload, header: { alg: header.alg as string, kid: header.kid, typ: header.typ } };
    },
  };
}

/**
 * A token without `kid` can match several keys of the set (jose then throws a
 * JWKSMultipleMatchingKeys that iterates them): it is accepted if one of them verifies it.
 */
async function verifyWithEveryCandidate(token: string, keys: JwksCache, options: JWTVerifyOptions): ReturnType<typeof jwtVerify> {
  try {
    return await jwtVerify(token, (header, jws) => keys.resolve(header, jws), options);
  } catch (err) {
    if (!(err instanceof joseErrors.JWKSMultipleMatchingKeys)) throw err;
    let last: unknown = err;
    for await (const key of err as unknown as AsyncIterable<ResolvedKey>) {
      try {
        return await jwtVerify(token, key, options);
      } catch (attempt) {
        last = attempt;
        if (!(attempt instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw last;
  }
}

function normalizeTyp(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}

function mapJoseError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err; // from the key cache: keys unavailable
  if (err instanceof joseErrors.JWTExpired) return new GatewayError('token_expired', { reasons: ['token.expired'], bearer: { error: 'invalid_token' }, cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed) return invalidToken(`token.claim.${claimName(err.claim)}`, err);
  if (err instanceof joseErrors.JWKSNoMatchingKey) return invalidToken('token.unknown-key', err);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalidToken('token.signature', err);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return invalidToken('token.algorithm', err);
  if (err instanceof joseErrors.JWKSInvalid) return new GatewayError('auth_unavailable', { reasons: ['token.keys-unavailable'], cause: err });
  // JWSInvalid (bad structure, unknown crit), JWTInvalid (payload not a claims set), JOSENotSupported, ...
  return invalidToken('token.malformed', err);
}

/** Claim names in reason codes come from a fixed list, never from the token. */
const REPORTED_CLAIMS = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'jti', 'typ', 'client_id', 'scope']);
function claimName(claim: string): string {
  return REPORTED_CLAIMS.has(claim) ? claim : 'required';
}
