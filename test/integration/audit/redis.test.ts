/**
 * The Redis Streams sink against a real redis-server that the test kills (SIGKILL) in the middle of
 * a burst of requests and restarts: every record must arrive exactly once, in order, and the
 * stream must verify. Redis runs with appendfsync always, as an audit Redis should: what it
 * acknowledged survives the kill, so any duplicate or gap would be the gateway's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { AuditRecord, RequestRecord } from '../../../src/audit/record.js';
import { verifyTrail } from '../../../src/audit/verify.js';
import { SYNTHETIC_PATIENTS } from '../../../src/devkit/synthetic-data.js';
import { createRedis, whenReady } from '../../../src/redis/connection.js';
import { createRedisSink } from '../../../src/audit/sinks/redis.js';
import { burstThroughOutage, metricValue, sealedTrail, TEST_KEY, until, writeKeyFile } from '../../support/audit.js';
import { startRedisServer, type RedisServer } from '../../support/redis.js';
import { assertValid } from '../../support/schemas.js';
import { startStack, tokensFor, type Stack } from '../../support/stack.js';

const STREAM = 'fhirgw:audit';
let redis: RedisServer;
let stack: Stack;
let dir: string;

beforeAll(async () => {
  redis = await startRedisServer({ persist: true });
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-audit-redis-'));
  const keyFile = writeKeyFile(dir);
  stack = await startStack({
    config: (d) => ({
      ...d,
      audit: {
        sinks: [
          { type: 'file', name: 'file', path: path.join(dir, 'audit.jsonl') },
          { type: 'redis', name: 'redis', url: redis.url, stream: STREAM },
        ],
        spool: { dir: path.join(dir, 'spool'), durability: 'durable' },
        delivery: { retryInitialMs: 20, retryMaxMs: 200 },
        hmacKeyFile: keyFile,
      },
    }),
  });
});

afterAll(async () => {
  await stack?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function streamRecords(): Promise<Array<{ id: string; fields: Record<string, string>; record: AuditRecord }>> {
  const client = createRedis({ url: redis.url, keyPrefix: '' }, { enableOfflineQueue: true });
  client.on('error', () => {});
  try {
    await whenReady(client);
    const entries = await client.xrange(STREAM, '-', '+');
    return entries.map(([id, flat]) => {
      const fields: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
      return { id, fields, record: JSON.parse(fields['record']!) as AuditRecord };
    });
  } finally {
    client.disconnect();
  }
}

describe('redis audit sink', () => {
  test('Redis killed and restarted during a burst: every record arrives exactly once, in order, and the stream verifies', async () => {
    const tokens = tokensFor(stack.issuer);
    const token = await tokens.clinician();
    const patient = SYNTHETIC_PATIENTS[0]!;
    const N = 240;
    const { answers, outage } = await burstThroughOutage(N, (p) => stack.fetch(p, { token }), patient.id, redis);
    expect(outage).toEqual([60, 160]);
    // The outage never reached the clients: durable mode waits for the local spool, not for Redis.
    expect(answers).toHaveLength(N);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // ... and the sink did see it.
    expect(await metricValue(new URL(stack.base).origin, 'fhirgw_audit_write_failures_total', { sink: 'redis' })).toBeGreaterThan(0);

    const entries = await until(streamRecords, (e) => e.filter((x) => x.record.kind === 'request').length >= N, 20000, 'all records in the stream');
    const requests = entries.map((e) => e.record).filter((r): r is RequestRecord => r.kind === 'request');
    // Exactly once: as many request records as answers, each request id once.
    expect(requests).toHaveLength(N);
    expect(new Set(requests.map((r) => r.requestId))).toEqual(new Set(answers.map((a) => a.requestId)));
    // In order, per instance: sequence numbers strictly increasing without gaps, across records and checkpoints.
    const seqs = entries.map((e) => e.record.chain.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    expect(new Set(entries.map((e) => e.record.chain.instance)).size).toBe(1);
    // Consumer-friendly fields: the delivery id next to the record, so a consumer group dedupes without parsing.
    for (const e of entries) {
      expect(e.fields['id']).toBe(e.record.deliveryId);
      expect(e.fields['seq']).toBe(String(e.record.chain.seq));
      assertValid('audit-record.schema.json', e.record);
    }
    // The stream holds exactly what the file sink holds: the same sealed records.
    const file = (await import('node:fs')).readFileSync(path.join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    expect(entries.map((e) => e.record)).toEqual(file);

    const report = await verifyTrail({ redisUrl: redis.url, stream: STREAM }, TEST_KEY);
    expect(report).toMatchObject({ ok: true, duplicates: 0, problem: null });
    expect(await metricValue(new URL(stack.base).origin, 'fhirgw_audit_records_dropped_total', { sink: 'redis' })).toBe(0);
  });

  test('a batch sent again (a reply lost in an outage, a replay after a restart) lands once; a new instance starts its own count', async () => {
    const client = createRedis({ url: redis.url, keyPrefix: '' }, { enableOfflineQueue: true });
    client.on('error', () => {});
    const sink = createRedisSink({ name: 'r', client, stream: 'replay:test', maxLen: 1000, encode: (r) => r, ownsClient: true });
    try {
      await whenReady(client);
      const a = sealedTrail(5, TEST_KEY, 'inst-a');
      await sink.deliver(a.slice(0, 3));
      await sink.deliver(a.slice(1, 5)); // 2 and 3 again, then 4 and 5
      await sink.deliver(a); // everything again
      await sink.deliver(sealedTrail(2, TEST_KEY, 'inst-b'));
      const ids = (await client.xrange('replay:test', '-', '+')).map(([, f]) => f[f.indexOf('id') + 1]);
      expect(ids).toEqual(['inst-a/1', 'inst-a/2', 'inst-a/3', 'inst-a/4', 'inst-a/5', 'inst-b/1', 'inst-b/2']);
    } finally {
      await sink.close();
    }
  });
});
