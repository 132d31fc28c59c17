/**
 * DPoP proofs (RFC 9449 section 4.3): the client proves, on every request, that it holds the
 * private key whose thumbprint the access token names in `cnf.jkt`.
 *
 * Checked: exactly one well-formed proof; `typ` dpop+jwt; an allowed asymmetric `alg`; a public
 * `jwk` in the header whose signature verifies; `htm` equal to the method; `htu` equal to the
 * public URL the client called, without query and fragment; `iat` within `maxAgeSeconds` (plus
 * clock tolerance, either way); `ath` the hash of the presented access token; `jti` never seen
 * before within the proof's lifetime (claimed in the shared store, so a proof replayed against
 * another replica is refused too). The result is the key's RFC 7638 thumbprint.
 */
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors as joseErrors, jwtVerify, type JWK } from 'jose';
import { GatewayError } from '../errors.js';
import { StateStoreError, type AuthStateStore } from './state-store.js';

export interface DpopProofOptions {
  readonly algorithms: readonly string[];
  readonly maxAgeSeconds: number;
  readonly clockToleranceSeconds: number;
  readonly replay: AuthStateStore;
  readonly now?: () => Date;
}

export interface DpopRequest {
  readonly method: string;
  /** The URL the client called, on the public base. */
  readonly url: string;
  readonly accessToken: string;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export function invalidProof(reason: string, cause?: unknown): GatewayError {
  return new GatewayError('dpop_proof_invalid', { reasons: [reason], bearer: { error: 'invalid_dpop_proof', scheme: 'DPoP' }, ...(cause === undefined ? {} : { cause }) });
}

/** Verifies the proof and returns the thumbprint of its key. */
export async function verifyDpopProof(proof: string | null, request: DpopRequest, options: DpopProofOptions): Promise<string> {
  if (proof === null) throw invalidProof('dpop.missing');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalidProof('dpop.malformed');
  }
  if (header.typ !== 'dpop+jwt') throw invalidProof('dpop.typ');
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null || jwk.kty === 'oct' || PRIVATE_MEMBERS.some((m) => (jwk as Record<string, unknown>)[m] !== undefined)) {
    throw invalidProof('dpop.key');
  }

  const now = (options.now ?? (() => new Date()))();
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      algorithms: [...options.algorithms],
      typ: 'dpop+jwt',
      currentDate: now,
      clockTolerance: options.clockToleranceSeconds,
      maxTokenAge: options.maxAgeSeconds,
      requiredClaims: ['iat', 'jti', 'htm', 'htu', 'ath'],
    }));
  } catch (err) {
    throw invalidProof(proofReason(err), err);
  }

  if (payload['htm'] !== request.method) throw invalidProof('dpop.htm');
  if (typeof payload['htu'] !== 'string' || !sameTarget(payload['htu'], request.url)) throw invalidProof('dpop.htu');
  if (payload['ath'] !== createHash('sha256').update(request.accessToken).digest('base64url')) throw invalidProof('dpop.ath');
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw invalidProof('dpop.jti');

  const thumbprint = await calculateJwkThumbprint(jwk as JWK, 'sha256');
  const lifetimeMs = (options.maxAgeSeconds + 2 * options.clockToleranceSeconds) * 1000;
  let first: boolean;
  try {
    first = await options.replay.claimOnce(`dpop:${createHash('sha256').update(`${thumbprint}\n${jti}`).digest('base64url')}`, lifetimeMs);
  } catch (err) {
    // Replay protection is a security control: without the store, the proof cannot be accepted.
    throw new GatewayError('auth_state_unavailable', { reasons: ['dpop.replay-store'], cause: err instanceof StateStoreError ? err : new StateStoreError('replay store failed', { cause: err }) });
  }
  if (!first) throw invalidProof('dpop.replay');
  return thumbprint;
}

/** RFC 9449 4.3 step 9: compare the URIs without query and fragment, after syntax-based normalisation. */
function sameTarget(htu: string, url: string): boolean {
  if (!URL.canParse(htu)) return false;
  const a = new URL(htu);
  const b = new URL(url);
  for (const u of [a, b]) {
    u.search = '';
    u.hash = '';
  }
  return a.href === b.href;
}

function proofReason(err: unknown): string {
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'dpop.algorithm';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'dpop.signature';
  if (err instanceof joseErrors.JWTExpired || (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'iat')) return 'dpop.iat';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return 'dpop.claims';
  return 'dpop.malformed';
}
