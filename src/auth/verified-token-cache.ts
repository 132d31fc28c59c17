/**
 * Verified JWTs remembered by the hash of the token, so a client's next request with the same
 * token skips the signature check (an ECDSA or RSA verification is most of what authentication
 * costs). Only the verification is remembered: proof of possession (DPoP proof, certificate
 * binding) and revocation are checked on every request from the cached claims, exactly as after a
 * fresh verification.
 *
 * An entry lives until the token's `exp` (a request after it verifies again and is refused as
 * expired) and at most `maxAgeMs`, which bounds how long a token signed by a key the issuer has
 * since withdrawn from its JWKS is still accepted. Failures are never remembered. The token itself
 * is not kept: entries are keyed by its SHA-256.
 */
import { createHash } from 'node:crypto';
import { BoundedCache } from '../bounded-cache.js';

export interface VerifiedTokenCacheOptions {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
  readonly now?: () => number;
}

type Claims = Readonly<Record<string, unknown>>;
type Verify = (token: string) => Promise<Claims>;

export interface VerifiedTokenCache {
  /** `verify`, answered from the cache while a verified token is fresh. */
  wrap(verify: Verify): Verify;
  readonly size: number;
}

export function createVerifiedTokenCache(options: VerifiedTokenCacheOptions): VerifiedTokenCache {
  const now = options.now ?? Date.now;
  const entries = new BoundedCache<string, { readonly claims: Claims; readonly until: number }>(options.maxEntries);

  const remember = (key: string, claims: Claims): void => {
    const exp = claims['exp'];
    // Tokens without a numeric exp are refused by verification; never cached regardless.
    if (typeof exp !== 'number' || options.maxAgeMs <= 0) return;
    const until = Math.min(exp * 1000, now() + options.maxAgeMs);
    if (until <= now()) return;
    entries.set(key, { claims, until });
  };

  return {
    wrap(verify) {
      return async (token) => {
        const key = createHash('sha256').update(token).digest('base64url');
        const hit = entries.get(key);
        if (hit !== undefined) {
          if (now() < hit.until) return hit.claims;
          entries.delete(key);
        }
        const claims = await verify(token);
        remember(key, claims);
        return claims;
      };
    },
    get size() {
      return entries.size;
    },
  };
}
