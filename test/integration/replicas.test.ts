/**
 * Two `fhir-gateway serve` processes behind one public base URL, sharing one real redis-server
 * (started, killed and restarted by the test), as replicas behind a Kubernetes Service: what one
 * learns the other enforces at once (a revocation, a rate-limit count, a new Consent), and a Redis
 * outage degrades both as documented and heals without restarting them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startFhirServer, type RunningFhirServer } from '../../src/devkit/fhir-server.js';
import { freePort } from '../../src/devkit/ports.js';
import { seedSyntheticData } from '../../src/devkit/synthetic-data.js';
import { startTokenIssuer, type TokenIssuer } from '../../src/devkit/token-issuer.js';
import { metricValue } from '../support/audit.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway.js';
import { eventually } from '../support/wait.js';

const PUBLIC_BASE = 'http://fhir.replicas.test/fhir';
const ADMIN_TOKEN = 'replicas-admin-token-0123456789abcdef';
let fhir: RunningFhirServer;
let issuer: TokenIssuer;
let redis: RedisServer;
let dir: string;
const replicas: Array<SpawnedGateway & { origin: string }> = [];

beforeAll(async () => {
  fhir = await startFhirServer();
  await seedSyntheticData(fhir.repo);
  issuer = await startTokenIssuer({ audience: PUBLIC_BASE });
  redis = await startRedisServer();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-replicas-'));
  for (const name of ['replica-a', 'replica-b']) {
    const port = await freePort();
    const yaml = [
      `listen: { host: 127.0.0.1, port: ${port} }`,
      `publicBaseUrl: ${PUBLIC_BASE}`,
      `upstream: { url: ${fhir.baseUrl} }`,
      `auth: { issuer: ${issuer.issuer} }`,
      `redis: { url: "${redis.url}" }`,
      'rateLimit: { perUser: { requests: 5, windowSeconds: 60 } }',
      // A long consent cache: only invalidation through Redis can make a new Consent count at once.
      'consent: { cacheTtlSeconds: 600 }',
      `audit: { sinks: [ { type: file, path: ./${name}-audit.jsonl } ] }`,
      'log: { level: trace }',
      '',
    ].join('\n');
    const g = await spawnGateway(dir, name, yaml, { FHIRGW_ADMIN_TOKEN: ADMIN_TOKEN });
    replicas.push({ ...g, origin: `http://127.0.0.1:${port}` });
  }
}, 60000);

afterAll(async () => {
  for (const g of replicas) g.kill();
  await redis.stop();
  await issuer.close();
  await fhir.close();
  rmSync(dir, { recursive: true, force: true });
});

const [a, b] = [() => replicas[0]!, () => replicas[1]!];
const get = (replica: { origin: string }, pathAndQuery: string, token: string) => fetch(`${replica.origin}/fhir/${pathAndQuery}`, { headers: { authorization: `Bearer ${token}` } });
const readAudit = (file: string): Array<Record<string, unknown>> =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
const codesOf = async (res: Response): Promise<string[]> => ((await res.json()) as { issue: Array<{ details: { coding: Array<{ code: string }> } }> }).issue[0]!.details.coding.map((c) => c.code);

describe('two replicas sharing one Redis', () => {
  test('a token revoked through one replica is refused by the other', async () => {
    const token = await issuer.mint({ sub: 'Practitioner/revoked-user', scope: 'user/*.rs', roles: ['clinician'], jti: 'replicas-jti-1' });
    expect((await get(b(), 'Patient/pat-alba', token)).status).toBe(200);
    const revoked = await fetch(`${a().origin}/admin/revocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ jti: 'replicas-jti-1', exp: Math.floor(Date.now() / 1000) + 600 }),
    });
    expect(revoked.status).toBe(201);
    const refused = await get(b(), 'Patient/pat-alba', token);
    expect(refused.status).toBe(401);
    expect(await codesOf(refused)).toEqual(['token_revoked', 'token.revoked']);
  });

  test('a rate limit is shared: requests through either replica count against one limit', async () => {
    const token = await issuer.mint({ sub: 'Practitioner/busy-user', scope: 'user/*.rs', roles: ['clinician'] });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(i % 2 === 0 ? a() : b(), 'Patient/pat-alba', token)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    for (const replica of [a(), b()]) {
      const res = await get(replica, 'Patient/pat-alba', token);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await codesOf(res)).toEqual(['rate_limited', 'ratelimit.user']);
    }
  });

  test('a Consent written through one replica is enforced by the other at once', async () => {
    const token = await issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.cruds', roles: ['clinician'], purpose_of_use: ['TREAT'] });
    // Replica B reads Chen's data: no Consent on file, and that answer is now cached (600 s) in Redis.
    expect((await get(b(), 'Observation/obs-pat-chen-0', token)).status).toBe(200);
    const consent = {
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: 'Patient/pat-chen' },
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
      provision: { type: 'deny' },
    };
    // Chen opts out, through replica A (a patient may always write their own data).
    const chen = await issuer.mint({ sub: 'Patient/pat-chen', scope: 'launch/patient patient/*.cruds', patient: 'pat-chen', roles: ['patient'] });
    const written = await fetch(`${a().origin}/fhir/Consent`, { method: 'POST', headers: { authorization: `Bearer ${chen}`, 'content-type': 'application/fhir+json' }, body: JSON.stringify(consent) });
    expect({ status: written.status, codes: written.status === 201 ? [] : await codesOf(written) }).toEqual({ status: 201, codes: [] });
    const refused = await get(b(), 'Observation/obs-pat-chen-0', token);
    // Withheld answers as missing; replica B's audit record says the Consent did it.
    expect(refused.status).toBe(404);
    const requestId = refused.headers.get('x-request-id') as string;
    const record = await eventually(
      async () => readAudit(path.join(dir, 'replica-b-audit.jsonl')).find((r) => r['requestId'] === requestId),
      (r) => r !== undefined,
      'replica B\'s audit record of the refused read',
    );
    expect((record!['outcome'] as { reasons: string[] }).reasons.filter((c) => c.startsWith('consent.'))).toEqual(['consent.deny.base']);
  });

  test('Redis killed: both replicas refuse (503, revocation fails closed); Redis back: both recover without a restart', async () => {
    const token = await issuer.mint({ sub: 'Practitioner/outage-user', scope: 'user/*.rs', roles: ['clinician'] });
    await redis.kill();
    try {
      for (const replica of [a(), b()]) {
        const res = await get(replica, 'Patient/pat-alba', token);
        expect(res.status).toBe(503);
        expect(await codesOf(res)).toEqual(['auth_state_unavailable', 'revocation.store']);
        expect(await metricValue(replica.origin, 'fhirgw_redis_up')).toBe(0);
        // Still alive and ready: Redis is shared by every replica, so it is not part of readiness.
        expect((await fetch(`${replica.origin}/readyz`)).status).toBe(200);
      }
    } finally {
      await redis.restart();
    }
    for (const replica of [a(), b()]) {
      let status = 0;
      const deadline = Date.now() + 15000;
      while (status !== 200 && Date.now() < deadline) {
        status = (await get(replica, 'Patient/pat-alba', token)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
      expect(await metricValue(replica.origin, 'fhirgw_redis_up')).toBe(1);
    }
    expect(replicas.every((r) => r.child.exitCode === null)).toBe(true);
    expect(replicas.map((r) => r.output()).join('')).toContain('redis reconnected');
  });
});
