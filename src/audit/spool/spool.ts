/**
 * The write-ahead spool: every audit record is sealed into the chain and appended here before any
 * sink sees it, and stays until every sink has acknowledged it. One spool per gateway instance;
 * each sink keeps its own cursor into it, so a slow or dead sink never holds up another.
 *
 * On disk (`dir` set): segment files of JSON lines named by their first sequence number, a state
 * file with the sinks' cursors and the chain tip, the instance id, and a lock. Appends are group
 * committed: records arriving while a write+fdatasync is in flight form the next group, so under
 * load one fsync covers many records. In memory (`dir` null): the same API, nothing survives a
 * crash (the gateway warns at start-up).
 *
 * Failure semantics: `append` throws `SpoolFullError` when the record would take the spool past
 * `maxBytes`, and `SpoolUnavailableError` while the disk refuses writes (after a failed write the
 * group is rolled back: its records were never sealed into the chain, so the chain has no hole).
 */
import { randomUUID } from 'node:crypto';
import { promises as fsp, mkdirSync, readFileSync, readdirSync, writeFileSync, renameSync, openSync, closeSync, ftruncateSync, fsyncSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { GENESIS, seal, type ChainKey, type ChainTip } from '../chain.js';
import type { AuditRecord, UnsealedRecord } from '../record.js';

export class SpoolFullError extends Error {
  constructor() {
    super('audit spool is full');
    this.name = 'SpoolFullError';
  }
}

export class SpoolUnavailableError extends Error {
  constructor(cause?: unknown) {
    super('audit spool cannot be written', cause === undefined ? undefined : { cause });
    this.name = 'SpoolUnavailableError';
  }
}

export interface SpoolOptions {
  /** Directory of the on-disk spool; null keeps records in memory only. */
  readonly dir: string | null;
  readonly maxBytes: number;
  readonly segmentBytes: number;
  /** Committed records kept in memory for sinks that keep up; a sink behind this reads from disk. */
  readonly windowRecords: number;
  readonly key: ChainKey;
  /** Names of the sinks; each gets a cursor. */
  readonly sinks: readonly string[];
  /** How often, at most, cursors are persisted (a lost cursor only means a replay). */
  readonly cursorFlushMs?: number;
}

interface Segment {
  readonly firstSeq: number;
  readonly file: string;
  bytes: number;
  lastSeq: number;
}

interface Pending {
  readonly record: UnsealedRecord;
  readonly bytes: number;
  resolve(record: AuditRecord): void;
  reject(err: Error): void;
}

interface State {
  tip: ChainTip;
  cursors: Record<string, number>;
}

const SEGMENT = /^(\d{20})\.jsonl$/;
/** Upper bound of what sealing adds to a record (deliveryId and chain), for the size check. */
const SEAL_OVERHEAD = 320;

export class Spool {
  readonly instance: string;
  private readonly options: SpoolOptions;
  private tip: ChainTip;
  private readonly cursors: Map<string, number>;
  private readonly segments: Segment[];
  private handle: fsp.FileHandle | null = null;
  /** Committed records in memory, oldest first; `window[0]` has seq `windowStart`. */
  private window: AuditRecord[] = [];
  private windowStart: number;
  private windowBytes: number[] = [];
  private bytes: number;
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private flushing: Promise<void> | null = null;
  private failure: Error | null = null;
  private recovering: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly listeners = new Set<() => void>();
  private cursorTimer: NodeJS.Timeout | null = null;
  private segmentCache: { file: string; size: number; records: AuditRecord[] } | null = null;
  /** Observers of each group commit (metrics). */
  onGroupCommit: ((records: number, seconds: number) => void) | null = null;

  private constructor(options: SpoolOptions, instance: string, state: State, segments: Segment[]) {
    this.options = options;
    this.instance = instance;
    this.tip = state.tip;
    this.segments = segments;
    this.bytes = segments.reduce((n, s) => n + s.bytes, 0);
    this.windowStart = state.tip.seq + 1;
    const oldest = segments[0]?.firstSeq ?? state.tip.seq + 1;
    // A sink without a cursor (new in the config) starts at the oldest record still spooled.
    this.cursors = new Map(options.sinks.map((name) => [name, state.cursors[name] ?? oldest - 1]));
  }

  /** Opens (and after a crash, recovers) the spool: a torn last line is cut off, the chain resumes from its tip. */
  static async open(options: SpoolOptions): Promise<Spool> {
    if (options.dir === null) return new Spool(options, randomUUID(), { tip: { seq: 0, hash: GENESIS }, cursors: {} }, []);
    const dir = options.dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    takeLock(dir);
    const instance = readOrCreate(path.join(dir, 'instance'), () => randomUUID());
    const state = readState(dir);
    const segments: Segment[] = [];
    const files = readdirSync(dir).filter((f) => SEGMENT.test(f)).sort();
    for (const [i, name] of files.entries()) {
      const file = path.join(dir, name);
      const { records, goodBytes, totalBytes } = parseSegment(file);
      if (goodBytes < totalBytes) {
        // Only the newest segment can end in a torn write (a crash mid-append); anything else is damage.
        if (i !== files.length - 1) throw new Error(`audit spool segment ${file} is damaged at byte ${goodBytes}; move it aside to start`);
        truncateDurably(file, goodBytes);
      }
      const last = records.at(-1);
      if (last === undefined) {
        unlinkSync(file);
        continue;
      }
      segments.push({ firstSeq: Number(SEGMENT.exec(name)?.[1]), file, bytes: goodBytes, lastSeq: last.chain.seq });
      if (last.chain.seq > state.tip.seq) state.tip = { seq: last.chain.seq, hash: last.chain.hash };
    }
    const spool = new Spool(options, instance, state, segments);
    spool.writeState();
    return spool;
  }

  get durable(): boolean {
    return this.options.dir !== null;
  }

  /** The last committed record. */
  get committed(): ChainTip {
    return this.tip;
  }

  get sizeBytes(): number {
    return this.bytes + this.pendingBytes;
  }

  get writable(): boolean {
    return this.failure === null && !this.closed;
  }

  /** Whether `bytes` more would fit now. */
  hasRoom(bytes: number): boolean {
    return this.bytes + this.pendingBytes + bytes <= this.options.maxBytes;
  }

  cursorOf(sink: string): number {
    return this.cursors.get(sink) ?? this.tip.seq;
  }

  /**
   * Seals and appends a record; resolves with the sealed record once it is committed (written and
   * fdatasynced on disk), rejects if that write fails. Throws at once (synchronously, so the
   * caller can refuse before answering) when the spool is full or unwritable.
   */
  append(record: UnsealedRecord): Promise<AuditRecord> {
    if (this.closed || this.failure !== null) throw new SpoolUnavailableError(this.failure ?? undefined);
    const bytes = Buffer.byteLength(JSON.stringify(record)) + SEAL_OVERHEAD;
    if (this.bytes + this.pendingBytes + bytes > this.options.maxBytes) throw new SpoolFullError();
    return new Promise((resolve, reject) => {
      this.pending.push({ record, bytes, resolve, reject });
      this.pendingBytes += bytes;
      // setImmediate, not a microtask: appends made in the same turn of the event loop share a group.
      if (this.flushing === null) this.flushing = new Promise((done) => setImmediate(() => this.flushLoop().finally(done)));
    });
  }

  /** Resolves when everything appended so far is committed or failed. */
  async flush(): Promise<void> {
    while (this.flushing !== null) await this.flushing;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.pending.length > 0 && this.failure === null) {
        const group = this.pending.splice(0);
        const groupBytes = group.reduce((n, p) => n + p.bytes, 0);
        const started = process.hrtime.bigint();
        let tip = this.tip;
        const sealed = group.map((p) => {
          const r = seal(p.record, this.instance, tip, this.options.key);
          tip = { seq: r.chain.seq, hash: r.chain.hash };
          return r;
        });
        const lines = sealed.map((r) => `${JSON.stringify(r)}\n`);
        try {
          if (this.options.dir !== null) await this.writeGroup(Buffer.from(lines.join(''), 'utf8'), sealed[0]!.chain.seq, tip.seq);
        } catch (err) {
          this.pendingBytes -= groupBytes;
          this.fail(err);
          for (const p of group) p.reject(new SpoolUnavailableError(err));
          continue;
        }
        this.pendingBytes -= groupBytes;
        this.tip = tip;
        for (const [i, r] of sealed.entries()) this.remember(r, Buffer.byteLength(lines[i]!));
        this.onGroupCommit?.(group.length, Number(process.hrtime.bigint() - started) / 1e9);
        group.forEach((p, i) => p.resolve(sealed[i]!));
        for (const listener of this.listeners) listener();
      }
      // A failure leaves later appends (queued before it was seen) to be refused too.
      for (const p of this.pending.splice(0)) {
        this.pendingBytes -= p.bytes;
        p.reject(new SpoolUnavailableError(this.failure ?? undefined));
      }
    } finally {
      this.flushing = null;
    }
  }

  private async writeGroup(buf: Buffer, firstSeq: number, lastSeq: number): Promise<void> {
    let segment = this.segments.at(-1);
    if (this.handle === null || segment === undefined || segment.bytes >= this.options.segmentBytes) {
      await this.handle?.close();
      this.handle = null;
      const file = path.join(this.options.dir as string, `${String(firstSeq).padStart(20, '0')}.jsonl`);
      const handle = await fsp.open(file, 'a', 0o600);
      // The new file's directory entry must be durable too, or a crash could lose the whole segment.
      await syncDirectory(this.options.dir as string);
      this.handle = handle;
      segment = { firstSeq, file, bytes: 0, lastSeq: firstSeq - 1 };
      this.segments.push(segment);
    }
    let offset = 0;
    while (offset < buf.length) offset += (await this.handle.write(buf, offset, buf.length - offset)).bytesWritten;
    await this.handle.datasync();
    segment.bytes += buf.length;
    segment.lastSeq = lastSeq;
    this.bytes += buf.length;
  }

  /** Enters the failed state: appends are refused until the segment is repaired (retried every second). */
  private fail(err: unknown): void {
    this.failure = err instanceof Error ? err : new Error(String(err));
    const handle = this.handle;
    this.handle = null;
    void handle?.close().catch(() => {});
    if (this.recovering === null && !this.closed) this.recovering = setInterval(() => this.tryRecover(), 1000).unref();
  }

  private tryRecover(): void {
    try {
      // Cut whatever part of the failed group reached the file: those records were never sealed.
      const segment = this.segments.at(-1);
      if (segment !== undefined) {
        if (segment.lastSeq < segment.firstSeq) {
          rmIfExists(segment.file);
          this.segments.pop();
        } else truncateDurably(segment.file, segment.bytes);
      }
      // Prove the directory takes writes again before accepting records.
      const probe = path.join(this.options.dir as string, '.probe');
      writeFileSync(probe, 'ok');
      unlinkSync(probe);
      this.failure = null;
      if (this.recovering !== null) clearInterval(this.recovering);
      this.recovering = null;
    } catch {
      // still failing; the next tick tries again
    }
  }

  private remember(record: AuditRecord, bytes: number): void {
    this.window.push(record);
    this.windowBytes.push(bytes);
    if (this.options.dir === null) this.bytes += bytes;
    this.trimWindow();
  }

  private trimWindow(): void {
    let drop = 0;
    if (this.options.dir === null) {
      // In memory the window is the spool: keep everything some sink still needs.
      const min = this.minCursor();
      while (drop < this.window.length && this.windowStart + drop <= min) this.bytes -= this.windowBytes[drop++]!;
    } else {
      drop = Math.max(0, this.window.length - this.options.windowRecords);
    }
    if (drop > 0) {
      this.window = this.window.slice(drop);
      this.windowBytes = this.windowBytes.slice(drop);
      this.windowStart += drop;
    }
  }

  private minCursor(): number {
    let min = this.tip.seq;
    for (const c of this.cursors.values()) min = Math.min(min, c);
    return min;
  }

  /** Committed records with seq > afterSeq, at most `max`, in order. */
  async read(afterSeq: number, max: number): Promise<AuditRecord[]> {
    const next = afterSeq + 1;
    if (next > this.tip.seq) return [];
    if (next >= this.windowStart) return this.window.slice(next - this.windowStart, next - this.windowStart + max);
    const out: AuditRecord[] = [];
    for (const segment of this.segments) {
      if (segment.lastSeq < next || out.length >= max) continue;
      const records = await this.segmentRecords(segment);
      for (const r of records) {
        if (r.chain.seq > (out.at(-1)?.chain.seq ?? afterSeq) && r.chain.seq <= this.tip.seq && out.length < max) out.push(r);
      }
    }
    return out;
  }

  private async segmentRecords(segment: Segment): Promise<AuditRecord[]> {
    const cached = this.segmentCache;
    if (cached !== null && cached.file === segment.file && cached.size === segment.bytes) return cached.records;
    // Only the committed bytes: a group may be being written past them right now.
    const text = (await fsp.readFile(segment.file)).subarray(0, segment.bytes).toString('utf8');
    const records = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AuditRecord);
    this.segmentCache = { file: segment.file, size: segment.bytes, records };
    return records;
  }

  /** Calls `listener` after each commit; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A sink has delivered everything up to `seq`: segments every sink is past are deleted. */
  ack(sink: string, seq: number): void {
    // After close the directory may already belong to the next process: a late ack is dropped
    // (the record is delivered again at the next start, and deduped by its delivery id).
    if (this.closed || seq <= (this.cursors.get(sink) ?? 0)) return;
    this.cursors.set(sink, seq);
    const min = this.minCursor();
    if (this.options.dir === null) {
      this.trimWindow();
      return;
    }
    // The newest segment stays: it holds the chain tip the next start resumes from.
    while (this.segments.length > 1 && this.segments[0]!.lastSeq <= min) {
      const done = this.segments.shift() as Segment;
      rmIfExists(done.file);
      this.bytes -= done.bytes;
    }
    this.cursorTimer ??= setTimeout(() => {
      this.cursorTimer = null;
      this.writeState();
    }, this.options.cursorFlushMs ?? 100);
  }

  private writeState(): void {
    if (this.options.dir === null) return;
    try {
      const file = path.join(this.options.dir, 'state.json');
      writeFileSync(`${file}.tmp`, JSON.stringify({ tip: this.tip, cursors: Object.fromEntries(this.cursors) } satisfies State), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch {
      // Cursors are an optimisation: a stale one only means records are delivered again.
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.cursorTimer !== null) clearTimeout(this.cursorTimer);
    if (this.recovering !== null) clearInterval(this.recovering);
    this.writeState();
    await this.handle?.close().catch(() => {});
    this.handle = null;
    if (this.options.dir !== null) rmIfExists(path.join(this.options.dir, 'lock'));
  }
}

function parseSegment(file: string): { records: AuditRecord[]; goodBytes: number; totalBytes: number } {
  const buf = readFileSync(file);
  const records: AuditRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const nl = buf.indexOf(0x0a, offset);
    if (nl < 0) break;
    try {
      records.push(JSON.parse(buf.subarray(offset, nl).toString('utf8')) as AuditRecord);
    } catch {
      break;
    }
    offset = nl + 1;
  }
  return { records, goodBytes: offset, totalBytes: buf.length };
}

function readState(dir: string): State {
  try {
    const parsed = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as Partial<State>;
    const tip = parsed.tip && Number.isInteger(parsed.tip.seq) && typeof parsed.tip.hash === 'string' ? parsed.tip : { seq: 0, hash: GENESIS };
    return { tip, cursors: typeof parsed.cursors === 'object' && parsed.cursors !== null ? parsed.cursors : {} };
  } catch {
    return { tip: { seq: 0, hash: GENESIS }, cursors: {} };
  }
}

function readOrCreate(file: string, create: () => string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const value = create();
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    return value;
  }
}

/** One gateway per spool directory: two writers would fork the chain. A lock left by a dead process is taken over. */
function takeLock(dir: string): void {
  const file = path.join(dir, 'lock');
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid !== process.pid && isAlive(pid)) throw new Error(`audit spool ${dir} is in use by process ${pid}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  writeFileSync(file, String(process.pid), { mode: 0o600 });
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function truncateDurably(file: string, length: number): void {
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, length);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function rmIfExists(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
