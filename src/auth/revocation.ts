/**
 * The revoked-token list, consulted on every request: by `jti` (one token), by subject ("log
 * this user out everywhere": every token of that subject issued up to the moment of revocation)
 * and by client (a leaked client credential or a compromised app: every token issued to that
 * client up to the moment of revocation).
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
  /** Lifetime of subject and client entries, and of jti entries whose token expiry is unknown. */
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
  /** The client the token was issued to (`client_id`, or `azp`). */
  readonly clientId: string | null;
  /** Issued-at, seconds; a token without `iat` counts as issued before any subject or client revocation. */
  readonly iat: number | null;
}

export interface RevocationList {
  /** Throws `token_revoked` (401) or `auth_state_unavailable` (503). */
  check(token: TokenIdentity): Promise<void>;
  revokeToken(iss: string, jti: string, expiresAtSeconds?: number): Promise<void>;
  /** Revokes every token of the subject issued up to now. */
  revokeSubject(iss: string, sub: string): Promise<void>;
  /** Revokes every token issued to the client up to now. */
  revokeClient(iss: string, clientId: string): Promise<void>;
}

const keyOf = (kind: 'jti' | 'sub' | 'client', iss: string, id: string): string => `revoked:${kind}:${createHash('sha256').update(`${iss}\n${id}`).digest('base64url')}`;

export function createRevocationList(options: RevocationOptions): RevocationList {
  const now = options.now ?? Date.now;
  return {
    async check(token) {
      const wanted = [
        { id: token.jti, kind: 'jti' as const },
        { id: token.sub, kind: 'sub' as const },
        { id: token.clientId, kind: 'client' as const },
      ].filter((w): w is { id: string; kind: 'jti' | 'sub' | 'client' } => w.id !== null);
      if (wanted.length === 0) return;
      let values: Array<string | null>;
      try {
        values = await options.store.getMany(wanted.map((w) => keyOf(w.kind, token.iss, w.id)));
      } catch (err) {
        if (options.onStoreError === 'allow') {
          options.onBypass?.(err);
          return;
        }
        throw new GatewayError('auth_state_unavailable', { reasons: ['revocation.store'], cause: err });
      }
      const entry = (kind: 'jti' | 'sub' | 'client'): string | null => {
        const i = wanted.findIndex((w) => w.kind === kind);
        return i === -1 ? null : (values[i] ?? null);
      };
      if (entry('jti') !== null) throw new GatewayError('token_revoked', { reasons: ['token.revoked'], bearer: { error: 'invalid_token' } });
      // Subject and client entries hold the revocation time: tokens issued after it are new logins.
      const issuedUpTo = (cutoff: string | null): boolean => cutoff !== null && (token.iat === null || token.iat <= Number(cutoff));
      if (issuedUpTo(entry('sub'))) throw new GatewayError('token_revoked', { reasons: ['token.subject-revoked'], bearer: { error: 'invalid_token' } });
      if (issuedUpTo(entry('client'))) throw new GatewayError('token_revoked', { reasons: ['token.client-revoked'], bearer: { error: 'invalid_token' } });
    },
    async revokeToken(iss, jti, expiresAtSeconds) {
      const nowMs = now();
      const ttlMs = expiresAtSeconds === undefined ? options.jtiSeconds * 1000 : Math.max(60_000, expiresAtSeconds * 1000 - nowMs + 60_000);
      await options.store.put(keyOf('jti', iss, jti), '1', ttlMs);
    },
    async revokeSubject(iss, sub) {
      await options.store.put(keyOf('sub', iss, sub), String(Math.floor(now() / 1000)), options.subjectSeconds * 1000);
    },
    async revokeClient(iss, clientId) {
      await options.store.put(keyOf('client', iss, clientId), String(Math.floor(now() / 1000)), options.subjectSeconds * 1000);
    },
  };
}
