/**
 * The rate limiter a configuration asks for: counters in Redis when `redis.*` is set (every replica
 * counts against the same limits), in memory otherwise (each replica limits on its own); refusals
 * and store failures counted in the metrics.
 */
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RedisClient } from '../redis/connection.js';
import { createRedisRateLimitStore } from '../redis/rate-limit-store.js';
import { createMemoryRateLimitStore, createRateLimiter, type RateLimiter } from './limiter.js';

export function rateLimiterFromConfig(config: GatewayConfig, redis: RedisClient | null, metrics: GatewayMetrics, logger: Logger): RateLimiter | undefined {
  const limits = config.rateLimit;
  if (!limits || (!limits.perUser && !limits.perClient)) return undefined;
  const store = redis && config.redis ? createRedisRateLimitStore(redis, config.redis.keyPrefix) : createMemoryRateLimitStore();
  if (!redis) logger.warn('rate limits are counted per replica: set redis.* to share them');
  return createRateLimiter(limits, store, {
    limited: (limit) => metrics.rateLimited.inc({ limit }),
    storeError: (outcome) => metrics.rateLimitStoreErrors.inc({ outcome }),
  });
}
