/**
 * Volume counts in Redis, shared by every detector replica: per user and hour a set of (hashed)
 * patient ids, and per user a hash hour -> distinct count, both expiring after the window. One Lua
 * script adds and counts atomically, so two replicas adding to one hour see one count. The keys of
 * a user carry a hash tag: in Redis Cluster they live in one slot. Patient ids and users are hashed
 * (Redis holds no identifiers), and only the gateway's own detector reads them.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/connection.js';
import type { VolumeState } from './volume.js';

// KEYS: hour set, user hash. ARGV: patient, hour, ttl seconds.
const ADD = `
redis.call('SADD', KEYS[1], ARGV[1])
local n = redis.call('SCARD', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], n)
redis.call('EXPIRE', KEYS[2], ARGV[3])
return n`;

const digest = (value: string): string => createHash('sha256').update(value).digest('base64url').slice(0, 22);

export function createRedisVolumeState(client: RedisClient, keyPrefix: string, windowHours: number): VolumeState {
  const ttl = String((windowHours + 2) * 3600);
  const keys = (user: string): { tag: string; hours: string } => {
    const tag = `${keyPrefix}detect:vol:{${digest(user)}}`;
    return { tag, hours: `${tag}:hours` };
  };
  return {
    async add(user, hour, patient) {
      const { tag, hours } = keys(user);
      return Number(await client.eval(ADD, 2, `${tag}:${hour}`, hours, digest(patient), String(hour), ttl));
    },
    async history(user, fromHour, toHour) {
      const { hours } = keys(user);
      const all = await client.hgetall(hours);
      const out: number[] = [];
      const stale: string[] = [];
      for (const [h, n] of Object.entries(all)) {
        const hour = Number(h);
        if (hour >= fromHour && hour < toHour) out.push(Number(n));
        else if (hour < fromHour) stale.push(h);
      }
      // Hours that slid out of the window are dropped as they are met (the hash expires as a whole only when the user is idle).
      if (stale.length > 0) await client.hdel(hours, ...stale);
      return out;
    },
  };
}
