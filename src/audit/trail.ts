/**
 * The audit trail: builds the PHI-free record of each request, commits it to the spool (which seals
 * it into the hash chain) and lets each sink's delivery loop carry it from there.
 *
 * `record` is awaited by the pipeline before the answer is released:
 *   durable  resolves once the record is fdatasynced in the spool (group commit);
 *   async    resolves at once; the record is committed in the background.
 * When the spool is full or unwritable the policy decides: `fail-closed` rejects with a
 * GatewayError (`audit_unavailable`, 503) so the answer is withheld; `shed` drops the record,
 * counts it for every sink and raises an alert in the log.
 */
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { buildRequestRecord, type RecordOptions, type RequestFacts } from './build.js';
import { DeliveryLoop, type DeliveryOptions } from './delivery.js';
import { AUDIT_SCHEMA_VERSION, type AuditRecord, type UnsealedRequestRecord } from './record.js';
import type { AuditSink } from './sinks/sink.js';
import { SpoolFullError, type Spool } from './spool/spool.js';

export interface AuditTrail {
  /**
   * Throws `audit_unavailable` when the spool cannot take a record now and the policy is
   * fail-closed; the pipeline asks before forwarding, so a write is not applied upstream only to
   * have its answer withheld. (The spool can still fill in between: `record` decides in the end.)
   */
  admit(): void;
  /** Commits the record of one request (see the module comment for what resolving means). */
  record(facts: RequestFacts): Promise<void>;
  /**
   * Commits a record the gateway writes of its own accord (a review case opened by the detector):
   * the same chain, spool and sinks as request records. Rejects when the spool cannot take it.
   */
  append(record: UnsealedRequestRecord): Promise<void>;
  /** Delivers what is spooled (up to the close timeout) and releases the spool and the sinks. */
  close(): Promise<void>;
}

/** What the trail reports to metrics; the adapter in server.ts maps it to Prometheus. */
/** Room a request needs in the spool to be admitted: more than any one record takes. */
const ADMIT_RESERVE_BYTES = 16 * 1024;

export interface TrailObserver {
  delivered(sink: string, records: number): void;
  failed(sink: string): void;
  retried(sink: string): void;
  dropped(sink: string, records: number): void;
  refused(): void;
  committed(records: number, seconds: number): void;
}

export interface TrailOptions {
  readonly spool: Spool;
  readonly sinks: readonly AuditSink[];
  readonly durability: 'async' | 'durable';
  readonly onFull: 'fail-closed' | 'shed';
  readonly record: RecordOptions;
  readonly delivery: DeliveryOptions;
  readonly checkpoint: { readonly everyRecords: number; readonly everySeconds: number };
  readonly closeTimeoutMs: number;
  readonly observer: TrailObserver;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export interface AuditTrailHandle extends AuditTrail {
  /** Per sink: records not yet delivered and the time of the oldest one being worked on. */
  sample(): { sinks: Array<{ name: string; undelivered: number; oldest: string | null }>; spoolBytes: number; writable: boolean };
}

export function createAuditTrail(options: TrailOptions): AuditTrailHandle {
  const { spool, observer, logger } = options;
  const now = options.now ?? (() => new Date());
  const loops = options.sinks.map(
    (sink) =>
      new DeliveryLoop(sink, spool, options.delivery, {
        delivered: observer.delivered,
        retried: observer.retried,
        failed: (name, err, attempt) => {
          observer.failed(name);
          // The sink's error text can quote what it was sent; only its class is logged.
          if (attempt === 1 || attempt % 10 === 0) logger.warn({ sink: name, attempt, err: err instanceof Error ? err.name : 'error' }, 'audit sink delivery failed; retrying');
        },
      }),
  );
  spool.onGroupCommit = observer.committed;
  for (const loop of loops) loop.start();

  const alert = rateLimited((count: number, reason: string) => {
    logger.error({ records: count, reason, policy: options.onFull }, options.onFull === 'shed' ? 'ALERT audit records dropped: the spool cannot take them' : 'ALERT requests refused: the audit spool cannot take their records');
  });

  /**
   * The spool would not take a record: apply the configured policy. `counted`: the request was
   * already refused by `admit` (its own record failing too is not a second refusal).
   */
  function refuse(err: unknown, counted = false): void {
    const reason = err instanceof SpoolFullError ? 'spool-full' : 'spool-unwritable';
    if (!counted) alert(reason);
    if (options.onFull === 'shed') {
      for (const sink of options.sinks) observer.dropped(sink.name, 1);
      return;
    }
    if (!counted) observer.refused();
    throw new GatewayError('audit_unavailable', { reasons: [`audit.${reason}`], cause: err });
  }

  let sinceCheckpoint = 0;
  let closed = false;
  const checkpoint = (): void => {
    if (sinceCheckpoint === 0 || closed) return;
    sinceCheckpoint = 0;
    // A checkpoint that cannot be spooled is retried at the next interval.
    const retry = (): void => {
      sinceCheckpoint = Math.max(sinceCheckpoint, 1);
    };
    try {
      spool.append({ schemaVersion: AUDIT_SCHEMA_VERSION, kind: 'checkpoint', time: now().toISOString() }).then(
        (sealed: AuditRecord) => logger.info({ instance: sealed.chain.instance, seq: sealed.chain.seq, prev: sealed.chain.prev, signature: sealed.chain.hash }, 'audit checkpoint'),
        retry,
      );
    } catch {
      retry();
    }
  };
  const timer = options.checkpoint.everySeconds > 0 ? setInterval(checkpoint, options.checkpoint.everySeconds * 1000).unref() : null;

  return {
    admit() {
      if (options.onFull === 'fail-closed' && (closed || !spool.writable || !spool.hasRoom(ADMIT_RESERVE_BYTES))) {
        refuse(closed || !spool.writable ? new Error('audit spool unavailable') : new SpoolFullError());
      }
    },
    async record(facts) {
      const counted = facts.error?.code === 'audit_unavailable';
      if (closed) return refuse(new Error('audit trail closed'), counted);
      let committed: Promise<AuditRecord>;
      try {
        committed = spool.append(buildRequestRecord(facts, options.record));
      } catch (err) {
        return refuse(err, counted);
      }
      if (++sinceCheckpoint >= options.checkpoint.everyRecords && options.checkpoint.everyRecords > 0) checkpoint();
      if (options.durability === 'durable') {
        try {
          await committed;
        } catch (err) {
          refuse(err, counted);
        }
        return;
      }
      // Async: the answer does not wait. A record that then fails to commit is lost: counted and alerted.
      committed.catch(() => {
        alert('spool-unwritable');
        for (const sink of options.sinks) observer.dropped(sink.name, 1);
      });
    },
    async append(record) {
      if (closed) throw new Error('audit trail closed');
      await spool.append(record);
    },
    async close() {
      if (closed) return;
      checkpoint();
      closed = true;
      if (timer !== null) clearInterval(timer);
      await spool.flush();
      const drained = await Promise.all(loops.map((l) => l.drain(options.closeTimeoutMs)));
      const left = loops.filter((_, i) => !drained[i]).map((l) => ({ sink: l.name, records: l.undelivered }));
      if (left.length > 0) {
        logger.warn({ left, spooled: spool.durable }, spool.durable ? 'audit records left in the spool; they are delivered at the next start' : 'audit records lost at shutdown: no spool directory is configured');
        if (!spool.durable) for (const l of left) observer.dropped(l.sink, l.records);
      }
      await spool.close();
      await Promise.all(options.sinks.map((s) => s.close().catch(() => {})));
    },
    sample() {
      return {
        sinks: loops.map((l) => ({ name: l.name, undelivered: l.undelivered, oldest: l.oldestUndelivered })),
        spoolBytes: spool.sizeBytes,
        writable: spool.writable,
      };
    },
  };
}

/** Logs the first event at once, then at most one summary every 10 s, so an outage cannot flood the log. */
function rateLimited(log: (count: number, reason: string) => void): (reason: string) => void {
  let last = 0;
  let pending = 0;
  return (reason) => {
    pending++;
    const t = Date.now();
    if (t - last >= 10_000) {
      log(pending, reason);
      pending = 0;
      last = t;
    }
  };
}
