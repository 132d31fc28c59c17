/**
 * The detector as a Redis Streams consumer group (a real redis-server): records delivered by the
 * redis audit sink are judged by two consumers that share the work and the volume counts, and
 * open exactly the cases one detector alone opens; entries a consumer took and never
 * acknowledged (it died) are claimed and judged by the others.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { encoderFor } from '../../../src/audit/formats/index.js';
import { createRedisSink } from '../../../src/audit/sinks/redis.js';
import type { ReviewCase } from '../../../src/cases/case.js';
import { createMemoryCaseStore } from '../../../src/cases/memory-store.js';
import { createDetector } from '../../../src/detect/detector.js';
import { createRedisVolumeState } from '../../../src/detect/redis-volume.js';
import { createLinkedPatients } from '../../../src/detect/staff-links.js';
import { createStreamConsumer, type StreamConsumer } from '../../../src/detect/stream-consumer.js';
import { DEFAULT_VOLUME } from '../../../src/detect/volume.js';
import { createRedisClient, whenReady } from '../../../src/redis/connection.js';
import { evaluate } from '../../../bench/detect/evaluate.js';
import { generateWorkload, HOURS, memoryPatientFacts, RESTRICTED_LABELS, type Workload } from '../../../bench/detect/workload.js';
import { startRedisServer, type RedisServer } from '../../support/redis.js';
import { eventually } from '../../support/wait.js';

let redis: RedisServer;
let workload: Workload;
const STREAM = 'fhirgw:audit';

beforeAll(async () => {
  redis = await startRedisServer();
  workload = generateWorkload({ seed: 11, explained: 800, injected: 6, teams: 3, staffPerTeam: 6, patientsPerTeam: 20 });
});
afterAll(() => redis.stop());

const summary = (cases: readonly ReviewCase[]): string[] => cases.map((c) => `${c.key} ${c.findings.map((f) => f.signal).sort().join(',')}`).sort();

describe('detector consumer group', () => {
  test('two consumers and a dead one: every record judged once by the live ones, the same cases as one detector alone', async () => {
    const client = createRedisClient({ url: redis.url });
    const connections = [createRedisClient({ url: redis.url }), createRedisClient({ url: redis.url })];
    await Promise.all([client, ...connections].map((c) => whenReady(c)));
    try {
    const sink = createRedisSink({ name: 'redis', client, stream: STREAM, maxLen: 1_000_000, encode: encoderFor('record', { publicBaseUrl: 'https://gw.example/fhir', version: 'test' }), ownsClient: false });
    await sink.deliver(workload.records);

    // A consumer that takes a batch and dies without acknowledging it.
    await client.xgroup('CREATE', STREAM, 'detectors', '0', 'MKSTREAM');
    const taken = (await client.xreadgroup('GROUP', 'detectors', 'dead', 'COUNT', 25, 'STREAMS', STREAM, '>')) as Array<[string, unknown[]]>;
    expect(taken[0]?.[1]).toHaveLength(25);

    const cases = createMemoryCaseStore();
    const volumeState = createRedisVolumeState(client, 'fhirgw:', DEFAULT_VOLUME.windowHours);
    const facts = memoryPatientFacts(workload.resources);
    const judged = new Map<string, number>();
    const byConsumer = new Map<string, number>();
    const consumers: StreamConsumer[] = [];
    for (const [i, connection] of connections.entries()) {
      const detector = createDetector(
        { facts, links: createLinkedPatients(workload.links, async (rp) => workload.relatedPersons.get(rp) ?? null), volumeState, volume: DEFAULT_VOLUME, restrictedLabels: RESTRICTED_LABELS, restrictedPatients: workload.restrictedPatients, hours: HOURS },
        cases,
      );
      const name = `replica-${i}`;
      const consumer = createStreamConsumer(
        {
          client: connection,
          stream: STREAM,
          group: 'detectors',
          consumer: name,
          batch: 50,
          blockMs: 200,
          // Far above what a live consumer takes to judge and acknowledge a batch, even on a loaded
          // machine (a live consumer's entries must never be claimed: that would judge them twice),
          // and far below the test's patience for the dead consumer's.
          claimIdleMs: 5_000,
          retryInitialMs: 50,
          retryMaxMs: 500,
          hooks: {
            judged: (record) => {
              judged.set(record.deliveryId, (judged.get(record.deliveryId) ?? 0) + 1);
              byConsumer.set(name, (byConsumer.get(name) ?? 0) + 1);
            },
            unreadable: () => {},
            failed: () => {},
          },
        },
        detector,
      );
      consumers.push(consumer);
    }
    try {
      await Promise.all(consumers.map((c) => c.start()));
      await eventually(async () => judged.size, (n) => n === workload.records.length, 'every record judged', 30_000);
      await eventually(async () => ((await client.xpending(STREAM, 'detectors')) as [number])[0], (n) => n === 0, 'nothing pending');
    } finally {
      await Promise.all(consumers.map((c) => c.stop()));
    }
    expect([...judged.values()].every((n) => n === 1)).toBe(true);
    expect([...byConsumer.values()].every((n) => n > 0)).toBe(true);
    expect(byConsumer.size).toBe(2);

    const alone = createMemoryCaseStore();
    await evaluate(workload, { facts, cases: alone });
    const shared = await cases.list({});
    expect(summary(shared)).toEqual(summary(await alone.list({})));
    expect(shared.some((c) => c.key.startsWith('volume|'))).toBe(true);
    } finally {
      for (const c of [client, ...connections]) c.disconnect();
    }
  }, 60_000);
});
