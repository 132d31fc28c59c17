/** The Redis test helper and the connection factory against a real redis-server. */
import { describe, expect, test } from '@jest/globals';
import { createRedis, whenReady } from '../../src/redis/connection.js';
import { startRedisServer } from '../support/redis.js';

describe('redis', () => {
  test('a test-owned redis-server can be used, killed and restarted, and the client reconnects by itself', async () => {
    const server = await startRedisServer();
    const redis = createRedis({ url: server.url, keyPrefix: 'fhirgw:' });
    try {
      await whenReady(redis);
      await redis.set('k', 'v');
      expect(await redis.get('k')).toBe('v');
      await server.kill();
      await expect(redis.get('k')).rejects.toThrow();
      await server.restart();
      const deadline = Date.now() + 5000;
      let value: string | null | undefined;
      while (Date.now() < deadline) {
        try {
          value = await redis.get('k');
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      expect(value).toBeNull(); // reconnected; nothing persisted across the kill
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});
