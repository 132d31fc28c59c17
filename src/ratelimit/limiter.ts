/**
 * Per-user and per-client rate limits, checked right after the token is verified (so a refused
 * token costs no counter) and before policy. The user limit is checked first: one busy user of a
 * client is throttled without using up the whole client's allowance. Counters live in a
 * RateLimitStore: Redis when configured (shared by every replica), else this process's memory.
 */
import { createHash } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { GatewayError } from '../errors.js';
import { slide, type WindowState } from './sliding-window.js';

export interface RateLimitStore {
  /** Counts one request against `key` unless that would exceed `limit` in the sliding window. */
  hit(key: string, limit: number, windowMs: number): Promise<{ allowed: boolean; retryAfterMs: number }>;
}

export interface RateLimitConfig {
  readonly perUser?: { readonly requests: number; readonly windowSeconds: number } | undefined;
  readonly perClient?: { readonly requests: number; readonly windowSeconds: number } | undefined;
  readonly onStoreError: 'allow' | 'deny';
}

export interface RateLimitEvents {
  limited(limit: 'user' | 'client'): void;
  storeError(outcome: 'allowed' | 'refused'): void;
}

export interface RateLimiter {
  /** Throws `rate_limited` (429, with Retry-After) or, when the store fails and the policy says so, `rate_limit_unavailable`. */
  check(principal: Principal): Promise<void>;
}

export function createRateLimiter(config: RateLimitConfig, store: RateLimitStore, events: RateLimitEvents): RateLimiter {
  const limits = [
    { name: 'user' as const, spec: config.perUser, id: (p: Principal) => (p.sub === null ? null : `${p.iss}\0${p.sub}`) },
    { name: 'client' as const, spec: config.perClient, id: (p: Principal) => (p.client_id === null ? null : `${p.iss}\0${p.client_id}`) },
  ].filter((l) => l.spec !== undefined);
  return {
    async check(principal) {
      for (const limit of limits) {
        const id = limit.id(principal);
        const spec = limit.spec;
        if (id === null || spec === undefined) continue;
        // Keys are hashes: no subject or client id is stored in the clear.
        const key = `${limit.name}:${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
        let result: { allowed: boolean; retryAfterMs: number };
        try {
          result = await store.hit(key, spec.requests, spec.windowSeconds * 1000);
        } catch (err) {
          if (config.onStoreError === 'allow') {
            events.storeError('allowed');
            return;
          }
          events.storeError('refused');
          throw new GatewayError('rate_limit_unavailable', { reasons: ['ratelimit.store'], cause: err });
        }
        if (!result.allowed) {
          events.limited(limit.name);
          throw new GatewayError('rate_limited', { reasons: [`ratelimit.${limit.name}`], retryAfterSeconds: Math.max(1, Math.ceil(result.retryAfterMs / 1000)) });
        }
      }
    },
  };
}

/** Counters in this process only (no Redis configured): each replica limits on its own. */
export function createMemoryRateLimitStore(options: { maxKeys?: number; now?: () => number } = {}): RateLimitStore {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  const windows = new Map<string, WindowState & { windowMs: number }>();
  return {
    async hit(key, limit, windowMs) {
      const t = now();
      if (windows.size >= maxKeys && !windows.has(key)) {
        // Forget windows that no longer count (older than two windows), then the oldest.
        for (const [k, w] of windows) if (w.start + 2 * w.windowMs <= t) windows.delete(k);
        if (windows.size >= maxKeys) windows.delete(windows.keys().next().value as string);
      }
      const result = slide(windows.get(key) ?? null, t, limit, windowMs);
      windows.set(key, { ...result.state, windowMs });
      return { allowed: result.allowed, retryAfterMs: result.retryAfterMs };
    },
  };
}
