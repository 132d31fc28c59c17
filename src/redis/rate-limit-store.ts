/**
 * Rate-limit counters in Redis, shared by every replica: one hash per user or client
 * (`<prefix>ratelimit:<kind>:<hash>`, fields w = window start, c = current count, p = previous
 * count), updated by one Lua script so the read-decide-write is atomic across replicas. The clock
 * is Redis's own (TIME), so replicas with skewed clocks still agree. The arithmetic is that of
 * src/ratelimit/sliding-window.ts.
 */
import type { RateLimitStore } from '../ratelimit/limiter.js';
import type { RedisClient } from './connection.js';

// KEYS[1]: the counter. ARGV: limit, window (ms). Returns {allowed (1|0), retry-after (ms)}.
const SLIDE = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start = now - (now % window)
local h = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w, c, p = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
local current, previous = 0, 0
if w == start then current, previous = c, p elseif w == start - window then previous = c end
local elapsed = now - start
local estimate = previous * (window - elapsed) / window + current
local allowed, retry = 1, 0
if estimate + 1 <= limit then
  current = current + 1
else
  allowed = 0
  local to_next = window - elapsed
  retry = to_next
  if current > 0 then retry = to_next + math.max(0, window * (1 - (limit - 1) / current)) end
  if current + 1 <= limit and previous > 0 then
    local in_window = window * (1 - (limit - 1 - current) / previous) - elapsed
    if in_window < to_next then retry = math.min(retry, in_window) end
  end
  retry = math.max(1, math.ceil(retry - 0.000001))
end
redis.call('HSET', KEYS[1], 'w', start, 'c', current, 'p', previous)
redis.call('PEXPIRE', KEYS[1], window * 2)
return {allowed, retry}
`;

export function createRedisRateLimitStore(client: RedisClient, keyPrefix: string): RateLimitStore {
  return {
    async hit(key, limit, windowMs) {
      const [allowed, retry] = (await client.eval(SLIDE, 1, `${keyPrefix}ratelimit:${key}`, limit, windowMs)) as [number, number];
      return { allowed: allowed === 1, retryAfterMs: retry };
    },
  };
}
