/**
 * Assurance of the login behind a token: how strongly, with which methods and when the user
 * authenticated, as the token says it (RFC 9068 `acr`, `amr`, `auth_time`; the same fields of an
 * RFC 7662 introspection answer).
 *
 * IdPs say "multi-factor" in their own words, so `acr` values (and Entra's `acrs`, an array of
 * authentication-context ids) are mapped per issuer to a NIST SP 800-63B authenticator assurance
 * level (1, 2, 3). `amr` is passed on as it is: RFC 8176 names the methods, and which of them count
 * as multi-factor is policy (data.fhirgw.assurance.multi_factor_methods), not a gateway setting.
 * Pure: no I/O.
 */
import type { AssuranceMappingConfig } from '../config/auth-schema.js';

/** NIST SP 800-63B authenticator assurance level. */
export type AssuranceLevel = 1 | 2 | 3;

export interface Assurance {
  /** The highest level the issuer's mapping gives the token's `acr` or authentication contexts; null when none maps. */
  readonly level: AssuranceLevel | null;
  /** `amr` values (RFC 8176), as the token lists them. */
  readonly methods: readonly string[];
  /** `auth_time`, seconds since the epoch; null when the token does not say. */
  readonly authenticated_at: number | null;
}

/** An issuer without a mapping: no `acr` value means a level. */
export const UNMAPPED: AssuranceMappingConfig = { acr: {}, contextClaim: 'acrs', contexts: {}, challenge: {} };

const METHOD = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_METHODS = 16;

export function assuranceOf(claims: Readonly<Record<string, unknown>>, mapping: AssuranceMappingConfig): Assurance {
  const levels: AssuranceLevel[] = [];
  const acr = claims['acr'];
  if (typeof acr === 'string' && Object.prototype.hasOwnProperty.call(mapping.acr, acr)) levels.push(mapping.acr[acr] as AssuranceLevel);
  const contexts = claims[mapping.contextClaim];
  for (const id of Array.isArray(contexts) ? contexts : typeof contexts === 'string' ? [contexts] : []) {
    if (typeof id === 'string' && Object.prototype.hasOwnProperty.call(mapping.contexts, id)) levels.push(mapping.contexts[id] as AssuranceLevel);
  }
  const amr = claims['amr'];
  // Bounded and well-formed: these strings reach policy input and the audit record.
  const methods = Array.isArray(amr) ? [...new Set(amr.filter((m): m is string => typeof m === 'string' && METHOD.test(m)))].slice(0, MAX_METHODS) : [];
  const authTime = claims['auth_time'];
  return {
    level: levels.length === 0 ? null : (Math.max(...levels) as AssuranceLevel),
    methods,
    authenticated_at: typeof authTime === 'number' && Number.isFinite(authTime) && authTime > 0 ? Math.floor(authTime) : null,
  };
}

/**
 * The `acr_values` a step-up challenge asks the issuer for: the issuer's value for the level
 * policy requires (or the lowest configured level above it); null when the mapping names none, and
 * the challenge then carries `max_age` only, or nothing but the error.
 */
export function acrValuesFor(mapping: AssuranceMappingConfig, level: number): string | null {
  for (const candidate of [1, 2, 3] as const) {
    if (candidate < level) continue;
    const value = mapping.challenge[String(candidate) as '1' | '2' | '3'];
    if (value !== undefined) return value;
  }
  return null;
}
