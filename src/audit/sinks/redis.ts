/**
 * Redis Streams: one stream entry per record (XADD with `MAXLEN ~`), fields `id` (the delivery id),
 * `instance`, `seq` and `record` (the JSON in the sink's format). Consumer groups read it with
 * XREADGROUP like any stream.
 *
 * Appends are idempotent: a Lua script keeps, per gateway instance, the highest sequence number
 * already in the stream (hash `<stream>:delivered`) and skips anything at or below it, atomically
 * with the XADD. A batch retried after a lost reply, or replayed from the spool after a restart,
 * therefore lands exactly once. In Redis Cluster both keys must hash to one slot: the stream name
 * must carry a hash tag, e.g. `{fhirgw}:audit` (checked at start-up).
 */
import type { AuditRecord } from '../record.js';
import type { Encoder } from '../formats/index.js';
import type { RedisClient } from '../../redis/connection.js';
import type { AuditSink } from './sink.js';

// KEYS: stream, delivered-hash. ARGV: maxlen, instance, then (seq, id, payload) per record; an
// empty payload (a checkpoint in a view format) only advances the high-water mark.
const APPEND = `
local hwm = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local added = 0
for i = 3, #ARGV, 3 do
  local seq = tonumber(ARGV[i])
  if seq > hwm then
    if ARGV[i + 2] ~= '' then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', ARGV[i + 1], 'instance', ARGV[2], 'seq', ARGV[i], 'record', ARGV[i + 2])
      added = added + 1
    end
    hwm = seq
  end
end
redis.call('HSET', KEYS[2], ARGV[2], hwm)
return added`;

export interface RedisSinkOptions {
  readonly name: string;
  readonly client: RedisClient;
  readonly stream: string;
  readonly maxLen: number;
  readonly encode: Encoder;
  /** Whether closing the sink also disconnects the client. */
  readonly ownsClient: boolean;
}

export function createRedisSink(options: RedisSinkOptions): AuditSink {
  const { client, stream } = options;
  return {
    name: options.name,
    async deliver(records: readonly AuditRecord[]) {
      // Records of one spool share one instance; group anyway so the script's high-water mark is per instance.
      const byInstance = new Map<string, AuditRecord[]>();
      for (const r of records) {
        const list = byInstance.get(r.chain.instance) ?? [];
        list.push(r);
        byInstance.set(r.chain.instance, list);
      }
      for (const [instance, list] of byInstance) {
        const args: string[] = [String(options.maxLen), instance];
        for (const r of list) {
          const encoded = options.encode(r);
          args.push(String(r.chain.seq), r.deliveryId, encoded === null ? '' : JSON.stringify(encoded));
        }
        await client.eval(APPEND, 2, stream, `${stream}:delivered`, ...args);
      }
    },
    async close() {
      if (options.ownsClient) client.disconnect();
    },
  };
}
