/**
 * JWT access tokens verified with jose against the issuer's JWKS (RFC 9068, RFC 8725).
 *
 * jose pins the algorithms (never `none`, never an HMAC with a public key), ignores `jku`/`x5u`/`jwk`
 * header keys (keys only ever come from the configured JWKS), rejects unknown `crit`, checks
 * `iss`, `aud`, `exp`, `nbf`; this module adds the SMART discovery of `jwks_uri` and maps jose's
 * error codes onto the gateway's, so jose's messages never reach a client.
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type RemoteJWKSet } from 'jose';
import { GatewayError } from '../errors.js';

export interface JwtVerifierOptions {
  readonly issuer: string;
  readonly jwksUri?: string | undefined;
  readonly audience: string;
  readonly algorithms: readonly string[];
  readonly clockToleranceSeconds: number;
  /** Timeout for JWKS and discovery fetches. */
  readonly fetchTimeoutMs?: number;
}

export interface TokenVerifier {
  /** Verified claims, or a GatewayError (token_invalid, token_expired, auth_unavailable). */
  verify(token: string): Promise<JWTPayload>;
  /** Resolves once keys have been loaded; rejects if they cannot be. */
  warmUp(): Promise<void>;
  isReady(): boolean;
}

export function createJwtVerifier(options: JwtVerifierOptions): TokenVerifier {
  const timeoutDuration = options.fetchTimeoutMs ?? 5000;
  let jwks: RemoteJWKSet | undefined;
  let ready = false;

  const keySet = async (): Promise<RemoteJWKSet> => {
    if (jwks) return jwks;
    const uri = options.jwksUri ?? (await discoverJwksUri(options.issuer, timeoutDuration));
    jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
    return jwks;
  };

  return {
    async verify(token) {
      let set: RemoteJWKSet;
      try {
        set = await keySet();
      } catch (err) {
        throw new GatewayError('auth_unavailable', { cause: err });
      }
      try {
        const { payload } = await jwtVerify(token, set, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: [...options.algorithms],
          clockTolerance: options.clockToleranceSeconds,
          requiredClaims: ['exp'],
        });
        ready = true;
        return payload;
      } catch (err) {
        throw mapJoseError(err);
      }
    },
    async warmUp() {
      const set = await keySet();
      await set.reload();
      ready = true;
    },
    isReady: () => ready,
  };
}

function mapJoseError(err: unknown): GatewayError {
  if (err instanceof joseErrors.JWTExpired) return new GatewayError('token_expired', { reasons: ['token.expired'], bearer: { error: 'invalid_token' }, cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return new GatewayError('token_invalid', { reasons: [`token.claim.${err.claim}`], bearer: { error: 'invalid_token' }, cause: err });
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return new GatewayError('token_invalid', { reasons: ['token.unknown-key'], bearer: { error: 'invalid_token' }, cause: err });
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new GatewayError('token_invalid', { reasons: ['token.signature'], bearer: { error: 'invalid_token' }, cause: err });
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new GatewayError('token_invalid', { reasons: ['token.algorithm'], bearer: { error: 'invalid_token' }, cause: err });
  const keyEndpointFailed =
    err instanceof joseErrors.JWKSTimeout ||
    err instanceof joseErrors.JWKSInvalid ||
    !(err instanceof joseErrors.JOSEError) ||
    err.code === 'ERR_JOSE_GENERIC'; // jose's "Expected 200 OK from the JSON Web Key Set HTTP response"
  if (keyEndpointFailed) {
    // The IdP's key endpoint failed (timeout, network, garbage): a server-side problem, not a bad token.
    return new GatewayError('auth_unavailable', { cause: err });
  }
  return new GatewayError('token_invalid', { reasons: ['token.malformed'], bearer: { error: 'invalid_token' }, cause: err });
}

/** SMART App Launch: `<issuer>/.well-known/smart-configuration` names the `jwks_uri`. */
async function discoverJwksUri(issuer: string, timeoutMs: number): Promise<string> {
  const res = await fetch(`${issuer}/.well-known/smart-configuration`, {
    headers: { accept: 'application/json' },
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.status !== 200) throw new Error(`smart-configuration answered ${res.status}`);
  const doc = (await res.json()) as { jwks_uri?: unknown };
  if (typeof doc.jwks_uri !== 'string' || !/^https?:\/\//.test(doc.jwks_uri)) throw new Error('smart-configuration has no usable jwks_uri');
  return doc.jwks_uri;
}
