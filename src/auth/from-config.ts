/**
 * Builds the authenticator, the revocation list and the issuer metadata sources from the validated
 * configuration. The only place that knows how the auth parts fit together; server.ts hands it the
 * stores (memory or Redis), the secrets it read, and telemetry hooks.
 */
import type { ResolvedAuth, ResolvedIssuer } from '../config/auth-schema.js';
import { createAuthenticator, type Authenticator, type IssuerReadiness } from './authenticate.js';
import { ConfigError } from '../errors-config.js';
import { fetchFailureText, fetchJson, loggableUrl } from './fetch-json.js';
import { createIntrospector } from './introspection.js';
import { createIssuerMetadataSource, jwksUriOf, type IssuerMetadataSource } from './issuer-metadata.js';
import { createJwksCache, type JwksFetchResult } from './jwks-cache.js';
import { createJwtVerifier } from './jwt-verifier.js';
import { createRevocationList, type RevocationList } from './revocation.js';
import type { AuthStateStore } from './state-store.js';
import { createTokenVerifier, type IssuerVerifier } from './token-verifier.js';
import { createVerifiedTokenCache } from './verified-token-cache.js';

/** The deadline of each discovery, JWKS and introspection fetch (jose's remote JWKS default, 5 s). */
export const AUTH_FETCH_TIMEOUT_MS = 5000;

/** Distinct tokens remembered at once (about 1 KB each): the busiest clients of a minute. */
const VERIFIED_TOKENS_KEPT = 10_000;

export interface AuthTelemetry {
  jwksFetch(issuer: string, result: JwksFetchResult): void;
  introspection(issuer: string, result: 'active' | 'inactive' | 'error'): void;
  introspectionCache(result: 'hit' | 'miss' | 'error'): void;
  revocationBypassed(): void;
  /**
   * A key fetch failed: where (the JWKS or discovery URL, without credentials or query) and why.
   * `keysInUse`: keys fetched before stay in use; false at first start, when there are none.
   */
  jwksFailure(issuer: string, failure: { readonly url: string; readonly cause: string; readonly keysInUse: boolean }): void;
}

function discoveryUrlOf(issuer: string): string {
  return `${issuer}/.well-known/smart-configuration`;
}

export interface AuthStores {
  readonly revocation: AuthStateStore;
  readonly replay: AuthStateStore;
  readonly introspection: AuthStateStore;
}

export interface BuiltAuth {
  readonly authenticator: Authenticator;
  readonly revocation: RevocationList;
  /** Metadata of the issuer the gateway advertises (discovery, CapabilityStatement). */
  readonly advertised: { readonly issuer: ResolvedIssuer; readonly metadata: IssuerMetadataSource };
}

export interface BuildOptions {
  readonly stores: AuthStores;
  /** Introspection client secrets by issuer, already read from their file or environment variable. */
  readonly secrets: ReadonlyMap<string, string>;
  readonly telemetry: AuthTelemetry;
  readonly fetchTimeoutMs?: number;
  readonly now?: () => number;
}

export function buildAuth(auth: ResolvedAuth, options: BuildOptions): BuiltAuth {
  const now = options.now ?? Date.now;
  const nowDate = (): Date => new Date(now());
  const timeoutMs = options.fetchTimeoutMs ?? AUTH_FETCH_TIMEOUT_MS;
  const metadata = new Map(auth.issuers.map((i) => [i.issuer, createIssuerMetadataSource(i.issuer, { timeoutMs, maxAgeMs: 3_600_000, now })]));
  const metadataOf = (issuer: ResolvedIssuer): IssuerMetadataSource => metadata.get(issuer.issuer) as IssuerMetadataSource;

  const keyCaches: Array<ReturnType<typeof createJwksCache>> = [];
  const readiness: Array<() => IssuerReadiness> = [];
  const verified = createVerifiedTokenCache({ maxEntries: VERIFIED_TOKENS_KEPT, maxAgeMs: auth.verifiedTokenCacheSeconds * 1000, now });
  const verifiers: IssuerVerifier[] = auth.issuers.map((issuer, index) => {
    if (issuer.introspection !== undefined) {
      const secret = options.secrets.get(issuer.issuer);
      if (secret === undefined) throw new ConfigError(`auth.issuers.${index}.introspection`, `no introspection client secret for ${issuer.issuer}`);
      const introspector = createIntrospector({
        issuer: issuer.issuer,
        audience: issuer.audience,
        endpoint: issuer.introspection.endpoint,
        clientId: issuer.introspection.clientId,
        clientSecret: secret,
        authMethod: issuer.introspection.authMethod,
        cacheSeconds: issuer.introspection.cacheSeconds,
        inactiveCacheSeconds: issuer.introspection.inactiveCacheSeconds,
        timeoutMs: issuer.introspection.timeoutMs,
        clockToleranceSeconds: auth.clockToleranceSeconds,
        cache: options.stores.introspection,
        now,
        onCache: (r) => options.telemetry.introspectionCache(r),
        onCall: (r) => options.telemetry.introspection(issuer.issuer, r),
      });
      readiness.push(() => ({ issuer: issuer.issuer, keys: 'introspection' }));
      return { issuer, verify: (token) => introspector.verify(token) };
    }
    // Where the last attempt failed: the discovery document until it named the JWKS, then the JWKS.
    let from = issuer.jwksUri ?? discoveryUrlOf(issuer.issuer);
    const keys = createJwksCache({
      load: async () => {
        if (issuer.jwksUri === undefined) {
          from = discoveryUrlOf(issuer.issuer);
          from = jwksUriOf(await metadataOf(issuer).get());
        }
        return fetchJson(from, { timeoutMs });
      },
      maxAgeMs: issuer.jwksMaxAgeSeconds * 1000,
      cooldownMs: issuer.jwksCooldownSeconds * 1000,
      now,
      onFetch: (result) => options.telemetry.jwksFetch(issuer.issuer, result),
      onFailure: (err, keysInUse) => options.telemetry.jwksFailure(issuer.issuer, { url: loggableUrl(from), cause: fetchFailureText(err), keysInUse }),
    });
    keyCaches.push(keys);
    readiness.push(() => ({ issuer: issuer.issuer, keys: keys.isLoaded() ? 'loaded' : 'not-loaded' }));
    const jwt = createJwtVerifier({
      issuer: issuer.issuer,
      audience: issuer.audience,
      algorithms: issuer.algorithms,
      typ: issuer.typ,
      requiredClaims: issuer.requiredClaims,
      clockToleranceSeconds: auth.clockToleranceSeconds,
      keys,
      now: nowDate,
    });
    return { issuer, verify: verified.wrap(async (token) => (await jwt.verify(token)).claims) };
  });

  const revocation = createRevocationList({
    store: options.stores.revocation,
    onStoreError: auth.revocation.onStoreError,
    subjectSeconds: auth.revocation.subjectSeconds,
    jtiSeconds: auth.revocation.jtiSeconds,
    now,
    onBypass: () => options.telemetry.revocationBypassed(),
  });

  const authenticator = createAuthenticator({
    tokens: createTokenVerifier(verifiers),
    maxTokenBytes: auth.maxTokenBytes,
    dpop: {
      algorithms: auth.dpop.algorithms,
      maxAgeSeconds: auth.dpop.maxAgeSeconds,
      clockToleranceSeconds: auth.clockToleranceSeconds,
      replay: options.stores.replay,
      required: auth.dpop.required,
      now: nowDate,
    },
    revocation,
    // Ready once every signature-checking issuer's keys have loaded at least once.
    isReady: () => keyCaches.every((k) => k.isLoaded()),
    issuerReadiness: () => readiness.map((r) => r()),
    async warmUp() {
      const results = await Promise.allSettled(keyCaches.map((k) => k.warmUp()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  });

  const advertisedIssuer = auth.issuers.find((i) => i.issuer === auth.discovery.issuer) ?? (auth.issuers[0] as ResolvedIssuer);
  return { authenticator, revocation, advertised: { issuer: advertisedIssuer, metadata: metadataOf(advertisedIssuer) } };
}
