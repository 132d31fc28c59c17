/**
 * The IdP rotates its signing key while clients keep calling: no legitimate request fails, and
 * each rotation costs the IdP one JWKS fetch however many requests carry the new kid at once.
 * While the IdP is down, tokens signed by keys the gateway knows keep working; a token with a new
 * kid is "cannot verify now" (503), not "invalid", until the IdP is back.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { jsonOf, startStack, type Stack } from '../support/stack.js';

const alba = SYNTHETIC_PATIENTS[0]!;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ config: (d) => ({ ...d, auth: { issuer: (d.auth as { issuer: string }).issuer, jwksCooldownSeconds: 1 } }) });
});
afterAll(async () => {
  await stack.close();
});

const clinicianToken = () => stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });

describe('key rotation at the IdP', () => {
  test('under load, two rotations: every request succeeds, one JWKS fetch per rotation', async () => {
    const fetchesBefore = stack.issuer.jwksFetches();
    const statuses = new Map<number, number>();
    let stop = false;
    const worker = async () => {
      // Bounded: stops when told, or after 400 requests.
      for (let i = 0; i < 400 && !stop; i++) {
        const res = await stack.fetch(`Patient/${alba.id}`, { token: await clinicianToken() });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    let running = 8;
    const workers = Array.from({ length: running }, () => worker().finally(() => running--));
    const completed = () => [...statuses.values()].reduce((a, b) => a + b, 0);
    /** Until `n` more requests have been answered (the load really spans each rotation), not a fixed sleep. */
    const answered = async (n: number): Promise<void> => {
      const target = completed() + n;
      while (completed() < target && running > 0) await new Promise((r) => setTimeout(r, 5));
    };
    await answered(20);
    await stack.issuer.rotate();
    await answered(20);
    await new Promise((r) => setTimeout(r, 1100)); // past the 1 s unknown-kid cooldown (a time rule)
    await stack.issuer.rotate('RS256');
    await answered(20);
    stop = true;
    await Promise.all(workers);

    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThan(40);
    expect(stack.issuer.jwksFetches() - fetchesBefore).toBe(2);
  });

  test('the IdP down: known keys keep working, a new kid is 503 until the IdP is back', async () => {
    stack.issuer.setJwksAvailable(false);
    try {
      expect((await stack.fetch(`Patient/${alba.id}`, { token: await clinicianToken() })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100)); // the previous test's refetch is outside the cooldown now
      await stack.issuer.rotate();
      const res = await stack.fetch(`Patient/${alba.id}`, { token: await clinicianToken() });
      expect(res.status).toBe(503);
      expect((await jsonOf(res)).issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['auth_unavailable', 'token.keys-unavailable']);
    } finally {
      stack.issuer.setJwksAvailable(true);
    }
    await new Promise((r) => setTimeout(r, 1100));
    expect((await stack.fetch(`Patient/${alba.id}`, { token: await clinicianToken() })).status).toBe(200);
    const metrics = await (await fetch(`${new URL(stack.base).origin}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^fhirgw_jwks_fetches_total\\{issuer="${stack.issuer.issuer}",result="error"\\} [1-9]`, 'm'));
  });
});
