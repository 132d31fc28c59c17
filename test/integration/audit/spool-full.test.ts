/**
 * A spool that fills up because the only sink is down (a loopback SIEM refusing everything), in
 * both modes: durable fails closed (503 audit_unavailable, nothing dropped, data withheld), async
 * sheds (answers go on, every dropped record counted). Both recover once the sink is back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { verifyChain } from '../../../src/audit/chain.js';
import type { RequestRecord } from '../../../src/audit/record.js';
import { SYNTHETIC_PATIENTS } from '../../../src/devkit/synthetic-data.js';
import { asEntries, metricValue, startReceiver, TEST_KEY, until, writeKeyFile, type Receiver } from '../../support/audit.js';
import { startStack, tokensFor, type Stack } from '../../support/stack.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-audit-full-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function stackWith(durability: 'durable' | 'async', receiver: Receiver): Promise<Stack> {
  return startStack({
    config: (d) => ({
      ...d,
      audit: {
        sinks: [{ type: 'http', name: 'siem', url: receiver.url }],
        // Small on purpose: a few dozen records fill it.
        spool: { dir: path.join(dir, durability), durability, maxBytes: 64 * 1024, segmentBytes: 4096 },
        delivery: { retryInitialMs: 20, retryMaxMs: 100 },
        hmacKeyFile: writeKeyFile(dir),
      },
    }),
  });
}

const read = async (stack: Stack, token: string) => {
  const res = await stack.fetch(`Patient/${SYNTHETIC_PATIENTS[0]!.id}`, { token });
  return { status: res.status, requestId: res.headers.get('x-request-id') ?? '', body: await res.text() };
};
const delivered = (receiver: Receiver) => new Set(receiver.received.filter((r): r is RequestRecord => r.kind === 'request').map((r) => r.requestId));

describe('audit spool full', () => {
  test('durable (fail-closed): once the spool is full, answers are withheld with 503 audit_unavailable; nothing is dropped; it recovers', async () => {
    const receiver = await startReceiver();
    receiver.refuse = true;
    const stack = await stackWith('durable', receiver);
    const origin = new URL(stack.base).origin;
    try {
      const token = await tokensFor(stack.issuer).clinician();
      const answered: Array<{ status: number; requestId: string; body: string }> = [];
      for (let i = 0; i < 400 && !answered.some((a) => a.status === 503); i++) answered.push(await read(stack, token));
      const refused = answered.at(-1)!;
      expect(refused.status).toBe(503);
      const outcome = JSON.parse(refused.body);
      expect(outcome.issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['audit_unavailable', 'audit.spool-full']);
      expect(refused.body).not.toContain(SYNTHETIC_PATIENTS[0]!.family); // the data was withheld
      expect(answered.slice(0, -1).every((a) => a.status === 200)).toBe(true);
      // A write is refused before it reaches the upstream: its answer could not be released anyway.
      const upstreamBefore = stack.fhir.requests.length;
      const create = await stack.fetch('Observation', {
        token: await tokensFor(stack.issuer).clinician('user/*.cruds'),
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${SYNTHETIC_PATIENTS[0]!.id}` } }),
      });
      expect(create.status).toBe(503);
      expect(stack.fhir.requests.length).toBe(upstreamBefore);
      expect(await metricValue(origin, 'fhirgw_audit_refused_requests_total')).toBe(2);
      expect(await metricValue(origin, 'fhirgw_audit_records_dropped_total', { sink: 'siem' })).toBe(0);
      // Every answered request's record waits in the spool (a refusal's own small record may fit too).
      expect(await metricValue(origin, 'fhirgw_audit_queued_records', { sink: 'siem' })).toBeGreaterThanOrEqual(answered.length - 1);
      expect(await metricValue(origin, 'fhirgw_audit_oldest_undelivered_age_seconds', { sink: 'siem' })).toBeGreaterThan(0);

      // The SIEM comes back: the spool drains and the gateway answers again.
      receiver.refuse = false;
      const ok = answered.filter((a) => a.status === 200).map((a) => a.requestId);
      await until(() => delivered(receiver), (got) => ok.every((id) => got.has(id)), 10000, 'the spooled records to be delivered');
      expect((await read(stack, token)).status).toBe(200);
      // A refusal that could still be recorded says what the client got.
      for (const r of receiver.received) {
        if (r.kind === 'request' && !ok.includes(r.requestId) && r.outcome.status !== 200) expect(r.outcome).toMatchObject({ status: 503, error: 'audit_unavailable', decision: 'error' });
      }
      expect(verifyChain(asEntries(receiver.received), TEST_KEY).problem).toBeNull();
    } finally {
      receiver.refuse = false;
      await stack.close();
      await receiver.close();
    }
  });

  test('async (shed): answers go on, each record the full spool cannot take is counted as dropped, and the chain has no hole', async () => {
    const receiver = await startReceiver();
    receiver.refuse = true;
    const stack = await stackWith('async', receiver);
    const origin = new URL(stack.base).origin;
    try {
      const token = await tokensFor(stack.issuer).clinician();
      const answers: Array<{ status: number; requestId: string }> = [];
      for (let i = 0; i < 300; i++) answers.push(await read(stack, token));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      const dropped = await metricValue(origin, 'fhirgw_audit_records_dropped_total', { sink: 'siem' });
      expect(dropped).toBeGreaterThan(0);
      expect(await metricValue(origin, 'fhirgw_audit_refused_requests_total')).toBe(0);

      receiver.refuse = false;
      const records = await until(() => receiver.received.filter((r): r is RequestRecord => r.kind === 'request'), (r) => r.length >= 300 - dropped, 10000, 'the spooled records');
      // Shed records were never sealed: what was kept is a gapless chain, and kept + dropped = answered.
      expect(records).toHaveLength(300 - dropped);
      expect(verifyChain(asEntries(receiver.received), TEST_KEY).problem).toBeNull();
      expect(records.every((r) => answers.some((a) => a.requestId === r.requestId))).toBe(true);
    } finally {
      receiver.refuse = false;
      await stack.close();
      await receiver.close();
    }
  });
});
