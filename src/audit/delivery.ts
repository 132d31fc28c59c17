/**
 * One delivery loop per sink: reads the spool from the sink's cursor, sends a batch, retries it
 * with capped exponential backoff (with jitter) until the sink takes it, then moves the cursor.
 * Records are never skipped: a sink that keeps refusing holds only its own cursor (its "oldest
 * undelivered" age grows and alerts), while other sinks' loops go on.
 */
import type { AuditRecord } from './record.js';
import type { AuditSink } from './sinks/sink.js';
import type { Spool } from './spool/spool.js';

export interface DeliveryOptions {
  readonly batchSize: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
}

export interface DeliveryHooks {
  delivered(sink: string, records: number): void;
  failed(sink: string, err: unknown, attempt: number): void;
  retried(sink: string): void;
}

export class DeliveryLoop {
  private cursor: number;
  private head: AuditRecord | null = null;
  private draining = false;
  private aborted = false;
  private idleWake: (() => void) | null = null;
  private backoffWake: (() => void) | null = null;
  private nudged = false;
  private readonly unsubscribe: () => void;
  private running: Promise<void> | null = null;

  constructor(
    private readonly sink: AuditSink,
    private readonly spool: Spool,
    private readonly options: DeliveryOptions,
    private readonly hooks: DeliveryHooks,
  ) {
    this.cursor = spool.cursorOf(sink.name);
    this.unsubscribe = spool.subscribe(() => this.nudge());
  }

  get name(): string {
    return this.sink.name;
  }

  /** Records committed to the spool and not yet acknowledged by this sink. */
  get undelivered(): number {
    return Math.max(0, this.spool.committed.seq - this.cursor);
  }

  /** Time of the oldest record this sink has not acknowledged, if it is working on one. */
  get oldestUndelivered(): string | null {
    return this.head?.time ?? null;
  }

  start(): void {
    this.running ??= this.run();
  }

  /**
   * Delivers what is committed, then stops; gives up after `timeoutMs` (what is left stays in the
   * spool for the next start, or is lost when the spool is in memory).
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    this.nudge();
    // A draining sink that keeps failing still gets its retries until the timeout.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const done = await Promise.race([(this.running ?? Promise.resolve()).then(() => true), timedOut]);
    clearTimeout(timer);
    this.aborted = true;
    this.interrupt();
    this.unsubscribe();
    return done && this.undelivered === 0;
  }

  /** A commit: wakes the loop if it is idle (a loop backing off keeps its backoff). */
  private nudge(): void {
    if (this.idleWake) {
      const wake = this.idleWake;
      this.idleWake = null;
      wake();
    } else this.nudged = true;
  }

  /** Drain or abort: ends any wait. */
  private interrupt(): void {
    this.nudge();
    const wake = this.backoffWake;
    this.backoffWake = null;
    wake?.();
  }

  private idle(): Promise<void> {
    if (this.nudged || this.draining) {
      this.nudged = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.idleWake = resolve));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.backoffWake = null;
        resolve();
      }, ms);
      this.backoffWake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.aborted) {
      let batch: AuditRecord[];
      try {
        batch = await this.spool.read(this.cursor, this.options.batchSize);
      } catch (err) {
        this.hooks.failed(this.sink.name, err, ++attempt);
        await this.sleep(this.backoff(attempt));
        continue;
      }
      if (batch.length === 0) {
        if (this.draining) return;
        await this.idle();
        continue;
      }
      this.head = batch[0] ?? null;
      try {
        await this.sink.deliver(batch);
      } catch (err) {
        this.hooks.failed(this.sink.name, err, ++attempt);
        await this.sleep(this.backoff(attempt));
        if (!this.aborted) this.hooks.retried(this.sink.name);
        continue;
      }
      attempt = 0;
      this.cursor = (batch.at(-1) as AuditRecord).chain.seq;
      this.head = null;
      this.spool.ack(this.sink.name, this.cursor);
      this.hooks.delivered(this.sink.name, batch.length);
    }
  }

  private backoff(attempt: number): number {
    const cap = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** Math.min(attempt - 1, 20));
    return cap / 2 + Math.random() * (cap / 2);
  }
}
