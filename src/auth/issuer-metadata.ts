/**
 * An issuer's published metadata: `<issuer>/.well-known/smart-configuration` (SMART App Launch),
 * else `<issuer>/.well-known/openid-configuration` (Keycloak, Entra, Okta, Medplum publish this
 * one). Read once, kept while the issuer is unreachable, refreshed when older than `maxAgeMs`.
 * It names the `jwks_uri` when the configuration does not, and feeds the gateway's own
 * `.well-known/smart-configuration` and the CapabilityStatement's security section.
 */
import { fetchJson } from './fetch-json.js';

export type IssuerMetadata = Readonly<Record<string, unknown>> & { readonly issuer?: unknown; readonly jwks_uri?: unknown };

export interface IssuerMetadataSource {
  /** The metadata, fetched if never fetched or stale; the last good copy if a refresh fails. */
  get(): Promise<IssuerMetadata>;
  /** The last good copy, without fetching (null when none yet). */
  cached(): IssuerMetadata | null;
}

export function createIssuerMetadataSource(issuer: string, options: { timeoutMs: number; maxAgeMs: number; now?: () => number }): IssuerMetadataSource {
  const now = options.now ?? Date.now;
  let last: { doc: IssuerMetadata; at: number } | null = null;
  let inflight: Promise<IssuerMetadata> | null = null;
  let failedAt = -Infinity;
  const RETRY_AFTER_FAILURE_MS = 30_000;

  const load = async (): Promise<IssuerMetadata> => {
    let doc: unknown;
    try {
      doc = await fetchJson(`${issuer}/.well-known/smart-configuration`, { timeoutMs: options.timeoutMs });
    } catch {
      doc = await fetchJson(`${issuer}/.well-known/openid-configuration`, { timeoutMs: options.timeoutMs });
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('issuer metadata is not a JSON object');
    return doc as IssuerMetadata;
  };

  return {
    async get() {
      if (last !== null && (now() - last.at <= options.maxAgeMs || now() - failedAt < RETRY_AFTER_FAILURE_MS)) return last.doc;
      inflight ??= load()
        .then((doc) => {
          last = { doc, at: now() };
          return doc;
        })
        .finally(() => {
          inflight = null;
        });
      try {
        return await inflight;
      } catch (err) {
        failedAt = now();
        if (last !== null) return last.doc;
        throw err;
      }
    },
    cached: () => last?.doc ?? null,
  };
}

/** The JWKS location named by the metadata: an absolute http(s) URL, or an error. */
export function jwksUriOf(metadata: IssuerMetadata): string {
  const uri = metadata.jwks_uri;
  if (typeof uri !== 'string' || !/^https?:\/\//.test(uri)) throw new Error('issuer metadata has no usable jwks_uri');
  return uri;
}
