/**
 * Several sinks at once: a sink that refuses everything and one that never answers must not hold
 * back a healthy one. Each sink has its own cursor and delivery loop.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { metricValue, startReceiver, until, type Receiver } from '../../support/audit.js';
import { startStack, tokensFor, type Stack } from '../../support/stack.js';

let dir: string;
let refusing: Receiver;
let hanging: http.Server;
let stack: Stack;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-audit-iso-'));
  refusing = await startReceiver();
  refusing.refuse = true;
  // Takes the request and never answers.
  hanging = http.createServer(() => {});
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  stack = await startStack({
    config: (d) => ({
      ...d,
      audit: {
        sinks: [
          { type: 'http', name: 'refusing', url: refusing.url },
          { type: 'http', name: 'hanging', url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/x`, timeoutMs: 10000 },
          { type: 'file', name: 'healthy', path: path.join(dir, 'audit.jsonl') },
        ],
        spool: { dir: path.join(dir, 'spool'), durability: 'durable' },
        delivery: { retryInitialMs: 20, retryMaxMs: 100, closeTimeoutMs: 200 },
      },
    }),
  });
});

afterAll(async () => {
  await stack.close();
  await refusing.close();
  hanging.closeAllConnections();
  await new Promise((r) => hanging.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('audit sinks are independent', () => {
  test('a refusing sink and a hanging sink do not delay a healthy one; each keeps its own backlog', async () => {
    const token = await tokensFor(stack.issuer).clinician();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await stack.fetch('Patient/pat-alba', { token });
      await res.text();
      expect(res.status).toBe(200);
      ids.push(res.headers.get('x-request-id')!);
    }
    const origin = new URL(stack.base).origin;
    // The healthy sink has every record well within the hanging sink's first timeout.
    const lines = await until(() => readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').filter((l) => l !== ''), (l) => l.length >= 20, 5000, 'the healthy sink');
    expect(lines.map((l) => (JSON.parse(l) as { requestId: string }).requestId)).toEqual(ids);
    // Lines are visible in the file before its fdatasync returns and the sink's cursor moves.
    await until(() => metricValue(origin, 'fhirgw_audit_queued_records', { sink: 'healthy' }), (n) => n === 0, 5000, 'the healthy sink to be caught up');
    expect(await metricValue(origin, 'fhirgw_audit_records_delivered_total', { sink: 'healthy' })).toBe(20);
    for (const sink of ['healthy', 'refusing', 'hanging']) expect(await metricValue(origin, 'fhirgw_audit_records_spooled_total', { sink })).toBe(20);
    expect(await metricValue(origin, 'fhirgw_audit_queued_records', { sink: 'refusing' })).toBe(20);
    expect(await metricValue(origin, 'fhirgw_audit_queued_records', { sink: 'hanging' })).toBe(20);
    expect(refusing.received).toHaveLength(0);
    await until(() => metricValue(origin, 'fhirgw_audit_delivery_retries_total', { sink: 'refusing' }), (n) => n > 0, 2000, 'retries of the refusing sink');
    expect(await metricValue(origin, 'fhirgw_audit_records_delivered_total', { sink: 'refusing' })).toBe(0);
  });
});
