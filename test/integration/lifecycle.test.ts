/**
 * Graceful shutdown of a real `fhir-gateway serve` process behind a slow upstream. SIGTERM under
 * load: /readyz turns 503 at once, every request already sent (or sent while load balancers still
 * route to the pod) is answered 200, every audit record reaches the SIEM before the process exits,
 * and it exits 0. A request held past the grace period is cut, its audit record still written, and
 * the process still exits in time.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { RequestRecord } from '../../src/audit/record.js';
import { startFhirServer, type RunningFhirServer } from '../../src/devkit/fhir-server.js';
import { freePort } from '../../src/devkit/ports.js';
import { seedSyntheticData, SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { startTokenIssuer, type TokenIssuer } from '../../src/devkit/token-issuer.js';
import { startReceiver, writeKeyFile, type Receiver } from '../support/audit.js';
import { startSlowUpstream, type SlowUpstream } from '../support/slow-upstream.js';
import { startStack, tokensFor } from '../support/stack.js';
import { spawnGateway, type SpawnedGateway } from '../support/spawn-gateway.js';

let fhir: RunningFhirServer;
let slow: SlowUpstream;
let issuer: TokenIssuer;
let receiver: Receiver;
let dir: string;
const spawned: SpawnedGateway[] = [];
const HELD = SYNTHETIC_PATIENTS[2]!.id;

beforeAll(async () => {
  fhir = await startFhirServer();
  await seedSyntheticData(fhir.repo);
  // Reads take 300 ms; the held patient's read takes a minute (longer than any grace period here).
  slow = await startSlowUpstream(fhir.baseUrl, (method, url) => (url.includes(`/Patient/${HELD}`) ? 60_000 : method === 'GET' && url.includes('/Patient/') ? 300 : 0));
  issuer = await startTokenIssuer({ audience: 'set-per-gateway' });
  receiver = await startReceiver();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-lifecycle-'));
});

afterAll(async () => {
  for (const g of spawned) g.kill();
  await receiver.close();
  await issuer.close();
  await slow.close();
  await fhir.close();
  rmSync(dir, { recursive: true, force: true });
});

async function gateway(name: string, lifecycle: string): Promise<{ g: SpawnedGateway; base: string; origin: string; token: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/fhir`;
  const yaml = [
    `listen: { host: 127.0.0.1, port: ${port} }`,
    `publicBaseUrl: ${base}`,
    `upstream: { url: ${slow.baseUrl}, timeoutMs: 120000 }`,
    `auth: { issuer: ${issuer.issuer}, audience: ${base} }`,
    'audit:',
    `  sinks: [ { type: http, name: siem, url: "${receiver.url}" } ]`,
    `  spool: { dir: ./${name}-spool, durability: durable }`,
    '  delivery: { retryInitialMs: 20, retryMaxMs: 200 }',
    `  hmacKeyFile: ${writeKeyFile(dir)}`,
    `lifecycle: ${lifecycle}`,
    'log: { level: trace }',
    '',
  ].join('\n');
  const g = await spawnGateway(dir, name, yaml);
  spawned.push(g);
  const token = await issuer.mint({ sub: 'Practitioner/prac-hopper', scope: 'user/*.rs', roles: ['clinician'], purpose_of_use: ['TREAT'], aud: base });
  return { g, base, origin: new URL(base).origin, token };
}

const requestIdsOf = (records: readonly unknown[]): Set<string> => new Set((records as RequestRecord[]).filter((r) => r.kind === 'request').map((r) => r.requestId));

describe('graceful shutdown', () => {
  test('SIGTERM under load: readyz 503 at once, no request fails, every audit record is delivered before exit 0', async () => {
    const { g, base, origin, token } = await gateway('drain', '{ drainDelaySeconds: 1, shutdownGraceSeconds: 10 }');
    // A load balancer: keeps routing until it sees /readyz fail (polled every 100 ms).
    let routing = true;
    let signalledAt = 0;
    let notReady = null as { status: number; at: number } | null;
    const results: Array<{ id: string; status: number | 'failed'; at: number }> = [];
    let n = 0;
    const client = async (): Promise<void> => {
      while (routing) {
        const id = `drain-${++n}-${Date.now()}`;
        try {
          const res = await fetch(`${base}/Patient/${SYNTHETIC_PATIENTS[n % 2]!.id}`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': id } });
          await res.arrayBuffer();
          results.push({ id, status: res.status, at: Date.now() });
        } catch {
          results.push({ id, status: 'failed', at: Date.now() });
        }
      }
    };
    const clients = Array.from({ length: 8 }, client);
    const balancer = (async () => {
      while (routing) {
        const ready = await fetch(`${origin}/readyz`).then((r) => r.status, () => 0);
        if (ready !== 200 && signalledAt > 0) {
          notReady ??= { status: ready, at: Date.now() };
          routing = false;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // Under way: a few rounds answered, and each client has a request in flight.
    const deadline = Date.now() + 15000;
    while (results.length < 16 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    signalledAt = Date.now();
    g.kill('SIGTERM');
    await Promise.all([...clients, balancer]);
    const exit = await g.exited;

    expect(exit.code).toBe(0);
    expect(results.length).toBeGreaterThanOrEqual(24);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // The load balancer saw 503 within the drain delay, while the gateway still answered requests.
    expect(notReady?.status).toBe(503);
    expect(notReady!.at - signalledAt).toBeLessThan(1000);
    expect(results.filter((r) => r.at > signalledAt).length).toBeGreaterThanOrEqual(8);
    // Every answered request's record reached the SIEM before the process was gone (nothing left to the next start).
    const delivered = requestIdsOf(receiver.received);
    expect(results.map((r) => r.id).filter((id) => !delivered.has(id))).toEqual([]);
    // Drain delay 1 s + the requests in flight (300 ms) + the flush: well within the budget.
    expect(exit.at - signalledAt).toBeLessThan(8000);
    expect(g.output()).toContain('shutdown complete');
  });

  test('a request held past the grace period is cut, its audit record is still written, and the process exits in time', async () => {
    const { g, base, token } = await gateway('cut', '{ drainDelaySeconds: 0, shutdownGraceSeconds: 1 }');
    const id = `held-${Date.now()}`;
    const held = fetch(`${base}/Patient/${HELD}`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': id } }).then(
      (r) => r.status,
      () => 'cut' as const,
    );
    // The held request is in flight once the upstream has it.
    await slow.received((_method, url) => url.includes(`/Patient/${HELD}`));
    const signalledAt = Date.now();
    g.kill('SIGTERM');
    const exit = await g.exited;
    expect(exit.code).toBe(0);
    // Grace 1 s, then the cut request settles and the audit trail is flushed.
    expect(exit.at - signalledAt).toBeLessThan(5000);
    expect(await held).toBe('cut');
    const record = (receiver.received as RequestRecord[]).find((r) => r.kind === 'request' && r.requestId === id);
    expect(record?.outcome.decision).toBe('error');
  });
});

describe('readiness', () => {
  test('/readyz is 503 while the audit spool cannot be written, and 200 again once it can', async () => {
    const spool = path.join(dir, 'readyz-spool');
    const stack = await startStack({ config: (d) => ({ ...d, audit: { sinks: [{ type: 'file', path: path.join(dir, 'readyz.jsonl') }], spool: { dir: spool, durability: 'durable', segmentBytes: 4096 } } }) });
    const origin = new URL(stack.base).origin;
    try {
      expect((await fetch(`${origin}/readyz`)).status).toBe(200);
      // Directories where the next segment files must go: the spool cannot open its next segment.
      const blockers = Array.from({ length: 200 }, (_, i) => path.join(spool, `${String(i + 2).padStart(20, '0')}.jsonl`)).filter((f) => !readdirSync(spool).includes(path.basename(f)));
      for (const b of blockers) mkdirSync(b);
      const token = await tokensFor(stack.issuer).clinician();
      let status = 200;
      for (let i = 0; i < 100 && status === 200; i++) status = (await stack.fetch(`Patient/${SYNTHETIC_PATIENTS[0]!.id}`, { token })).status;
      expect(status).toBe(503);
      expect(await (await fetch(`${origin}/readyz`)).json()).toMatchObject({ status: 'not-ready', notReady: ['audit.spool'], checks: { auditSpool: 'unwritable' } });
      for (const b of blockers) rmSync(b, { recursive: true, force: true });
      const deadline = Date.now() + 5000;
      while ((await fetch(`${origin}/readyz`)).status !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect((await fetch(`${origin}/readyz`)).status).toBe(200);
    } finally {
      await stack.close();
    }
  });
});
