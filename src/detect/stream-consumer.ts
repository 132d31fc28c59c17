/**
 * The detector as a member of a Redis Streams consumer group over the audit stream (the `redis`
 * audit sink, in the `record` format). Every replica runs one consumer of the same group: Redis
 * hands each entry to one of them, so they share the work; an entry is acknowledged (XACK) only
 * after its record was judged and its cases written, so a consumer that dies mid-batch loses
 * nothing: its pending entries are claimed by a live one after `claimIdleMs` (XAUTOCLAIM). A record
 * judged twice that way opens no second case (cases are deduplicated on their key).
 *
 * A record whose facts cannot be read (the upstream is down) is not acknowledged: the consumer
 * backs off and reads its own pending entries again before new ones.
 */
import { readableRecordSchema, type ReadableRecord } from '../audit/record.js';
import type { RedisClient } from '../redis/connection.js';
import type { DetectionResult, Detector } from './detector.js';

export interface StreamConsumerOptions {
  /** A connection of its own: XREADGROUP BLOCK holds it. */
  readonly client: RedisClient;
  readonly stream: string;
  readonly group: string;
  /** Unique per replica (the pod name). */
  readonly consumer: string;
  readonly batch: number;
  readonly blockMs: number;
  /** Pending entries idle this long (their consumer is presumed dead) are claimed. */
  readonly claimIdleMs: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly hooks: StreamConsumerHooks;
}

export interface StreamConsumerHooks {
  judged(record: ReadableRecord, result: DetectionResult): void;
  /** An entry that holds no record of this schema (another format, damage): acknowledged and counted. */
  unreadable(entryId: string): void;
  failed(err: unknown, attempt: number): void;
}

export interface StreamConsumer {
  start(): Promise<void>;
  /** Stops after the entry in hand; unacknowledged entries stay pending for the group. */
  stop(): Promise<void>;
}

/** A pending entry trimmed from the stream (MAXLEN) comes back with null fields. */
type StreamEntries = Array<[string, string[] | null]>;

export function createStreamConsumer(options: StreamConsumerOptions, detector: Detector): StreamConsumer {
  const { client, stream, group, consumer } = options;
  let stopped = false;
  let running: Promise<void> | null = null;
  let wake: (() => void) | null = null;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const ensureGroup = async (): Promise<void> => {
    try {
      // From the stream's start: records written before the first detector ran are judged too.
      await client.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  };

  /** Judges and acknowledges entries in order; stops at the first that fails (it stays pending). */
  const handle = async (entries: StreamEntries): Promise<void> => {
    for (const [id, fields] of entries) {
      if (stopped) return;
      const i = fields?.indexOf('record') ?? -1;
      const text = i >= 0 && i % 2 === 0 ? fields?.[i + 1] : undefined;
      let record: ReadableRecord | null = null;
      try {
        const parsed = readableRecordSchema.safeParse(JSON.parse(text ?? ''));
        record = parsed.success ? parsed.data : null;
      } catch {
        record = null;
      }
      if (record === null) {
        options.hooks.unreadable(id);
        await client.xack(stream, group, id);
        continue;
      }
      const result = await detector.process(record);
      await client.xack(stream, group, id);
      options.hooks.judged(record, result);
    }
  };

  const read = async (from: '0' | '>'): Promise<StreamEntries> => {
    const answer = (
      from === '>'
        ? await client.xreadgroup('GROUP', group, consumer, 'COUNT', options.batch, 'BLOCK', options.blockMs, 'STREAMS', stream, from)
        : await client.xreadgroup('GROUP', group, consumer, 'COUNT', options.batch, 'STREAMS', stream, from)
    ) as Array<[string, StreamEntries]> | null;
    return answer?.[0]?.[1] ?? [];
  };

  const run = async (): Promise<void> => {
    let attempt = 0;
    let ownPendingFirst = true;
    let lastClaim = 0;
    while (!stopped) {
      try {
        // After a failure the group may be gone (a Redis that lost its data): made again.
        if (attempt > 0) await ensureGroup();
        if (Date.now() - lastClaim >= options.claimIdleMs) {
          lastClaim = Date.now();
          // Entries of consumers that died: taken over (up to one batch per round).
          const claimed = (await client.xautoclaim(stream, group, consumer, options.claimIdleMs, '0-0', 'COUNT', options.batch)) as [string, StreamEntries, string[]?];
          await handle(claimed[1].filter((e) => Array.isArray(e)));
        }
        if (ownPendingFirst) {
          const pending = await read('0');
          await handle(pending);
          if (pending.length < options.batch) ownPendingFirst = false;
          continue;
        }
        await handle(await read('>'));
        attempt = 0;
      } catch (err) {
        if (stopped) return;
        options.hooks.failed(err, ++attempt);
        ownPendingFirst = true;
        const cap = Math.min(options.retryMaxMs, options.retryInitialMs * 2 ** Math.min(attempt - 1, 20));
        await sleep(cap / 2 + Math.random() * (cap / 2));
      }
    }
  };

  return {
    async start() {
      await ensureGroup();
      running ??= run();
    },
    async stop() {
      stopped = true;
      wake?.();
      // A blocked XREADGROUP returns within blockMs; the loop then sees `stopped`.
      await running;
    },
  };
}
