/**
 * Rate limits on real requests (429 with Retry-After and an OperationOutcome, audited, counted) and
 * the Redis counter store on a real redis-server (atomic across connections, as replicas need).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRedisClient, whenReady } from '../../src/redis/connection.js';
import { createRedisRateLimitStore } from '../../src/redis/rate-limit-store.js';
import { metricValue } from '../support/audit.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { auditRecordOf, jsonOf, startStack, type Stack } from '../support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ config: (c) => ({ ...c, rateLimit: { perUser: { requests: 3, windowSeconds: 60 } } }) });
});
afterAll(async () => {
  await stack.close();
});

describe('rate limits on the FHIR API', () => {
  test('past its limit a user gets 429 with Retry-After and an OperationOutcome; other users are not affected', async () => {
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await stack.fetch('Patient/pat-alba', { token })).status);
    expect(statuses).toEqual([200, 200, 200]);
    const refused = await stack.fetch('Patient/pat-alba', { token });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(120);
    const outcome = await jsonOf(refused);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].code).toBe('throttled');
    expect(outcome.issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['rate_limited', 'ratelimit.user']);
    expect((await auditRecordOf(stack, refused.headers.get('x-request-id')!)).outcome).toMatchObject({ status: 429, error: 'rate_limited', decision: 'deny' });
    expect(await metricValue(new URL(stack.base).origin, 'fhirgw_rate_limited_total', { limit: 'user' })).toBe(1);
    const other = await stack.issuer.mint({ sub: 'Practitioner/other', scope: 'user/*.rs', roles: ['clinician'] });
    expect((await stack.fetch('Patient/pat-alba', { token: other })).status).toBe(200);
  });
});

describe('the Redis counter store', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });

  test('counts atomically across connections: of 40 concurrent requests through two clients, exactly the limit pass', async () => {
    const clients = [createRedisClient({ url: redis.url }), createRedisClient({ url: redis.url })];
    try {
      await Promise.all(clients.map((c) => whenReady(c)));
      const stores = clients.map((c) => createRedisRateLimitStore(c, 'fhirgw:'));
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 2]!.hit('user:shared', 10, 60_000)));
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
      for (const r of results.filter((r) => !r.allowed)) {
        expect(r.retryAfterMs).toBeGreaterThan(0);
        expect(r.retryAfterMs).toBeLessThanOrEqual(120_000);
      }
      // One hash per key, expiring after two windows: nothing piles up.
      const ttl = await clients[0]!.pttl('fhirgw:ratelimit:user:shared');
      expect(ttl).toBeGreaterThan(60_000);
      expect(ttl).toBeLessThanOrEqual(120_000);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});
