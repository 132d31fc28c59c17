/**
 * The verified-token cache remembers a verification, never a failure, and never past the token's
 * expiry or its maximum age; tokens are told apart by their hash.
 */
import { describe, expect, test } from '@jest/globals';
import { createVerifiedTokenCache } from '../../src/auth/verified-token-cache.js';

const NOW = 1_800_000_000_000;

function counting(claimsOf: (token: string) => Record<string, unknown>) {
  const calls: string[] = [];
  const verify = async (token: string) => {
    calls.push(token);
    return claimsOf(token);
  };
  return { calls, verify };
}

describe('verified-token cache', () => {
  test('a token verified once is answered from the cache afterwards, with the same claims', async () => {
    const clock = { now: NOW };
    const cache = createVerifiedTokenCache({ maxEntries: 10, maxAgeMs: 60_000, now: () => clock.now });
    const inner = counting((t) => ({ sub: t, exp: NOW / 1000 + 3600 }));
    const verify = cache.wrap(inner.verify);
    const first = await verify('token-a');
    expect(await verify('token-a')).toBe(first);
    expect(inner.calls).toEqual(['token-a']);
    expect(await verify('token-b')).toEqual({ sub: 'token-b', exp: NOW / 1000 + 3600 });
    expect(inner.calls).toEqual(['token-a', 'token-b']);
  });

  test('at the token\'s expiry it is verified again (and the verifier refuses it)', async () => {
    const clock = { now: NOW };
    const cache = createVerifiedTokenCache({ maxEntries: 10, maxAgeMs: 600_000, now: () => clock.now });
    let expired = false;
    const verify = cache.wrap(async () => {
      if (expired) throw Object.assign(new Error('expired'), { code: 'token_expired' });
      return { exp: NOW / 1000 + 30 };
    });
    await verify('t');
    clock.now = NOW + 29_999;
    await expect(verify('t')).resolves.toBeDefined();
    clock.now = NOW + 30_000;
    expired = true;
    await expect(verify('t')).rejects.toMatchObject({ code: 'token_expired' });
  });

  test('an entry lives at most maxAge, whatever the token\'s expiry (a withdrawn key stops working)', async () => {
    const clock = { now: NOW };
    const cache = createVerifiedTokenCache({ maxEntries: 10, maxAgeMs: 60_000, now: () => clock.now });
    const inner = counting(() => ({ exp: NOW / 1000 + 86_400 }));
    const verify = cache.wrap(inner.verify);
    await verify('t');
    clock.now = NOW + 59_000;
    await verify('t');
    clock.now = NOW + 60_000;
    await verify('t');
    expect(inner.calls).toHaveLength(2);
  });

  test('failures are not remembered', async () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10, maxAgeMs: 60_000, now: () => NOW });
    let attempts = 0;
    const verify = cache.wrap(async () => {
      attempts++;
      throw new Error('bad signature');
    });
    await expect(verify('forged')).rejects.toThrow();
    await expect(verify('forged')).rejects.toThrow();
    expect(attempts).toBe(2);
    expect(cache.size).toBe(0);
  });

  test('tokens without a numeric exp, or already past it, are not cached; 0 seconds turns the cache off', async () => {
    const clock = { now: NOW };
    const cache = createVerifiedTokenCache({ maxEntries: 10, maxAgeMs: 60_000, now: () => clock.now });
    await cache.wrap(async () => ({ sub: 'no-exp' }))('a');
    await cache.wrap(async () => ({ exp: NOW / 1000 - 1 }))('b');
    expect(cache.size).toBe(0);
    const off = createVerifiedTokenCache({ maxEntries: 10, maxAgeMs: 0, now: () => clock.now });
    const inner = counting(() => ({ exp: NOW / 1000 + 60 }));
    const verify = off.wrap(inner.verify);
    await verify('c');
    await verify('c');
    expect(inner.calls).toHaveLength(2);
  });

  test('bounded: tokens not used for a while are forgotten first', async () => {
    const cache = createVerifiedTokenCache({ maxEntries: 2, maxAgeMs: 60_000, now: () => NOW });
    const inner = counting(() => ({ exp: NOW / 1000 + 60 }));
    const verify = cache.wrap(inner.verify);
    for (const t of ['a', 'b', 'c', 'd', 'e', 'a']) await verify(t);
    expect(inner.calls).toEqual(['a', 'b', 'c', 'd', 'e', 'a']);
    expect(cache.size).toBeLessThanOrEqual(4);
    // 'e' and 'd' are recent: still answered from the cache.
    await verify('e');
    await verify('d');
    expect(inner.calls).toHaveLength(6);
  });
});
