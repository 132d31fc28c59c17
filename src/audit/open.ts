/**
 * Builds the audit trail a configuration describes: the key, the spool, one sink per entry (with its
 * format), metrics and the delivery loops. The I/O edge of audit/; server.ts calls it once.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, configFileError } from '../errors-config.js';
import { buildInfo } from '../version.js';
import type { GatewayConfig } from '../config/schema.js';
import { sinkNameOf } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { createRedisClient } from '../redis/connection.js';
import type { ChainKey } from './chain.js';
import { encoderFor, type FormatContext } from './formats/index.js';
import { createParamMasker } from './mask.js';
import { createFhirSink } from './sinks/fhir.js';
import { createFileSink } from './sinks/file.js';
import { createHttpSink } from './sinks/http.js';
import { createPostgresSink } from './sinks/postgres.js';
import { openAuditStore, type AuditStore } from './store/store.js';
import type { AuditStoreReader } from './store/query.js';
import { createRedisSink } from './sinks/redis.js';
import type { AuditSink } from './sinks/sink.js';
import { createStdoutSink } from './sinks/stdout.js';
import { Spool } from './spool/spool.js';
import { createAuditTrail, type AuditTrailHandle } from './trail.js';

export const HMAC_KEY_ENV = 'FHIRGW_AUDIT_HMAC_KEY';
const MIN_KEY_BYTES = 32;

export interface OpenAuditOptions {
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly env?: NodeJS.ProcessEnv;
  /** Where `stdout` sinks write (tests capture it). */
  readonly stdout?: NodeJS.WritableStream;
}

/** The audit HMAC key: from the environment, else from `audit.hmacKeyFile`, else none (unkeyed chain). */
export function loadAuditKey(config: { readonly hmacKeyFile?: string | undefined }, env: NodeJS.ProcessEnv): ChainKey {
  const fromEnv = env[HMAC_KEY_ENV];
  let key: Buffer | null = null;
  if (fromEnv !== undefined && fromEnv !== '') key = Buffer.from(fromEnv, 'utf8');
  else if (config.hmacKeyFile) {
    try {
      key = Buffer.from(readFileSync(config.hmacKeyFile, 'utf8').trim(), 'utf8');
    } catch (err) {
      throw configFileError('audit.hmacKeyFile', `read ${config.hmacKeyFile}`, err);
    }
  }
  if (key !== null && key.length < MIN_KEY_BYTES) {
    throw new ConfigError(fromEnv !== undefined && fromEnv !== '' ? HMAC_KEY_ENV : 'audit.hmacKeyFile', `the audit HMAC key must be at least ${MIN_KEY_BYTES} bytes`);
  }
  return key;
}

export interface OpenedAuditTrail extends AuditTrailHandle {
  /** The audit store (the postgres sink's database), for the access history and the privacy office; null without one. */
  readonly store: AuditStoreReader | null;
}

export async function openAuditTrail(config: GatewayConfig, options: OpenAuditOptions): Promise<OpenedAuditTrail> {
  const { logger, metrics } = options;
  const env = options.env ?? process.env;
  const audit = config.audit;
  const key = loadAuditKey(audit, env);
  if (key === null) logger.warn(`audit records are hash-chained without a key: set ${HMAC_KEY_ENV} or audit.hmacKeyFile so edits cannot be re-sealed`);
  const spoolConfig = audit.spool;
  if (!spoolConfig?.dir) logger.warn('audit.spool.dir is not set: undelivered audit records are lost if the gateway crashes');

  const context: FormatContext = { publicBaseUrl: config.publicBaseUrl, version: buildInfo().version };
  const store = await openStore(audit.sinks, env, logger);
  const sinks: AuditSink[] = audit.sinks.map((sink, i): AuditSink => {
    const name = sinkNameOf(sink, i, audit.sinks);
    switch (sink.type) {
      case 'file':
        try {
          return createFileSink({ name, path: sink.path, encode: encoderFor(sink.format, context), rotate: sink.rotate });
        } catch (err) {
          throw configFileError(`audit.sinks.${i}.path`, `create the directory of ${sink.path}`, err);
        }
      case 'stdout':
        return createStdoutSink(name, encoderFor(sink.format, context), options.stdout);
      case 'redis': {
        // Its own server, or the shared one (redis.*, with its Sentinel or Cluster) when it names none.
        const own = sink.url !== undefined || sink.sentinel !== undefined || sink.cluster !== undefined;
        const topology = own ? { url: sink.url ?? config.redis?.url, sentinel: sink.sentinel, cluster: sink.cluster } : config.redis;
        if (!topology) throw new ConfigError(`audit.sinks.${i}`, `audit sink ${name}: set its url, sentinel or cluster, or redis.*`);
        if (topology.cluster && !/\{[^}]+\}/.test(sink.stream)) throw new ConfigError(`audit.sinks.${i}.stream`, `audit sink ${name}: with cluster, the stream name needs a hash tag, e.g. {fhirgw}:audit`);
        const client = createRedisClient(topology, {}, own ? `audit.sinks.${i}.url` : 'redis.url');
        // Connection errors surface as failed deliveries (retried); ioredis reconnects by itself.
        client.on('error', () => {});
        return createRedisSink({ name, client, stream: sink.stream, maxLen: sink.maxLen, encode: encoderFor(sink.format, context), ownsClient: true });
      }
      case 'http':
        return createHttpSink({ name, url: sink.url, encoding: sink.encoding, headers: sink.headers, authorization: secretFrom(env, sink.authorizationEnv, name, `audit.sinks.${i}.authorizationEnv`), timeoutMs: sink.timeoutMs, encode: encoderFor(sink.format, context) });
      case 'fhir':
        return createFhirSink({ name, url: sink.url, authorization: secretFrom(env, sink.authorizationEnv, name, `audit.sinks.${i}.authorizationEnv`), timeoutMs: sink.timeoutMs, encode: encoderFor('audit-event', context) });
      case 'postgres':
        return createPostgresSink(name, store as AuditStore);
    }
  });

  const durability = spoolConfig?.durability ?? 'async';
  let spool: Spool;
  try {
    spool = await Spool.open({
      dir: spoolConfig?.dir ?? null,
      maxBytes: spoolConfig?.maxBytes ?? 64 * 1024 * 1024,
      segmentBytes: spoolConfig?.segmentBytes ?? 16 * 1024 * 1024,
      windowRecords: audit.delivery.queueRecords,
      key,
      sinks: sinks.map((s) => s.name),
    });
  } catch (err) {
    await Promise.allSettled(sinks.map((s) => s.close()));
    // EACCES, ENOENT, a damaged segment, a lock held by another process: all about audit.spool.dir.
    if ((err as NodeJS.ErrnoException).code !== undefined) throw configFileError('audit.spool.dir', `open the spool directory ${spoolConfig?.dir ?? ''}`, err);
    throw new ConfigError('audit.spool.dir', err instanceof Error ? err.message : 'cannot open the spool');
  }
  logger.info({ instance: spool.instance, durability, spool: spoolConfig?.dir ? 'disk' : 'memory', sinks: sinks.map((s) => s.name) }, 'audit trail open');

  const m = metrics.audit;
  const trail = createAuditTrail({
    spool,
    sinks,
    durability,
    onFull: spoolConfig?.onFull ?? (durability === 'durable' ? 'fail-closed' : 'shed'),
    record: { mask: createParamMasker(audit.masking, key), clientAddress: audit.clientAddress === 'record' },
    delivery: audit.delivery,
    checkpoint: audit.checkpoint,
    closeTimeoutMs: audit.delivery.closeTimeoutMs,
    logger,
    observer: {
      delivered: (sink, n) => m.delivered.inc({ sink }, n),
      failed: (sink) => metrics.auditFailures.inc({ sink }),
      retried: (sink) => m.retries.inc({ sink }),
      dropped: (sink, n) => m.dropped.inc({ sink }, n),
      refused: () => m.refused.inc(),
      committed: (records, seconds) => {
        m.commitDuration.observe(seconds);
        m.commitRecords.observe(records);
        for (const sink of sinks) m.spooled.inc({ sink: sink.name }, records);
      },
    },
  });
  m.sampler = () => trail.sample();
  return Object.assign(trail, { store: store?.reader ?? null });
}

/**
 * Opens the postgres sink's store and migrates its schema before the gateway serves: a store that
 * cannot be migrated stops start-up (a replica must not write records into a schema it does not know).
 */
async function openStore(sinks: GatewayConfig['audit']['sinks'], env: NodeJS.ProcessEnv, logger: Logger): Promise<AuditStore | null> {
  const index = sinks.findIndex((s) => s.type === 'postgres');
  const sink = sinks[index];
  if (sink?.type !== 'postgres') return null;
  const url = sink.urlEnv !== undefined ? secretFrom(env, sink.urlEnv, 'postgres', `audit.sinks.${index}.urlEnv`) : (sink.url ?? null);
  const store = await openAuditStore({
    connection: url !== null ? { kind: 'postgres', url, poolSize: sink.poolSize } : { kind: 'embedded', dir: sink.embedded?.dir ?? null },
    retentionMonths: sink.retentionMonths,
    onRetention: (dropped, err) => {
      if (err) logger.warn({ err: err instanceof Error ? err.name : 'error' }, 'audit store partition maintenance failed; retried tomorrow (and by the writer when a month is missing)');
      else if (dropped.length > 0) logger.info({ partitions: dropped }, 'audit store: partitions past retention dropped');
    },
  });
  try {
    await store.ready();
  } catch (err) {
    await store.close().catch(() => {});
    throw new TypeError(`audit store: cannot migrate the schema (${(err as { code?: string }).code ?? (err instanceof Error ? err.name : 'error')})`);
  }
  // This month's and the next months' partitions before the first record (then daily, with retention).
  await store.startMaintenance();
  logger.info({ engine: store.db.engine }, 'audit store ready');
  return store;
}

/** The secret an audit sink names by environment variable; `key` is the configuration key naming it. */
function secretFrom(env: NodeJS.ProcessEnv, name: string | undefined, sink: string, key: string): string | null {
  if (name === undefined) return null;
  const value = env[name];
  if (value === undefined || value === '') throw new ConfigError(key, `audit sink ${sink}: environment variable ${name} is not set`);
  return value;
}

