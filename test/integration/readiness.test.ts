/**
 * /readyz says what is not ready (the policy, which issuer's keys, the audit spool, shutdown) and
 * shows Redis and the sinks' backlogs without letting them decide readiness; never a secret. A real
 * redis-server, a real token issuer, a port nothing listens on for an unreachable IdP.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { freePort } from '../../src/devkit/ports.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { startStack, type Stack } from '../support/stack.js';

interface ReadyBody {
  status: string;
  notReady: string[];
  checks: { shutdown: string; policy: { loaded: boolean; revision: string | null }; issuers: Array<{ issuer: string; keys: string }>; auditSpool: string; auditSinks: Array<{ name: string; undelivered: number }>; redis: string };
}

async function readyz(stack: Stack): Promise<{ status: number; text: string; body: ReadyBody }> {
  const res = await fetch(`${new URL(stack.base).origin}/readyz`);
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as ReadyBody };
}

describe('a ready gateway with Redis', () => {
  let redis: RedisServer;
  let stack: Stack;
  const password = 's3cret-redis-pass';
  beforeAll(async () => {
    redis = await startRedisServer();
    // The server takes no password; ioredis sends it anyway, so the URL carries one to be kept out of /readyz.
    stack = await startStack({ config: (c) => ({ ...c, redis: { url: `redis://:${password}@127.0.0.1:${redis.port}/0` } }) });
  });
  afterAll(async () => {
    await stack.close();
    await redis.stop();
  });

  test('answers 200 with every check, and no secret', async () => {
    const { status, text, body } = await readyz(stack);
    expect(status).toBe(200);
    expect(body).toEqual({
      status: 'ready',
      notReady: [],
      checks: {
        shutdown: 'running',
        policy: { loaded: true, revision: expect.stringMatching(/^[0-9a-f]+$/) },
        issuers: [{ issuer: stack.issuer.issuer, keys: 'loaded' }],
        auditSpool: 'writable',
        auditSinks: [{ name: 'file', undelivered: expect.any(Number) }],
        redis: 'ready',
      },
    });
    expect(text).not.toContain(password);
    expect(text).not.toContain(String(redis.port));
  });

  test('a Redis outage shows, and the replica stays ready (Redis is shared by every replica)', async () => {
    await redis.kill();
    try {
      let seen = await readyz(stack);
      // Until ioredis notices the closed connection (an event, not a timer: poll its effect).
      for (let i = 0; i < 200 && seen.body.checks.redis === 'ready'; i++) {
        await new Promise((r) => setTimeout(r, 25));
        seen = await readyz(stack);
      }
      expect(seen.status).toBe(200);
      expect(seen.body.checks.redis).toBe('unavailable');
      expect(seen.body.notReady).toEqual([]);
    } finally {
      await redis.restart();
    }
  });
});

describe('a gateway whose issuer cannot be reached', () => {
  let stack: Stack;
  let idp: string;
  beforeAll(async () => {
    const port = await freePort();
    idp = `http://127.0.0.1:${port}`;
    // The standard stack, pointed at a second issuer nothing answers for.
    stack = await startStack({ config: (c) => ({ ...c, auth: { issuers: [{ issuer: (c.auth as { issuer: string }).issuer }, { issuer: idp, jwksUri: `${idp}/jwks` }] } }), waitReady: false });
  });
  afterAll(() => stack.close());

  test('answers 503 naming that issuer, and only that one', async () => {
    // Ready for the reachable issuer once its keys are in: then only the other one is missing.
    let seen = await readyz(stack);
    for (let i = 0; i < 200 && seen.body.checks.issuers[0]?.keys !== 'loaded'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      seen = await readyz(stack);
    }
    const { status, body } = seen;
    expect(status).toBe(503);
    expect(body.status).toBe('not-ready');
    expect(body.notReady).toEqual([`issuer:${idp}`]);
    expect(body.checks.issuers).toEqual([
      { issuer: stack.issuer.issuer, keys: 'loaded' },
      { issuer: idp, keys: 'not-loaded' },
    ]);
    expect(body.checks.redis).toBe('not-configured');
  });
});
