/**
 * The JWKS cache: last good keys kept, single flight, rotation picked up at once, unknown-kid floods
 * limited by the cooldown. Real keys and real jose; the IdP is a function the test controls, the
 * clock is injected.
 */
import { describe, expect, test } from '@jest/globals';
import { errors as joseErrors, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose';
import { createJwksCache, type JwksFetchResult } from '../../src/auth/jwks-cache.js';
import { GatewayError } from '../../src/errors.js';
import { newSigningKey, type SigningKey } from '../../src/devkit/token-issuer.js';

const TOKEN: FlattenedJWSInput = { payload: '', signature: '' };
const headerOf = (key: SigningKey, kid = key.kid): JWSHeaderParameters => ({ alg: key.alg, kid });

function fakeIdp(initial: SigningKey[]) {
  let keys = [...initial];
  let failing = false;
  let calls = 0;
  let gate: Promise<void> | null = null;
  return {
    load: async () => {
      calls++;
      if (gate) await gate;
      if (failing) throw new Error('IdP down');
      return { keys: keys.map((k) => k.publicJwk) };
    },
    publish: (next: SigningKey[]) => (keys = [...next]),
    fail: (on: boolean) => (failing = on),
    hold: () => {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = null;
        release();
      };
    },
    calls: () => calls,
  };
}

function cacheFor(idp: ReturnType<typeof fakeIdp>, clock: { t: number }, events: Array<[JwksFetchResult, string]> = []) {
  return createJwksCache({ load: idp.load, maxAgeMs: 600_000, cooldownMs: 10_000, now: () => clock.t, onFetch: (r, why) => events.push([r, why]) });
}

const errorOf = async (p: Promise<unknown>): Promise<unknown> => p.then(() => 'resolved', (e: unknown) => e);

describe('JWKS cache', () => {
  test('a failed fetch says whether keys stay in use: none at first start, the last good ones after', async () => {
    const a = await newSigningKey();
    const idp = fakeIdp([a]);
    const clock = { t: 0 };
    const failures: boolean[] = [];
    const cache = createJwksCache({ load: idp.load, maxAgeMs: 600_000, cooldownMs: 10_000, now: () => clock.t, onFailure: (_err, keysInUse) => failures.push(keysInUse) });
    idp.fail(true);
    await errorOf(cache.warmUp());
    expect(failures).toEqual([false]);
    idp.fail(false);
    clock.t = 10_001;
    await cache.warmUp();
    idp.fail(true);
    clock.t = 700_000; // stale: the next token triggers a background refresh, which fails
    await cache.resolve(headerOf(a), TOKEN);
    await new Promise((r) => setImmediate(r));
    expect(failures).toEqual([false, true]);
  });

  test('concurrent first requests share one fetch', async () => {
    const a = await newSigningKey();
    const idp = fakeIdp([a]);
    const cache = cacheFor(idp, { t: 0 });
    await Promise.all(Array.from({ length: 20 }, () => cache.resolve(headerOf(a), TOKEN)));
    expect(idp.calls()).toBe(1);
    expect(cache.isLoaded()).toBe(true);
  });

  test('a rotated key is fetched at its first token, concurrent new-kid tokens share that fetch', async () => {
    const a = await newSigningKey();
    const b = await newSigningKey();
    const idp = fakeIdp([a]);
    const clock = { t: 0 };
    const events: Array<[JwksFetchResult, string]> = [];
    const cache = cacheFor(idp, clock, events);
    await cache.warmUp();
    clock.t = 1000; // well within the cooldown of the initial fetch: the initial fetch does not count against it
    idp.publish([a, b]);
    await Promise.all(Array.from({ length: 10 }, () => cache.resolve(headerOf(b), TOKEN)));
    expect(idp.calls()).toBe(2);
    expect(events).toEqual([['ok', 'initial'], ['ok', 'unknown-kid']]);
  });

  test('a flood of unknown kids costs one fetch per cooldown, and is refused without one in between', async () => {
    const a = await newSigningKey();
    const idp = fakeIdp([a]);
    const clock = { t: 0 };
    const cache = cacheFor(idp, clock);
    await cache.warmUp();
    for (let i = 0; i < 50; i++) expect(await errorOf(cache.resolve(headerOf(a, `forged-${i}`), TOKEN))).toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect(idp.calls()).toBe(2);
    clock.t = 10_001;
    expect(await errorOf(cache.resolve(headerOf(a, 'forged-x'), TOKEN))).toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect(idp.calls()).toBe(3);
  });

  test('when the IdP is down, the last good keys keep working and the stale refresh is not retried on every request', async () => {
    const a = await newSigningKey();
    const idp = fakeIdp([a]);
    const clock = { t: 0 };
    const events: Array<[JwksFetchResult, string]> = [];
    const cache = cacheFor(idp, clock, events);
    await cache.warmUp();
    idp.fail(true);
    clock.t = 700_000; // stale
    await cache.resolve(headerOf(a), TOKEN);
    await new Promise((r) => setImmediate(r)); // let the background refresh fail
    for (let i = 0; i < 20; i++) await cache.resolve(headerOf(a), TOKEN);
    expect(idp.calls()).toBe(2);
    expect(events).toEqual([['ok', 'initial'], ['error', 'refresh']]);
  });

  test('an unknown kid while the IdP is down is "cannot verify now" (503), not "invalid"', async () => {
    const a = await newSigningKey();
    const idp = fakeIdp([a]);
    const cache = cacheFor(idp, { t: 0 });
    await cache.warmUp();
    idp.fail(true);
    const err = await errorOf(cache.resolve(headerOf(a, 'new-kid'), TOKEN));
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('auth_unavailable');
  });

  test('an empty or malformed key set never replaces working keys', async () => {
    const a = await newSigningKey();
    const b = await newSigningKey();
    const clock = { t: 0 };
    let doc: unknown = { keys: [a.publicJwk] };
    const events: JwksFetchResult[] = [];
    const cache = createJwksCache({ load: async () => doc, maxAgeMs: 600_000, cooldownMs: 10_000, now: () => clock.t, onFetch: (r) => events.push(r) });
    await cache.warmUp();
    doc = { keys: [] };
    expect((await errorOf(cache.resolve(headerOf(b), TOKEN)) as GatewayError).code).toBe('auth_unavailable');
    clock.t = 20_000;
    doc = { nope: true };
    expect((await errorOf(cache.resolve(headerOf(b), TOKEN)) as GatewayError).code).toBe('auth_unavailable');
    await expect(cache.resolve(headerOf(a), TOKEN)).resolves.toBeDefined();
    expect(events).toEqual(['ok', 'invalid', 'invalid']);
  });

  test('a key the IdP removed is no longer trusted after the next successful fetch', async () => {
    const a = await newSigningKey();
    const b = await newSigningKey();
    const idp = fakeIdp([a]);
    const cache = cacheFor(idp, { t: 0 });
    await cache.warmUp();
    idp.publish([b]); // a compromised, withdrawn
    await cache.resolve(headerOf(b), TOKEN); // unknown kid: refetch
    expect(await errorOf(cache.resolve(headerOf(a), TOKEN))).toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
  });

  test('a failed first load is 503 and is not retried more than once per cooldown', async () => {
    const a = await newSigningKey();
    const idp = fakeIdp([a]);
    idp.fail(true);
    const clock = { t: 0 };
    const cache = cacheFor(idp, clock);
    for (let i = 0; i < 5; i++) expect((await errorOf(cache.resolve(headerOf(a), TOKEN)) as GatewayError).code).toBe('auth_unavailable');
    expect(idp.calls()).toBe(1);
    idp.fail(false);
    clock.t = 10_000;
    await expect(cache.resolve(headerOf(a), TOKEN)).resolves.toBeDefined();
    expect(idp.calls()).toBe(2);
  });

  test('a request for an unknown kid waits for a fetch already in flight instead of starting another', async () => {
    const a = await newSigningKey();
    const b = await newSigningKey();
    const idp = fakeIdp([a]);
    const clock = { t: 0 };
    const cache = cacheFor(idp, clock);
    await cache.warmUp();
    idp.publish([a, b]);
    const release = idp.hold();
    const first = cache.resolve(headerOf(b), TOKEN);
    const second = cache.resolve(headerOf(b), TOKEN);
    release();
    await Promise.all([first, second]);
    expect(idp.calls()).toBe(2);
  });

  test('keys whose type does not fit the algorithm are never used (key type must match alg)', async () => {
    const ec = await newSigningKey('ES256');
    const cache = cacheFor(fakeIdp([ec]), { t: 0 });
    await cache.warmUp();
    expect(await errorOf(cache.resolve({ alg: 'RS256', kid: ec.kid }, TOKEN))).toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    expect(await errorOf(cache.resolve({ alg: 'HS256', kid: ec.kid }, TOKEN))).toBeInstanceOf(joseErrors.JOSENotSupported);
  });
});
