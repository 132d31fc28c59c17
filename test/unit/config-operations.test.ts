import { describe, expect, test } from '@jest/globals';
import { buildConfig, ConfigError } from '../../src/config/load.js';

const base = { publicBaseUrl: 'https://fhir.example.org/fhir', upstream: { url: 'http://hapi:8080/fhir' }, auth: { issuer: 'https://idp.example' } };
const keyOf = (doc: object): string => {
  try {
    buildConfig({ ...base, ...doc }, { env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.key;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('operations configuration', () => {
  test('lifecycle defaults: no drain delay, a 20 s grace period', () => {
    expect(buildConfig(base, { env: {} }).lifecycle).toEqual({ drainDelaySeconds: 0, shutdownGraceSeconds: 20 });
    expect(keyOf({ lifecycle: { shutdownGraceSeconds: -1 } })).toBe('lifecycle.shutdownGraceSeconds');
  });

  test('redis: standalone, Sentinel or Cluster; Cluster keys share a hash tag', () => {
    expect(buildConfig({ ...base, redis: { url: 'redis://r:6379' } }, { env: {} }).redis?.keyPrefix).toBe('fhirgw:');
    expect(buildConfig({ ...base, redis: { sentinel: { name: 'main', nodes: ['s1:26379'] } } }, { env: {} }).redis?.sentinel?.name).toBe('main');
    expect(buildConfig({ ...base, redis: { cluster: { nodes: ['c1:6379'] } } }, { env: {} }).redis?.keyPrefix).toBe('{fhirgw}:');
    expect(keyOf({ redis: { cluster: { nodes: ['c1:6379'] }, keyPrefix: 'gw:' } })).toBe('redis.keyPrefix');
    expect(keyOf({ redis: { sentinel: { name: 'm', nodes: ['s1:26379'] }, cluster: { nodes: ['c1:6379'] } } })).toBe('redis.cluster');
    expect(keyOf({ redis: {} })).toBe('redis.url');
    // FHIRGW_REDIS_URL supplies the URL (with its password) from a Secret.
    expect(buildConfig(base, { env: { FHIRGW_REDIS_URL: 'rediss://:pw@r:6380/1' } }).redis?.url).toBe('rediss://:pw@r:6380/1');
  });

  test('rate limits: off unless configured; store errors let requests through by default', () => {
    expect(buildConfig(base, { env: {} }).rateLimit).toBeUndefined();
    expect(buildConfig({ ...base, rateLimit: { perUser: { requests: 100 } } }, { env: {} }).rateLimit).toEqual({ perUser: { requests: 100, windowSeconds: 60 }, onStoreError: 'allow' });
    expect(keyOf({ rateLimit: { perClient: { requests: 0 } } })).toBe('rateLimit.perClient.requests');
  });
});
