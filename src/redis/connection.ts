/**
 * The one place Redis connections are made (ioredis). Everything that must agree across replicas
 * (revocation, introspection cache, consent cache, rate limits, replay caches) and the Redis audit
 * sink connect through here, so connection options (standalone, Sentinel, Cluster, TLS) are
 * configured once.
 */
import { Redis, Cluster, type RedisOptions } from 'ioredis';
import { ConfigError } from '../errors-config.js';

export interface RedisConnectionConfig {
  /** redis://[:password@]host:port[/db] or rediss:// for TLS (standalone). */
  readonly url: string;
  /** Key prefix for everything the gateway stores. */
  readonly keyPrefix: string;
}

/**
 * Where Redis is: a URL (standalone), Sentinels that name the current primary, or Cluster seed
 * nodes. With Sentinel or Cluster, the URL (when given) supplies only credentials, TLS and the db.
 */
export interface RedisTopology {
  readonly url?: string | undefined;
  readonly sentinel?: { readonly name: string; readonly nodes: readonly string[] } | undefined;
  readonly cluster?: { readonly nodes: readonly string[] } | undefined;
}

export type RedisClient = Redis | Cluster;

/** Commands fail fast while disconnected instead of queueing without bound; callers decide
 * whether that fails closed (revocation), degrades (caches) or is retried from a spool (audit). */
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
  lazyConnect: false,
};

export function createRedis(config: RedisConnectionConfig, overrides: RedisOptions = {}): Redis {
  return new Redis(config.url, { ...FAIL_FAST, ...overrides });
}

/** `key`: the configuration key the topology's URL comes from, named when it is unusable. */
export function createRedisClient(topology: RedisTopology, overrides: RedisOptions = {}, key = 'redis.url'): RedisClient {
  if (topology.url !== undefined && !URL.canParse(topology.url)) throw new ConfigError(key, 'not a valid redis:// or rediss:// URL');
  const auth = topology.url ? credentialsOf(topology.url) : {};
  if (topology.cluster) {
    // Fail-fast is set on the cluster, not on its node connections: a node connection that refuses
    // commands before it is ready fails the cluster's own slot discovery, and it reconnects in a loop.
    return new Cluster(topology.cluster.nodes.map(hostPort), {
      enableOfflineQueue: overrides.enableOfflineQueue ?? false,
      clusterRetryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
      redisOptions: { connectTimeout: FAIL_FAST.connectTimeout, ...auth },
    });
  }
  if (topology.sentinel) {
    return new Redis({ ...FAIL_FAST, ...auth, ...overrides, sentinels: topology.sentinel.nodes.map(hostPort), name: topology.sentinel.name });
  }
  if (!topology.url) throw new ConfigError(key, 'a Redis URL, Sentinel or Cluster nodes are required');
  return new Redis(topology.url, { ...FAIL_FAST, ...overrides });
}

function credentialsOf(url: string): RedisOptions {
  const u = new URL(url);
  const db = u.pathname.replace(/^\//, '');
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** `host:port` or `redis://host:port`. */
function hostPort(node: string): { host: string; port: number } {
  const u = new URL(node.includes('://') ? node : `redis://${node}`);
  return { host: u.hostname, port: Number(u.port || 6379) };
}

/** Resolves once the client is connected (commands fail fast before that: the offline queue is off). */
export function whenReady(client: RedisClient, timeoutMs = 5000): Promise<void> {
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
