/**
 * The Redis sink's Sentinel and Cluster options, configured as an operator would, against a real
 * Sentinel (monitoring a real primary) and a real one-node Cluster (all slots on one process:
 * the full cluster protocol without the cost of six processes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { AuditRecord } from '../../../src/audit/record.js';
import { buildConfig, ConfigError } from '../../../src/config/load.js';
import type { ConfigInput } from '../../../src/config/schema.js';
import { createRedisClient, whenReady } from '../../../src/redis/connection.js';
import { until } from '../../support/audit.js';
import { startRedisCluster, startRedisSentinel, startRedisServer } from '../../support/redis.js';
import { startStack, tokensFor } from '../../support/stack.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-audit-topo-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type RedisSinkInput = Extract<ConfigInput['audit'] extends infer A ? (A extends { sinks?: Array<infer S> } ? S : never) : never, { type: 'redis' }>;

/** Five requests, then a clean shutdown (which writes a closing checkpoint): six records, seq 1..6. */
async function requestsReachStream(sink: RedisSinkInput, read: () => ReturnType<typeof createRedisClient>): Promise<AuditRecord[]> {
  const stack = await startStack({ config: (d) => ({ ...d, audit: { sinks: [sink], delivery: { retryInitialMs: 20, retryMaxMs: 200 } } }) });
  try {
    const token = await tokensFor(stack.issuer).clinician();
    for (let i = 0; i < 5; i++) await (await stack.fetch('Patient/pat-alba', { token })).text();
  } finally {
    await stack.close();
  }
  const client = read();
  client.on('error', () => {});
  try {
    await whenReady(client);
    const entries = await until(() => client.xrange(sink.stream ?? 'fhirgw:audit', '-', '+'), (e) => e.length >= 6, 10000, 'the stream');
    return entries.map(([, f]) => JSON.parse(f[f.indexOf('record') + 1]!) as AuditRecord);
  } finally {
    client.disconnect();
  }
}

describe('redis audit sink topologies', () => {
  test('through Sentinel: the sink asks the Sentinel for the primary and appends there', async () => {
    const primary = await startRedisServer();
    const sentinel = await startRedisSentinel(primary, 'audit-primary');
    try {
      const records = await requestsReachStream({ type: 'redis', sentinel: { name: 'audit-primary', nodes: [sentinel.node] }, stream: 'fhirgw:audit' }, () => createRedisClient({ url: primary.url }, { enableOfflineQueue: true }));
      expect(records.map((r) => `${r.kind}:${r.chain.seq}`)).toEqual(['request:1', 'request:2', 'request:3', 'request:4', 'request:5', 'checkpoint:6']);
    } finally {
      await sentinel.stop();
      await primary.stop();
    }
  });

  test('through Cluster: the stream and its high-water mark share a slot through the hash tag', async () => {
    const cluster = await startRedisCluster();
    try {
      const records = await requestsReachStream({ type: 'redis', cluster: { nodes: [cluster.node] }, stream: '{fhirgw}:audit' }, () => createRedisClient({ cluster: { nodes: [cluster.node] } }, { enableOfflineQueue: true }));
      expect(records.map((r) => `${r.kind}:${r.chain.seq}`)).toEqual(['request:1', 'request:2', 'request:3', 'request:4', 'request:5', 'checkpoint:6']);
    } finally {
      await cluster.stop();
    }
  });

  test('a Cluster stream name without a hash tag is refused at start-up, naming the key', () => {
    const doc = { publicBaseUrl: 'https://h/fhir', upstream: { url: 'http://u/fhir' }, auth: { issuer: 'https://idp' }, audit: { sinks: [{ type: 'redis', cluster: { nodes: ['10.0.0.1:6379'] }, stream: 'fhirgw:audit' }] } };
    expect(() => buildConfig(doc, { env: {} })).toThrow(ConfigError);
    try {
      buildConfig(doc, { env: {} });
    } catch (err) {
      expect((err as ConfigError).key).toBe('audit.sinks.0');
      expect((err as ConfigError).problem).toContain('hash tag');
    }
  });
});
