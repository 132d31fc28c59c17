/**
 * An issuer's signing keys, cached around jose's `createLocalJWKSet`, with the three properties
 * jose's own remote set lacks together:
 *
 * - **Last good set kept.** A refresh that fails (IdP down, 500, garbage, an empty set) leaves the
 *   keys in use unchanged; only a successful fetch replaces them. Keys the IdP removed stop being
 *   trusted at the next successful fetch.
 * - **One fetch at a time.** Concurrent callers share the fetch in flight (single flight).
 * - **Rotation without a failed request, floods without a hammered IdP.** A token naming an
 *   unknown `kid` triggers one refetch at once (the IdP may have rotated its key) unless an
 *   unknown-kid refetch already happened within the cooldown; then the token is refused without a
 *   fetch. The periodic refresh does not count against the cooldown, so a rotation right after it
 *   is still picked up at the first new-kid token.
 *
 * Stale sets are refreshed in the background (the request proceeds with the current keys), and a
 * failed attempt is not retried more often than once per cooldown, whoever asks.
 */
import { createLocalJWKSet, errors as joseErrors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from 'jose';
import { GatewayError } from '../errors.js';

type KeyResolver = ReturnType<typeof createLocalJWKSet>;
export type ResolvedKey = Awaited<ReturnType<KeyResolver>>;

export type JwksFetchResult = 'ok' | 'error' | 'invalid';

export interface JwksCacheOptions {
  /** Fetches the JWKS document (throws when it cannot). */
  readonly load: () => Promise<unknown>;
  /** Keys older than this are refreshed in the background. */
  readonly maxAgeMs: number;
  /** At most one unknown-kid refetch, and one retry of a failed fetch, per this period. */
  readonly cooldownMs: number;
  readonly now?: () => number;
  /** Called after every fetch attempt (metrics). */
  readonly onFetch?: (result: JwksFetchResult, trigger: 'initial' | 'refresh' | 'unknown-kid') => void;
  /** Called after every failed fetch (logs): `keysInUse` says whether keys fetched before stay in use. */
  readonly onFailure?: (error: unknown, keysInUse: boolean) => void;
}

export interface JwksCache {
  /** A jose key resolver: the key for this token's header, or a jose/Gateway error. */
  resolve(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<ResolvedKey>;
  /** Loads the keys if they were never loaded; rejects if that fails. */
  warmUp(): Promise<void>;
  isLoaded(): boolean;
}

interface KeySet {
  readonly keys: KeyResolver;
  readonly fetchedAt: number;
}

export class JwksUnusableError extends Error {
  constructor() {
    super('the JWKS has no keys');
    this.name = 'JwksUnusableError';
  }
}

export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const now = options.now ?? Date.now;
  let current: KeySet | null = null;
  let inflight: Promise<void> | null = null;
  let lastAttemptAt = -Infinity;
  let lastAttemptFailed = false;
  let lastUnknownKidFetchAt = -Infinity;

  const refresh = (trigger: 'initial' | 'refresh' | 'unknown-kid'): Promise<void> => {
    inflight ??= (async () => {
      lastAttemptAt = now();
      try {
        const doc = await options.load();
        let keys: KeyResolver;
        try {
          keys = createLocalJWKSet(doc as JSONWebKeySet);
        } catch (err) {
          options.onFetch?.('invalid', trigger);
          throw err;
        }
        if ((doc as JSONWebKeySet).keys.length === 0) {
          // An empty set cannot verify anything; treat it as a failed fetch and keep what works.
          options.onFetch?.('invalid', trigger);
          throw new JwksUnusableError();
        }
        current = { keys, fetchedAt: now() };
        lastAttemptFailed = false;
        options.onFetch?.('ok', trigger);
      } catch (err) {
        lastAttemptFailed = true;
        if (!(err instanceof joseErrors.JWKSInvalid) && !(err instanceof JwksUnusableError)) options.onFetch?.('error', trigger);
        options.onFailure?.(err, current !== null);
        throw err;
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  };

  const mayRetry = (): boolean => !lastAttemptFailed || now() - lastAttemptAt >= options.cooldownMs;

  const unavailable = (cause: unknown): GatewayError => new GatewayError('auth_unavailable', { reasons: ['token.keys-unavailable'], cause });

  return {
    async resolve(header, token) {
      if (current === null) {
        if (inflight === null && !mayRetry()) throw unavailable(null);
        try {
          await (inflight ?? refresh('initial'));
        } catch (err) {
          throw unavailable(err);
        }
      } else if (inflight === null && now() - current.fetchedAt > options.maxAgeMs && mayRetry()) {
        refresh('refresh').catch(() => {}); // stale-while-revalidate: this request uses the keys it has
      }
      const tried = current as KeySet | null;
      if (!tried) throw unavailable(null);
      try {
        return await tried.keys(header, token);
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
        return retryAfterRotation(header, token, err, tried);
      }
    },
    async warmUp() {
      if (current !== null) return;
      await (inflight ?? refresh('initial'));
    },
    isLoaded: () => current !== null,
  };

  async function retryAfterRotation(header: JWSHeaderParameters, token: FlattenedJWSInput, notFound: Error, tried: KeySet): Promise<ResolvedKey> {
    if (current !== tried && current !== null) {
      // Another request's refetch completed since this lookup: look again in the new set.
      return current.keys(header, token);
    }
    if (inflight !== null) {
      // A fetch is under way (another request's rotation refetch or a refresh): wait for it, then look again.
      await inflight.catch(() => {});
    } else {
      // Within the cooldown the token is refused without a fetch: as invalid when the last fetch
      // succeeded (the kid really is unknown), as "cannot verify now" when it failed (the IdP may
      // have rotated while it is down).
      if (now() - lastUnknownKidFetchAt < options.cooldownMs) throw lastAttemptFailed ? unavailable(notFound) : notFound;
      lastUnknownKidFetchAt = now();
      try {
        await refresh('unknown-kid');
      } catch (err) {
        // The token may well carry a new, legitimate key: say "cannot verify now", not "invalid".
        throw unavailable(err);
      }
    }
    const latest = current as KeySet | null;
    if (!latest) throw unavailable(null);
    return latest.keys(header, token);
  }
}
