/**
 * IdP faults (issue 10, point 2), over real HTTP: the gateway's JWKS endpoint is a scripted server
 * in front of the real token issuer's key set, made slow, down, redirecting or answering garbage on
 * demand. Whatever it does, tokens signed by keys the gateway already holds keep working, promptly;
 * a token with a new `kid` is "cannot verify now" (503 auth_unavailable) within the fetch deadline,
 * never accepted and never "invalid"; and once the IdP is healthy the new key is picked up by itself.
 * (JWKS down with the issuer's own endpoint, and rotation under load: key-rotation.test.ts; the
 * cache's rules on a fake IdP: unit/jwks-cache.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AUTH_FETCH_TIMEOUT_MS } from '../../src/auth/from-config.js';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { answer, hang, hangUp, startScriptedUpstream, type Behaviour, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { jsonOf, startStack, type Stack } from '../support/stack.js';

const alba = SYNTHETIC_PATIENTS[0]!;
/** The gateway's deadline for a JWKS fetch. */
const JWKS_TIMEOUT_MS = AUTH_FETCH_TIMEOUT_MS;
/** Long enough that a fault answered at once is retried only after it, even on a loaded machine. */
const COOLDOWN_MS = 2000;

let stack: Stack;
let jwks: ScriptedUpstream;
/** The real issuer's key set (known from the stack's config, before the stack is up). */
let realJwks = '';

/** The real key set, passed through. */
const healthy: Behaviour = (_req, res) => {
  void fetch(realJwks)
    .then((r) => r.text())
    .then((body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
};

beforeAll(async () => {
  jwks = await startScriptedUpstream(healthy);
  stack = await startStack({
    config: (d) => {
      const { issuer } = d.auth as { issuer: string };
      realJwks = `${issuer}/jwks`;
      return { ...d, auth: { issuer, jwksUri: `${jwks.url}/jwks`, jwksCooldownSeconds: COOLDOWN_MS / 1000 } };
    },
  });
});
afterAll(async () => {
  await stack.close();
  await jwks.close();
});

const token = (key = stack.issuer.keys.at(-1)!) => stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'] }, { key });
const timed = async (t: string) => {
  const started = performance.now();
  const res = await stack.fetch(`Patient/${alba.id}`, { token: t });
  const body = await jsonOf(res);
  return { status: res.status, ms: performance.now() - started, codes: body.resourceType === 'OperationOutcome' ? body.issue[0].details.coding.map((c: { code: string }) => c.code) : [] };
};
const pastCooldown = () => new Promise((r) => setTimeout(r, COOLDOWN_MS + 100));

describe('a JWKS endpoint that misbehaves', () => {
  // `hangs`: the failed fetch lasts the whole deadline, longer than the cooldown (which counts from
  // the attempt's start), so the next new-kid token may ask again; any other fault fails at once.
  test.each<[string, Behaviour, { hangs: boolean }]>([
    ['slow (never answers)', hang, { hangs: true }],
    ['down (closes connections)', hangUp, { hangs: false }],
    ['answering 503', answer(503, { 'content-type': 'application/json' }, '{"error":"temporarily_unavailable"}'), { hangs: false }],
    ['answering HTML', answer(200, { 'content-type': 'text/html' }, '<html>maintenance</html>'), { hangs: false }],
    ['answering truncated JSON', answer(200, { 'content-type': 'application/json' }, '{"keys":[{"kty":"EC","crv":"P-256",'), { hangs: false }],
    ['answering a key set of the wrong shape', answer(200, { 'content-type': 'application/json' }, '{"keys":"none"}'), { hangs: false }],
    ['answering an empty key set', answer(200, { 'content-type': 'application/json' }, '{"keys":[]}'), { hangs: false }],
    ['answering a huge body', answer(200, { 'content-type': 'application/json' }, `{"keys":[],"pad":"${'x'.repeat(8 * 1024 * 1024)}"}`), { hangs: false }],
    ['redirecting elsewhere', answer(302, { location: 'http://127.0.0.1:9/jwks' }, ''), { hangs: false }],
  ])('%s: known keys keep working, a new kid is 503 in time, and the key is picked up once it recovers', async (_name, fault, { hangs }) => {
    const known = stack.issuer.keys.at(-1)!;
    await pastCooldown();
    jwks.behave = fault;
    try {
      // A token signed by a key the gateway holds does not ask the IdP at all.
      let hits = jwks.hits();
      expect((await timed(await token(known))).status).toBe(200);
      expect(jwks.hits()).toBe(hits);

      // The IdP rotates; the gateway cannot fetch the new key: "cannot verify now", not "invalid",
      // within the fetch deadline (plus the gateway's own work on a loaded machine).
      const rotated = await stack.issuer.rotate();
      hits = jwks.hits();
      const fresh = await timed(await token(rotated));
      expect([fresh.status, fresh.codes]).toEqual([503, ['auth_unavailable', 'token.keys-unavailable']]);
      expect(jwks.hits()).toBe(hits + 1);
      expect(fresh.ms).toBeLessThan(JWKS_TIMEOUT_MS + 1500);
      if (hangs) expect(fresh.ms).toBeGreaterThanOrEqual(JWKS_TIMEOUT_MS - 5);

      // The next new-kid token: within the cooldown it is refused without asking the IdP again;
      // after a hung fetch the cooldown is over, so the IdP is asked once more, with the same answer.
      hits = jwks.hits();
      const again = await timed(await token(rotated));
      expect([again.status, again.codes]).toEqual([503, ['auth_unavailable', 'token.keys-unavailable']]);
      expect(jwks.hits()).toBe(hangs ? hits + 1 : hits);

      // The known key still works, still without asking.
      hits = jwks.hits();
      expect((await timed(await token(known))).status).toBe(200);
      expect(jwks.hits()).toBe(hits);
    } finally {
      jwks.behave = healthy;
    }
    await pastCooldown();
    expect((await timed(await token())).status).toBe(200);
  }, 30_000);
});
