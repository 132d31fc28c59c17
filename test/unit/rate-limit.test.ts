import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { principalWith as createPrincipal } from '../support/principal.js';
import { createMemoryRateLimitStore, createRateLimiter } from '../../src/ratelimit/limiter.js';
import { slide, type WindowState } from '../../src/ratelimit/sliding-window.js';
import { GatewayError } from '../../src/errors.js';

describe('sliding window', () => {
  test('the limit holds within a window, and the previous window fades out', () => {
    let state: WindowState | null = null;
    const at = (t: number) => {
      const r = slide(state, t, 3, 1000);
      state = r.state;
      return r;
    };
    expect([at(0), at(10), at(20)].map((r) => r.allowed)).toEqual([true, true, true]);
    const refused = at(30);
    expect(refused.allowed).toBe(false);
    // Only the next window helps, and only once the 3 of this one weigh less than 2.
    expect(refused.retryAfterMs).toBe(970 + 334);
    expect(at(1300).allowed).toBe(false);
    expect(at(1334).allowed).toBe(true);
  });

  test('after the retry-after it gives, a request fits; a millisecond earlier it does not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 100, max: 100_000 }), fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 80 }), (limit, windowMs, gaps) => {
        let state: WindowState | null = null;
        let t = 1_700_000_000_000;
        for (const gap of gaps) {
          t += gap;
          const r = slide(state, t, limit, windowMs);
          if (!r.allowed) {
            expect(slide(r.state, t + r.retryAfterMs, limit, windowMs).allowed).toBe(true);
            if (r.retryAfterMs > 1) expect(slide(r.state, t + r.retryAfterMs - 1, limit, windowMs).allowed).toBe(false);
          }
          state = r.state;
          expect(state.current).toBeLessThanOrEqual(limit);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('rate limiter', () => {
  const config = { perUser: { requests: 2, windowSeconds: 60 }, perClient: { requests: 3, windowSeconds: 60 }, onStoreError: 'allow' as const };

  test('the user limit is checked first; the client limit counts all its users; refusals carry Retry-After', async () => {
    let now = 1_700_000_000_000;
    const limited: string[] = [];
    const limiter = createRateLimiter(config, createMemoryRateLimitStore({ now: () => now }), { limited: (l) => limited.push(l), storeError: () => {} });
    const alice = createPrincipal({ sub: 'alice', client_id: 'app' });
    const bob = createPrincipal({ sub: 'bob', client_id: 'app' });
    await limiter.check(alice);
    await limiter.check(alice);
    const userRefusal = await limiter.check(alice).catch((e: unknown) => e);
    expect(userRefusal).toBeInstanceOf(GatewayError);
    expect(userRefusal).toMatchObject({ code: 'rate_limited', status: 429, reasons: ['ratelimit.user'] });
    expect((userRefusal as GatewayError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await limiter.check(bob); // the client's third request
    await expect(limiter.check(bob)).rejects.toMatchObject({ code: 'rate_limited', reasons: ['ratelimit.client'] });
    expect(limited).toEqual(['user', 'client']);
    now += 120_000; // two windows later everything has faded
    await limiter.check(alice);
  });

  test('a failing store lets requests through or refuses them with 503, as configured, and says so', async () => {
    const broken = { hit: async () => Promise.reject(new Error('ECONNREFUSED')) };
    const events: string[] = [];
    const allow = createRateLimiter(config, broken, { limited: () => {}, storeError: (o) => events.push(o) });
    await allow.check(createPrincipal({ sub: 'alice', client_id: 'app' }));
    const deny = createRateLimiter({ ...config, onStoreError: 'deny' }, broken, { limited: () => {}, storeError: (o) => events.push(o) });
    await expect(deny.check(createPrincipal({ sub: 'alice', client_id: 'app' }))).rejects.toMatchObject({ code: 'rate_limit_unavailable', status: 503 });
    expect(events).toEqual(['allowed', 'refused']);
  });
});
