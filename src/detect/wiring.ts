/**
 * The detector in a running gateway (config `detect`): a consumer of the audit stream in the
 * replicas' shared group, care facts read from the upstream with the gateway's credentials, volume
 * counts in the shared Redis, cases in the audit store. Each case opened is also written into this
 * replica's audit trail as a record (so the webhook sink pushes it and `audit verify` covers it).
 * Metrics: flags by signal and severity, open cases and the oldest open case's age (read from the
 * store at scrape time). The I/O edge of src/detect; server.ts calls it once.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Counter, Gauge } from 'prom-client';
import { z } from 'zod';
import { loadAuditKey } from '../audit/open.js';
import { ConfigError } from '../errors-config.js';
import type { AuditTrail } from '../audit/trail.js';
import type { SqlClient } from '../audit/store/sql.js';
import type { GatewayConfig } from '../config/schema.js';
import { createSqlCaseStore } from '../cases/sql-store.js';
import { caseOpenedRecord } from '../cases/transition-record.js';
import type { Logger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';
import { createRedisClient, type RedisClient } from '../redis/connection.js';
import { createDetector } from './detector.js';
import { createUpstreamPatientFacts } from './patient-facts.js';
import { createRedisVolumeState } from './redis-volume.js';
import { createLinkedPatients, upstreamRelatedPersons, type StaffLink } from './staff-links.js';
import { createStreamConsumer } from './stream-consumer.js';
import { DEFAULT_VOLUME } from './volume.js';

const staffLinksSchema = z.array(z.strictObject({ staff: z.string().regex(/^(Practitioner|PractitionerRole)\/[^/]+$/), patients: z.array(z.string()).default([]), relatedPersons: z.array(z.string()).default([]) }));

export interface DetectorParts {
  readonly config: GatewayConfig;
  readonly env: NodeJS.ProcessEnv;
  readonly redis: RedisClient | null;
  readonly storeDb: SqlClient | null;
  readonly upstreamClient: UpstreamClient;
  readonly audit: AuditTrail;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly policyRevision: () => string;
}

export interface RunningDetector {
  close(): Promise<void>;
}

export function loadStaffLinks(file: string | undefined): StaffLink[] {
  if (file === undefined) return [];
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError('detect.staffLinksFile', `cannot read ${file} as JSON (${(err as NodeJS.ErrnoException).code ?? 'invalid JSON'})`);
  }
  const parsed = staffLinksSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError('detect.staffLinksFile', `${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export async function startDetector(parts: DetectorParts): Promise<RunningDetector | null> {
  const { config, logger, metrics } = parts;
  const detect = config.detect;
  if (detect === undefined) return null;
  if (parts.redis === null || !config.redis) throw new ConfigError('detect', 'the detector needs redis.* (the consumer group and the shared volume counts)');
  if (parts.storeDb === null) throw new ConfigError('detect', 'the detector needs a postgres audit sink (the review cases live in the audit store)');
  if (!config.audit.sinks.some((s) => s.type === 'redis' && s.stream === detect.stream && s.format === 'record')) throw new ConfigError('detect.stream', `no redis audit sink writes ${detect.stream} in the record format`);

  const cases = createSqlCaseStore({ db: parts.storeDb, transitions: { instance: 'review', key: loadAuditKey(config.audit, parts.env), policyRevision: parts.policyRevision() } });
  const volume = { ...DEFAULT_VOLUME, ...detect.volume };
  const detector = createDetector(
    {
      facts: createUpstreamPatientFacts({ client: parts.upstreamClient, ttlSeconds: detect.factsTtlSeconds, maxPatients: 100_000 }),
      links: createLinkedPatients(loadStaffLinks(detect.staffLinksFile), upstreamRelatedPersons(parts.upstreamClient)),
      volumeState: createRedisVolumeState(parts.redis, config.redis.keyPrefix, volume.windowHours),
      volume,
      restrictedLabels: detect.restricted.labels,
      restrictedPatients: detect.restricted.patients,
      hours: detect.hours,
      signals: detect.signals,
    },
    cases,
  );

  const registry = metrics.registry;
  const flags = new Counter({ name: 'fhirgw_detector_flags_total', help: 'Findings that opened or amended a review case, by signal (or break-glass, protection-change) and severity.', labelNames: ['signal', 'severity'], registers: [registry] });
  const judged = new Counter({ name: 'fhirgw_detector_records_total', help: 'Audit records the detector consumed, by result (judged, unreadable: not a record of a known schema, failed: retried).', labelNames: ['result'], registers: [registry] });
  // One store query per scrape serves all three gauges.
  let sampled: { at: number; stats: Promise<Awaited<ReturnType<typeof cases.stats>>> } | null = null;
  const stats = () => {
    if (sampled === null || Date.now() - sampled.at > 1000) sampled = { at: Date.now(), stats: cases.stats(new Date(Date.now() - detect.reviewWithinDays * 86_400_000).toISOString()) };
    return sampled.stats;
  };
  new Gauge({
    name: 'fhirgw_review_cases_open',
    help: 'Review cases not yet closed (read from the audit store at scrape time).',
    registers: [registry],
    async collect() {
      this.set((await stats()).open);
    },
  });
  new Gauge({
    name: 'fhirgw_review_oldest_open_case_age_seconds',
    help: 'Age of the oldest open review case (0 when none is open).',
    registers: [registry],
    async collect() {
      const oldest = (await stats()).oldestOpenAt;
      this.set(oldest === null ? 0 : Math.max(0, (Date.now() - Date.parse(oldest)) / 1000));
    },
  });

  new Gauge({
    name: 'fhirgw_review_cases_overdue',
    help: 'Open review cases older than detect.reviewWithinDays (FhirGatewayReviewCasesOverdue).',
    registers: [registry],
    async collect() {
      this.set((await stats()).overdue);
    },
  });

  const client = createRedisClient(config.redis);
  client.on('error', () => {});
  const consumer = createStreamConsumer(
    {
      client,
      stream: detect.stream,
      group: detect.group,
      consumer: detect.consumer ?? os.hostname(),
      batch: 100,
      blockMs: 2000,
      claimIdleMs: 60_000,
      retryInitialMs: 200,
      retryMaxMs: 30_000,
      hooks: {
        judged: (_record, result) => {
          judged.inc({ result: 'judged' });
          for (const o of result.outcomes) {
            if (o.outcome === 'unchanged') continue;
            flags.inc({ signal: o.signal, severity: o.severity });
            // A case the trail cannot take now is still in the store; only its push is lost (logged).
            if (o.outcome === 'opened') parts.audit.append(caseOpenedRecord(o.case, parts.policyRevision())).catch(() => logger.error('ALERT a review case was opened but its record could not be spooled'));
          }
        },
        unreadable: () => judged.inc({ result: 'unreadable' }),
        failed: (err, attempt) => {
          judged.inc({ result: 'failed' });
          if (attempt === 1 || attempt % 10 === 0) logger.warn({ attempt, err: err instanceof Error ? err.name : 'error' }, 'detector: records could not be judged; retrying');
        },
      },
    },
    detector,
  );
  await consumer.start();
  logger.info({ stream: detect.stream, group: detect.group, signals: detect.signals }, 'detector started');
  return {
    async close() {
      await consumer.stop();
      client.disconnect();
    },
  };
}
