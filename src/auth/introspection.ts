/**
 * Opaque access tokens, verified with RFC 7662 token introspection at their issuer.
 *
 * The gateway authenticates to the introspection endpoint as a confidential client
 * (client_secret_basic or client_secret_post; the secret comes from a file or an environment
 * variable). An answer is trusted only if `active` is true; `iss` (when given) must be the
 * configured issuer, `aud` (when given) must contain an accepted audience, `exp`/`nbf`/`iat` are
 * checked like a JWT's. The answer's fields (`scope`, `client_id`, `sub`, `patient`, `fhirUser`,
 * `cnf`, ...) are then mapped to the Principal exactly like JWT claims.
 *
 * Answers are cached under a hash of the token (never the token): active ones until the token's
 * `exp` and at most `cacheSeconds`, inactive ones `inactiveCacheSeconds`; in the auth state store,
 * so with Redis every replica shares them. A cache that fails is skipped, not fatal: the
 * endpoint is asked instead. An endpoint that fails is `auth_unavailable` (503), never a pass.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { fetchJson } from './fetch-json.js';
import type { AuthStateStore } from './state-store.js';
import { invalidToken } from './token-errors.js';

export interface IntrospectionOptions {
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly endpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly authMethod: 'client_secret_basic' | 'client_secret_post';
  readonly cacheSeconds: number;
  readonly inactiveCacheSeconds: number;
  readonly timeoutMs: number;
  readonly clockToleranceSeconds: number;
  readonly cache: AuthStateStore;
  readonly now?: () => number;
  readonly onCache?: (result: 'hit' | 'miss' | 'error') => void;
  readonly onCall?: (result: 'active' | 'inactive' | 'error') => void;
}

export type IntrospectedClaims = Readonly<Record<string, unknown>> & { readonly iss: string };

export interface Introspector {
  verify(token: string): Promise<IntrospectedClaims>;
}

export function createIntrospector(options: IntrospectionOptions): Introspector {
  const now = options.now ?? Date.now;
  // RFC 6749 2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
  const basic = `Basic ${Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')}`;

  const checked = (answer: Record<string, unknown>): IntrospectedClaims => {
    if (answer['active'] !== true) throw invalidToken('token.inactive');
    const nowSeconds = now() / 1000;
    const tolerance = options.clockToleranceSeconds;
    const exp = answer['exp'];
    if (exp !== undefined && (typeof exp !== 'number' || exp <= nowSeconds - tolerance)) {
      throw new GatewayError('token_expired', { reasons: ['token.expired'], bearer: { error: 'invalid_token' } });
    }
    for (const claim of ['nbf', 'iat'] as const) {
      const v = answer[claim];
      if (v !== undefined && (typeof v !== 'number' || v > nowSeconds + tolerance)) throw invalidToken(`token.claim.${claim}`);
    }
    if (answer['iss'] !== undefined && answer['iss'] !== options.issuer) throw invalidToken('token.claim.iss');
    const aud = answer['aud'];
    if (aud !== undefined) {
      const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
      if (!auds.some((a) => options.audience.includes(a as string))) throw invalidToken('token.claim.aud');
    }
    return { ...answer, iss: options.issuer };
  };

  return {
    async verify(token) {
      const key = `introspect:${createHash('sha256').update(token).digest('base64url')}`;
      const cached = await readCache(key);
      if (cached !== null) return checked(cached);

      const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
      if (options.authMethod === 'client_secret_post') {
        form.set('client_id', options.clientId);
        form.set('client_secret', options.clientSecret);
      }
      let answer: unknown;
      try {
        answer = await fetchJson(options.endpoint, {
          method: 'POST',
          timeoutMs: options.timeoutMs,
          maxBytes: 64 * 1024,
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(options.authMethod === 'client_secret_basic' ? { authorization: basic } : {}) },
          body: form.toString(),
        });
      } catch (err) {
        options.onCall?.('error');
        throw new GatewayError('auth_unavailable', { reasons: ['token.introspection-unavailable'], cause: err });
      }
      if (typeof answer !== 'object' || answer === null || Array.isArray(answer) || typeof (answer as { active?: unknown }).active !== 'boolean') {
        options.onCall?.('error');
        throw new GatewayError('auth_unavailable', { reasons: ['token.introspection-unavailable'] });
      }
      const record = answer as Record<string, unknown>;
      const active = record['active'] === true;
      options.onCall?.(active ? 'active' : 'inactive');
      await writeCache(key, active ? record : { active: false }, ttlMsFor(record, active));
      return checked(record);
    },
  };

  function ttlMsFor(answer: Record<string, unknown>, active: boolean): number {
    if (!active) return options.inactiveCacheSeconds * 1000;
    const exp = answer['exp'];
    const untilExp = typeof exp === 'number' ? exp * 1000 - now() : Infinity;
    return Math.min(options.cacheSeconds * 1000, untilExp);
  }

  async function readCache(key: string): Promise<Record<string, unknown> | null> {
    try {
      const [value] = await options.cache.getMany([key]);
      options.onCache?.(value == null ? 'miss' : 'hit');
      return value == null ? null : (JSON.parse(value) as Record<string, unknown>);
    } catch {
      options.onCache?.('error');
      return null;
    }
  }

  async function writeCache(key: string, value: Record<string, unknown>, ttlMs: number): Promise<void> {
    if (!(ttlMs >= 1000)) return;
    try {
      await options.cache.put(key, JSON.stringify(value), Math.floor(ttlMs));
    } catch {
      options.onCache?.('error');
    }
  }
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
