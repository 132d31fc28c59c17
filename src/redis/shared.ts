/**
 * The one Redis connection for everything replicas share (revocations, replay markers,
 * introspection and consent caches, rate-limit counters), made from `redis.*`: standalone,
 * Sentinel or Cluster. Start-up waits for it a little (bounded), so the first requests after a
 * deploy do not meet a connection still being made; after that ioredis reconnects by itself and
 * each user decides what a failing command means (docs/operations.md#shared-state-redis).
 */
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { createRedisClient, whenReady, type RedisClient } from './connection.js';

/** How long start-up waits for Redis before serving anyway (requests needing it then fail as documented). */
export const STARTUP_WAIT_MS = 5000;

export async function openSharedRedis(config: GatewayConfig, logger: Logger, metrics: GatewayMetrics): Promise<RedisClient | null> {
  if (!config.redis) return null;
  const client = createRedisClient(config.redis);
  const topology = config.redis.cluster ? 'cluster' : config.redis.sentinel ? 'sentinel' : 'standalone';
  let up = false;
  let everUp = false;
  metrics.registry.registerMetric(metrics.redisUp);
  metrics.redisUp.set(0);
  client.on('ready', () => {
    metrics.redisUp.set(1);
    if (!up) logger.info({ topology }, everUp ? 'redis reconnected: shared state available again' : 'redis connected');
    up = true;
    everUp = true;
  });
  // One line per outage, not one per reconnection attempt; the error's text may name hosts only.
  const down = (err?: unknown): void => {
    metrics.redisUp.set(0);
    if (up) logger.warn({ topology, err: err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.name) : undefined }, 'redis unavailable: shared state degraded until it reconnects');
    up = false;
  };
  client.on('error', down);
  client.on('close', () => down());
  await whenReady(client, STARTUP_WAIT_MS).catch(() => logger.warn({ topology, waitedMs: STARTUP_WAIT_MS }, 'redis not ready at start-up; serving anyway'));
  return client;
}
