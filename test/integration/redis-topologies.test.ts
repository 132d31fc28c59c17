/**
 * The gateway's shared state (revocations, rate-limit counters, the consent cache, and the audit
 * stream when it names no server of its own) through `redis.sentinel` and `redis.cluster`, against
 * a real Sentinel monitoring a real primary and a real one-node Cluster.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createConsentStore } from '../../src/consent/store.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createRedisClient, whenReady, type RedisClient } from '../../src/redis/connection.js';
import { until } from '../support/audit.js';
import { startRedisCluster, startRedisSentinel, startRedisServer, type RedisServer } from '../support/redis.js';
import { startStack } from '../support/stack.js';

const ADMIN_TOKEN = 'topologies-admin-token-0123456789abcdef';

/** Revocation, a shared rate limit and the audit stream through one gateway configured with `redis`. */
async function sharedStateWorks(redis: NonNullable<ConfigInput['redis']>, direct: () => RedisClient, prefix: string): Promise<void> {
  const stack = await startStack({
    env: { FHIRGW_ADMIN_TOKEN: ADMIN_TOKEN },
    config: (d) => ({ ...d, redis, rateLimit: { perUser: { requests: 2 } }, audit: { sinks: [{ type: 'redis', stream: `${prefix}audit` }] } }),
  });
  const client = direct();
  client.on('error', () => {});
  try {
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], jti: 'topology-jti' });
    expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(200);
    const revoked = await fetch(`${new URL(stack.base).origin}/admin/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ jti: 'topology-jti', exp: Math.floor(Date.now() / 1000) + 600 }) });
    expect(revoked.status).toBe(201);
    expect((await stack.fetch('Patient/pat-alba', { token })).status).toBe(401);

    const busy = await stack.issuer.mint({ sub: 'Practitioner/busy', scope: 'user/*.rs', roles: ['clinician'] });
    expect([(await stack.fetch('Patient/pat-alba', { token: busy })).status, (await stack.fetch('Patient/pat-alba', { token: busy })).status, (await stack.fetch('Patient/pat-alba', { token: busy })).status]).toEqual([200, 200, 429]);

    await whenReady(client);
    // The state really is in this Redis, under the prefix.
    const entries = await until(() => client.xrange(`${prefix}audit`, '-', '+'), (e) => e.length >= 5, 10000, 'the audit stream');
    expect(entries.length).toBeGreaterThanOrEqual(5);
    const keys = await client.keys(`${prefix}*`);
    expect(keys.some((k) => k.startsWith(`${prefix}ratelimit:user:`))).toBe(true);
    expect(keys.some((k) => k.startsWith(`${prefix}auth:`))).toBe(true);
  } finally {
    client.disconnect();
    await stack.close();
  }
}

describe('shared state through Sentinel', () => {
  let primary: RedisServer;
  let sentinel: { node: string; stop(): Promise<void> };
  beforeAll(async () => {
    primary = await startRedisServer();
    sentinel = await startRedisSentinel(primary, 'gateway-primary');
  });
  afterAll(async () => {
    await sentinel.stop();
    await primary.stop();
  });

  test('revocations, rate limits and the audit stream go to the primary the Sentinel names', async () => {
    await sharedStateWorks({ sentinel: { name: 'gateway-primary', nodes: [sentinel.node] } }, () => createRedisClient({ url: primary.url }), 'fhirgw:');
  });
});

describe('shared state through Cluster', () => {
  let cluster: { node: string; stop(): Promise<void> };
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  test('revocations, rate limits and the audit stream work with hash-tagged keys', async () => {
    await sharedStateWorks({ cluster: { nodes: [cluster.node] } }, () => createRedisClient({ cluster: { nodes: [cluster.node] } }, { enableOfflineQueue: true }), '{fhirgw}:');
  });

  test('forgetting every cached Consent scans the cluster\'s primaries', async () => {
    const client = createRedisClient({ cluster: { nodes: [cluster.node] } }, { enableOfflineQueue: true });
    client.on('error', () => {});
    try {
      await whenReady(client);
      await client.set('{fhirgw}:consent:pat-1', '[]');
      await client.set('{fhirgw}:consent:pat-2', '[]');
      await client.set('{fhirgw}:other', 'kept');
      const unused = { read: () => Promise.reject(new Error('unused')), search: () => Promise.reject(new Error('unused')) };
      await createConsentStore({ client: unused, ttlSeconds: 60, redis: { client, keyPrefix: '{fhirgw}:' } }).invalidate('all');
      expect(await client.keys('{fhirgw}:consent:*')).toEqual([]);
      expect(await client.get('{fhirgw}:other')).toBe('kept');
    } finally {
      client.disconnect();
    }
  });
});
