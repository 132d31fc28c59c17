/**
 * Cases pushed to a webhook (a real HTTP receiver on loopback) through the audit trail's own
 * delivery loop over a real spool: the case records the detector and a reviewer write become
 * signed JSON case events; a receiver that refuses gets the batch again until it takes it, with a
 * signature that verifies; records that are not about cases are never sent.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DeliveryLoop } from '../../../src/audit/delivery.js';
import { createWebhookSink, type CaseEvent } from '../../../src/audit/sinks/webhook.js';
import { Spool } from '../../../src/audit/spool/spool.js';
import { caseFromDraft } from '../../../src/cases/case.js';
import { caseOpenedRecord, transitionRecord } from '../../../src/cases/transition-record.js';
import { sampleRecord, TEST_KEY } from '../../support/audit.js';
import { eventually } from '../../support/wait.js';

const SECRET = Buffer.from('webhook-secret-0123456789abcdefghijkl', 'utf8');
let server: http.Server;
let url: string;
let refusals = 0;
const bodies: Array<{ body: string; signature: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (refusals > 0) {
        refusals--;
        res.writeHead(503).end('busy');
        return;
      }
      bodies.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['x-fhirgw-signature']) });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/privacy`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('case webhook', () => {
  test('signed case events, retried until taken, nothing else sent', async () => {
    const spool = await Spool.open({ dir: null, maxBytes: 1 << 20, segmentBytes: 1 << 20, windowRecords: 100, key: TEST_KEY, sinks: ['privacy-office'] });
    const sink = createWebhookSink({ name: 'privacy-office', url, secret: SECRET, timeoutMs: 2000 });
    const failures: number[] = [];
    const loop = new DeliveryLoop(sink, spool, { batchSize: 10, retryInitialMs: 20, retryMaxMs: 100 }, { delivered: () => {}, failed: (_s, _e, attempt) => failures.push(attempt), retried: () => {} });
    const opened = caseFromDraft('6f1c1e0a-3c1b-4d59-9a43-5d0d3f0b7a11', {
      key: 'detect|https://idp.example|dr-x|pat-9|2026-11-24',
      kind: 'detection',
      user: { iss: 'https://idp.example', sub: 'dr-x', fhirUser: 'Practitioner/dr-x', clientId: 'ehr', roles: ['physician'] },
      patient: 'pat-9',
      statedReason: null,
      released: [{ type: 'Observation', count: 3 }],
      finding: { signal: 'unexplained', severity: 'medium', reason: 'no care relationship', record: 'gw/1', time: '2026-11-24T10:00:00.000Z' },
    });
    refusals = 2;
    loop.start();
    await spool.append(sampleRecord());
    await spool.append(caseOpenedRecord({ ...opened, severity: 'high', findings: [...opened.findings, { ...opened.findings[0]!, signal: 'restricted', severity: 'high' }] }, 'rev-1'));
    await spool.append(transitionRecord({ ...opened, status: 'justified' }, { iss: 'https://idp.example', sub: 'privacy-1', clientId: null, roles: ['privacy-officer'] }, '2026-11-25T09:00:00.000Z', 'rev-1'));
    await eventually(async () => bodies.length, (n) => n >= 1 && spool.cursorOf('privacy-office') === 3, 'the webhook took the batch', 10_000);
    await loop.drain(1000);
    await spool.close();

    expect(failures.length).toBeGreaterThanOrEqual(2);
    const events = bodies.flatMap((b) => (JSON.parse(b.body) as { events: CaseEvent[] }).events);
    expect(events.map((e) => [e.type, e.case])).toEqual([
      ['case.opened', { id: opened.id, kind: 'detection', signals: ['unexplained', 'restricted'], severity: 'high', status: 'open' }],
      ['case.closed', { id: opened.id, kind: null, signals: [], severity: null, status: 'justified' }],
    ]);
    expect(bodies.map((b) => b.body).join('')).not.toContain('pat-9');
    for (const { body, signature } of bodies) {
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
      expect(m).not.toBeNull();
      expect(Math.abs(Number(m![1]) - Date.now() / 1000)).toBeLessThan(60);
      expect(m![2]).toBe(createHmac('sha256', SECRET).update(`${m![1]}.${body}`).digest('hex'));
    }
  });
});
