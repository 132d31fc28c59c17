/**
 * Where authentication keeps what replicas must agree on: revoked tokens and subjects, DPoP proof
 * identifiers already seen, introspection answers. The interface is all the auth core knows;
 * `createMemoryStateStore` is the per-process store (one replica, tests, the demo), and
 * src/redis/auth-state-store.ts the shared one.
 *
 * Keys are built by the callers from hashes, never from raw tokens.
 */

export interface AuthStateStore {
  /** Stores `key` unless present; true if it was stored (first use), false if it was there (replay). */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  put(key: string, value: string, ttlMs: number): Promise<void>;
  /** Values of the keys, null where absent or expired. */
  getMany(keys: readonly string[]): Promise<Array<string | null>>;
}

/** The store is full or unreachable: callers decide whether that fails closed. */
export class StateStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateStoreError';
  }
}

export interface MemoryStoreOptions {
  readonly maxEntries: number;
  /**
   * When full (after dropping expired entries): `evict-oldest` for caches, where forgetting costs a
   * refetch; `refuse` for revocations and replay markers, where forgetting would let a token through.
   */
  readonly whenFull: 'evict-oldest' | 'refuse';
  readonly now?: () => number;
}

export function createMemoryStateStore(options: MemoryStoreOptions): AuthStateStore {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { value: string; expiresAt: number }>();

  const live = (key: string): string | null => {
    const e = entries.get(key);
    if (e === undefined) return null;
    if (e.expiresAt <= now()) {
      entries.delete(key);
      return null;
    }
    return e.value;
  };

  const makeRoom = (): void => {
    if (entries.size < options.maxEntries) return;
    const t = now();
    for (const [k, e] of entries) if (e.expiresAt <= t) entries.delete(k);
    if (entries.size < options.maxEntries) return;
    if (options.whenFull === 'refuse') throw new StateStoreError('memory state store is full');
    const oldest = entries.keys().next();
    if (!oldest.done) entries.delete(oldest.value);
  };

  const set = (key: string, value: string, ttlMs: number): void => {
    entries.delete(key); // re-insert: Map order is insertion order, the oldest goes first
    makeRoom();
    entries.set(key, { value, expiresAt: now() + ttlMs });
  };

  return {
    async claimOnce(key, ttlMs) {
      if (live(key) !== null) return false;
      set(key, '1', ttlMs);
      return true;
    },
    async put(key, value, ttlMs) {
      set(key, value, ttlMs);
    },
    async getMany(keys) {
      return keys.map(live);
    },
  };
}
