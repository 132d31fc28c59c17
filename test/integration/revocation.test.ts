/**
 * The revoked-token list in a real redis-server, shared by two gateway replicas: a token revoked
 * through one replica's admin endpoint is refused by the other. With Redis down the check fails
 * closed (503, nothing forwarded) unless `auth.revocation.onStoreError: allow` says otherwise,
 * and the list works again once Redis is back.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { testLogger } from '../support/logs.js';
import { startGateway, type RunningGateway } from '../../src/server.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { jsonOf, startStack, type Stack } from '../support/stack.js';

const alba = SYNTHETIC_PATIENTS[0]!;
const ADMIN_TOKEN = 'revocation-admin-credential-0123456789abcdef';
let redis: RedisServer;
let stack: Stack;
let replica: RunningGateway;
let lenient: RunningGateway;

const sharedRedis = (d: ConfigInput): ConfigInput => ({ ...d, redis: { url: redis.url, keyPrefix: 'revocation-test:' } });

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({ config: sharedRedis, env: { FHIRGW_ADMIN_TOKEN: ADMIN_TOKEN } });
  const replicaDoc = (extra: Partial<ConfigInput> = {}): ConfigInput =>
    sharedRedis({ listen: { host: '127.0.0.1', port: 0 }, publicBaseUrl: stack.base, upstream: { url: stack.fhir.baseUrl }, auth: { issuer: stack.issuer.issuer }, log: { level: 'silent' }, ...extra });
  replica = await startGateway(buildConfig(replicaDoc(), { env: {} }), { logger: testLogger('revocation'), env: {} });
  lenient = await startGateway(buildConfig(replicaDoc({ auth: { issuer: stack.issuer.issuer, revocation: { onStoreError: 'allow' } } }), { env: {} }), { logger: testLogger('revocation'), env: {} });
  await Promise.all([replica.ready, lenient.ready]);
});
afterAll(async () => {
  await lenient.close();
  await replica.close();
  await stack.close();
  await redis.stop();
});

const read = (gateway: { url: string }, token: string) => fetch(`${gateway.url}/fhir/Patient/${alba.id}`, { headers: { authorization: `Bearer ${token}` } });
const revoke = (body: Record<string, unknown>) =>
  fetch(`${new URL(stack.base).origin}/admin/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify(body) });
const codesOf = async (res: Response) => (await jsonOf(res)).issue[0].details.coding.map((c: { code: string }) => c.code);

describe('revocation shared across replicas', () => {
  test('a jti revoked through one replica is refused by the other', async () => {
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], jti: 'shared-jti-1' });
    expect((await read(replica, token)).status).toBe(200);
    expect((await revoke({ jti: 'shared-jti-1', exp: Math.floor(Date.now() / 1000) + 600 })).status).toBe(201);
    const before = stack.fhir.requests.length;
    const res = await read(replica, token);
    expect(res.status).toBe(401);
    expect(await codesOf(res)).toEqual(['token_revoked', 'token.revoked']);
    expect(stack.fhir.requests.length).toBe(before);
  });

  test('a client revoked through one replica: the other refuses every token issued to it until then, and answers a body naming two targets 400', async () => {
    const mint = (sub: string, clientId: string, iat?: number) => stack.issuer.mint({ sub, client_id: clientId, scope: 'user/*.rs', roles: ['clinician'], ...(iat === undefined ? {} : { iat }) });
    const [alice, bob, other] = await Promise.all([mint('Practitioner/a', 'ward-app'), mint('Practitioner/b', 'ward-app'), mint('Practitioner/a', 'lab-app')]);
    expect((await revoke({ client_id: 'ward-app' })).status).toBe(201);
    for (const token of [alice, bob]) {
      const res = await read(replica, token);
      expect(res.status).toBe(401);
      expect(await codesOf(res)).toEqual(['token_revoked', 'token.client-revoked']);
    }
    expect((await read(replica, other)).status).toBe(200);
    // A token issued after the revocation (the client's credential replaced) is accepted again.
    expect((await read(replica, await mint('Practitioner/a', 'ward-app', Math.floor(Date.now() / 1000) + 5))).status).toBe(200);
    const both = await revoke({ client_id: 'ward-app', sub: 'Practitioner/a' });
    expect(both.status).toBe(400);
    expect(await codesOf(both)).toContain('admin.jti-or-sub');
  });

  test('the admin endpoint is off where no admin credential is configured', async () => {
    const res = await fetch(`${replica.url}/admin/revocations`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` }, body: '{"jti":"x"}' });
    expect(res.status).toBe(404);
  });

  test('with Redis down: 503 and nothing forwarded (fail closed), or let through where configured; back to normal after', async () => {
    const token = await stack.issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'] });
    await redis.kill();
    try {
      const before = stack.fhir.requests.length;
      const res = await read(replica, token);
      expect(res.status).toBe(503);
      expect(await codesOf(res)).toEqual(['auth_state_unavailable', 'revocation.store']);
      expect(stack.fhir.requests.length).toBe(before);
      expect((await read(lenient, token)).status).toBe(200);
      const metrics = await (await fetch(`${lenient.url}/metrics`)).text();
      expect(metrics).toMatch(/^fhirgw_revocation_checks_bypassed_total [1-9]/m);
    } finally {
      await redis.restart();
    }
    // ioredis reconnects on its own (back-off up to 2 s); poll, bounded.
    let status = 0;
    for (let i = 0; i < 60 && status !== 200; i++) {
      status = (await read(replica, token)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  });
});
