/**
 * The revoked-token list, consulted on every request: by `jti` (one token) and by subject ("log
 * this user out everywhere": every token of that subject issued up to the moment of revocation).
 * Entries live in the auth state store (Redis when configured, so every replica sees them) and
 * expire on their own once the tokens they cover would have expired anyway.
 *
 * When the store cannot be read, the request is refused with 503 (`onStoreError: deny`, the
 * default) or let through and counted (`allow`), as configured.
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { AuthStateStore } from './state-store.js';

export interface RevocationOptions {
  readonly store: AuthStateStore;
  readonly onStoreError: 'deny' | 'allow';
  /** Lifetime of subject entries, and of jti entries whose token expiry is unknown. */
  readonly subjectSeconds: number;
  readonly jtiSeconds: number;
  readonly now?: () => number;
  /** Called when the store failed and `onStoreError` let the request through. */
  readonly onBypass?: (err: unknown) => void;
}

export interface TokenIdentity {
  readonly iss: string;
  readonly sub: string | null;
  readonly jti: string | null;
  /** Issued-at, seconds; a token without `iat` counts as issued before any subject revocation. */
  readonly iat: number | null;
}

export interface RevocationList {
  /** Throws `token_revoked` (401) or `auth_state_unavailable` (503). */
  check(token: TokenIdentity): Promise<void>;
  revokeToken(iss: string, jti: string, expiresAtSeconds?: number): Promise<void>;
  /** Revokes every token of the subject issued up to now. */
  revokeSubject(iss: string, sub: string): Promise<void>;
}

const keyOf = (kind: 'jti' | 'sub', iss: string, id: string): string => `revoked:${kind}:${createHash('sha256').update(`${iss}\n${id}`).digest('base64url')}`;

export function createRevocationList(options: RevocationOptions): RevocationList {
  const now = options.now ?? Date.now;
  return {
    async check(token) {
      if (token.jti === null && token.sub === null) return;
      const keys = [token.jti === null ? null : keyOf('jti', token.iss, token.jti), token.sub === null ? null : keyOf('sub', token.iss, token.sub)];
      let values: Array<string | null>;
      try {
        values = await options.store.getMany(keys.filter((k): k is string => k !== null));
      } catch (err) {
        if (options.onStoreError === 'allow') {
          options.onBypass?.(err);
          return;
        }
        throw new GatewayError('auth_state_unavailable', { reasons: ['revocation.store'], cause: err });
      }
      let i = 0;
      const jtiEntry = keys[0] === null ? null : values[i++];
      const subEntry = keys[1] === null ? null : values[i];
      if (jtiEntry != null) throw new GatewayError('token_revoked', { reasons: ['token.revoked'], bearer: { error: 'invalid_token' } });
      if (subEntry != null && (token.iat === null || token.iat <= Number(subEntry))) {
        throw new GatewayError('token_revoked', { reasons: ['token.subject-revoked'], bearer: { error: 'invalid_token' } });
      }
    },
    async revokeToken(iss, jti, expiresAtSeconds) {
      const nowMs = now();
      const ttlMs = expiresAtSeconds === undefined ? options.jtiSeconds * 1000 : Math.max(60_000, expiresAtSeconds * 1000 - nowMs + 60_000);
      await options.store.put(keyOf('jti', iss, jti), '1', ttlMs);
    },
    async revokeSubject(iss, sub) {
      await options.store.put(keyOf('sub', iss, sub), String(Math.floor(now() / 1000)), options.subjectSeconds * 1000);
    },
  };
}
