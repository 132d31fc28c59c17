/**
 * The one place Redis connections are made (ioredis). Everything that must agree across replicas
 * (revocation, introspection cache, consent cache, rate limits, replay caches) and the Redis audit
 * sink connect through here, so connection options (standalone, Sentinel, Cluster, TLS) are
 * configured once.
 */
import { Redis, Cluster, type RedisOptions } from 'ioredis';

export interface RedisConnectionConfig {
  /** redis://[:password@]host:port[/db] or rediss:// for TLS (standalone). */
  readonly url: string;
  /** Key prefix for everything the gateway stores. */
  readonly keyPrefix: string;
}

export type RedisClient = Redis | Cluster;

export function createRedis(config: RedisConnectionConfig, overrides: RedisOptions = {}): Redis {
  return new Redis(config.url, {
    // Commands fail fast while disconnected instead of queueing without bound; callers decide
    // whether that fails closed (revocation) or degrades (caches).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
    lazyConnect: false,
    ...overrides,
  });
}

/** Resolves once the client is connected (commands fail fast before that: the offline queue is off). */
export function whenReady(client: Redis, timeoutMs = 5000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}
