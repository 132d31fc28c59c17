/**
 * The auth state store on Redis, shared by every replica: revocations, DPoP replay markers and
 * introspection answers. One round trip per operation (`SET NX PX`, `SET PX`, `MGET`). Commands
 * fail fast while Redis is down (the connection's offline queue is off); the auth core decides what
 * a failure means (revocation and replay fail closed, the introspection cache is skipped).
 */
import type { RedisClient } from './connection.js';
import { StateStoreError, type AuthStateStore } from '../auth/state-store.js';

export function createRedisStateStore(client: RedisClient, keyPrefix: string): AuthStateStore {
  const k = (key: string): string => `${keyPrefix}auth:${key}`;
  const wrap = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      throw new StateStoreError('redis command failed', { cause: err });
    }
  };
  return {
    claimOnce: (key, ttlMs) => wrap(async () => (await client.set(k(key), '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX')) === 'OK'),
    put: (key, value, ttlMs) =>
      wrap(async () => {
        await client.set(k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs)));
      }),
    getMany: (keys) => (keys.length === 0 ? Promise.resolve([]) : wrap(() => client.mget(keys.map(k)))),
  };
}
