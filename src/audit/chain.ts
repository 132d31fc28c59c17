/**
 * The per-instance hash chain that makes the audit trail tamper-evident. Pure: no I/O.
 *
 * Each record carries its instance, a gapless sequence number, the previous record's hash and its
 * own hash: HMAC-SHA256, keyed with the audit key, of the canonical JSON of the record without the
 * hash. Editing a record breaks its MAC; deleting one leaves a gap in `seq` and a `prev` that no
 * longer matches; moving one puts `seq` out of order. Without the key nobody can re-seal an edited
 * trail, so the key lives only in the gateway's secret store (env or file), never in the YAML.
 */
import { createHash, createHmac } from 'node:crypto';
import type { AuditRecord, Chain, ReadableRecord, UnsealedRecord } from './record.js';
import { readableRecordSchema } from './record.js';

export const GENESIS = '0'.repeat(64);

/** `null` key: an unkeyed SHA-256 chain (detects accidents, not an attacker who can rewrite it all). */
export type ChainKey = Buffer | null;

export interface ChainTip {
  readonly seq: number;
  readonly hash: string;
}

/** JSON with object keys sorted at every level: the bytes the MAC is computed over. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const object = value as Record<string, unknown>;
  // Default sort compares UTF-16 code units, as RFC 8785 does; keys here are ASCII anyway.
  let out = '';
  for (const key of Object.keys(object).sort()) {
    const v = object[key];
    if (v === undefined) continue;
    out += `${out === '' ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return `{${out}}`;
}

function macOf(body: unknown, key: ChainKey): string {
  const text = canonicalJson(body);
  return key === null ? createHash('sha256').update(text).digest('hex') : createHmac('sha256', key).update(text).digest('hex');
}

export function deliveryIdOf(instance: string, seq: number): string {
  return `${instance}/${seq}`;
}

/** Seals a record as the successor of `tip` (GENESIS tip: seq 0). */
export function seal(record: UnsealedRecord, instance: string, tip: ChainTip, key: ChainKey): AuditRecord {
  const seq = tip.seq + 1;
  const chain: Omit<Chain, 'hash'> = { instance, seq, prev: tip.hash, alg: key === null ? 'sha256' : 'hmac-sha256' };
  const body = { ...record, deliveryId: deliveryIdOf(instance, seq), chain };
  return { ...body, chain: { ...chain, hash: macOf(body, key) } } as AuditRecord;
}

/** Whether a record's own MAC is the one its content and the key give (the console's record check). */
export function recordMacValid(record: ReadableRecord, key: ChainKey): boolean {
  return expectedHash(record, key) === record.chain.hash;
}

function expectedHash(record: ReadableRecord, key: ChainKey): string {
  const { hash: _hash, ...chain } = record.chain;
  return macOf({ ...record, chain }, key);
}

// ---------- verification ----------

export type ChainProblemKind =
  | 'malformed' // not a record of this schema
  | 'edited' // its MAC does not match its content
  | 'unkeyed' // an unkeyed record where the verifier holds a key (a downgrade)
  | 'missing' // one or more sequence numbers never appear
  | 'reordered' // a record appears before one that precedes it in the chain
  | 'broken-link' // `prev` is not the previous record's hash
  | 'forked'; // two different records with the same sequence number

export interface ChainProblem {
  readonly kind: ChainProblemKind;
  /** Where in the input: a line number, a stream entry id. */
  readonly position: string;
  readonly instance: string | null;
  readonly seq: number | null;
  readonly detail: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly records: number;
  readonly duplicates: number;
  /** Per instance: first and last sequence number seen, the last checkpoint's seq (null: none seen). */
  readonly instances: Record<string, { first: number; last: number; lastCheckpoint: number | null }>;
  /** The first problem in input order. */
  readonly problem: ChainProblem | null;
}

export interface RawEntry {
  readonly position: string;
  readonly text: string;
}

interface Parsed {
  readonly position: string;
  readonly record: ReadableRecord | null;
  readonly error: string | null;
}

/**
 * Verifies records in the order a consumer received them. Exact duplicates (a replay after a
 * crash or an outage) are counted, not reported: delivery is at-least-once by design.
 */
export function verifyChain(entries: Iterable<RawEntry>, key: ChainKey): VerifyReport {
  const parsed: Parsed[] = [];
  const seqsOf = new Map<string, Set<number>>();
  for (const { position, text } of entries) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      parsed.push({ position, record: null, error: 'not JSON' });
      continue;
    }
    // Older schema versions verify too: a trail outlives the gateway version that wrote it.
    const result = readableRecordSchema.safeParse(json);
    if (!result.success) {
      parsed.push({ position, record: null, error: 'not an audit record of a known schema version' });
      continue;
    }
    parsed.push({ position, record: result.data, error: null });
    const { instance, seq } = result.data.chain;
    let set = seqsOf.get(instance);
    if (!set) seqsOf.set(instance, (set = new Set()));
    set.add(seq);
  }

  const state = new Map<string, { last: ChainTip; first: number; seen: Map<number, string>; lastCheckpoint: number | null }>();
  let duplicates = 0;
  let records = 0;
  const report = (problem: ChainProblem | null): VerifyReport => ({
    ok: problem === null,
    records,
    duplicates,
    instances: Object.fromEntries([...state].map(([i, s]) => [i, { first: s.first, last: s.last.seq, lastCheckpoint: s.lastCheckpoint }])),
    problem,
  });

  for (const { position, record, error } of parsed) {
    if (record === null) return report({ kind: 'malformed', position, instance: null, seq: null, detail: error ?? 'malformed' });
    records++;
    const { instance, seq, prev, alg, hash } = record.chain;
    const at = { position, instance, seq };
    if (key !== null && alg !== 'hmac-sha256') return report({ kind: 'unkeyed', ...at, detail: 'record is not keyed but a key was given' });
    if (key === null && alg === 'hmac-sha256') throw new TypeError('the trail is keyed: give the audit HMAC key to verify it');
    if (expectedHash(record, key) !== hash) return report({ kind: 'edited', ...at, detail: 'hash does not match the record content' });

    const s = state.get(instance);
    if (!s) {
      // The first record seen of an instance may be past seq 1: older records may have been
      // rotated away (file rotation, Redis MAXLEN).
      state.set(instance, { last: { seq, hash }, first: seq, seen: new Map([[seq, hash]]), lastCheckpoint: record.kind === 'checkpoint' ? seq : null });
      continue;
    }
    const earlier = s.seen.get(seq);
    if (earlier !== undefined) {
      if (earlier === hash) {
        duplicates++;
        records--;
        continue;
      }
      return report({ kind: 'forked', ...at, detail: 'two different records carry this sequence number' });
    }
    if (seq <= s.last.seq) return report({ kind: 'reordered', ...at, detail: `appears after seq ${s.last.seq}` });
    if (seq > s.last.seq + 1) {
      const later = firstBetween(seqsOf.get(instance) as Set<number>, s.last.seq, seq);
      if (later !== null) return report({ kind: 'reordered', ...at, detail: `appears before seq ${later}` });
      const gap = seq - s.last.seq - 1;
      return report({ kind: 'missing', position, instance, seq: s.last.seq + 1, detail: `${gap} record(s) missing: seq ${s.last.seq + 1}${gap > 1 ? `..${seq - 1}` : ''}` });
    }
    if (prev !== s.last.hash) return report({ kind: 'broken-link', ...at, detail: 'prev does not match the hash of the previous record' });
    if (record.kind === 'checkpoint') s.lastCheckpoint = seq;
    s.seen.set(seq, hash);
    s.last = { seq, hash };
  }
  return report(null);
}

/** The smallest member of `seqs` strictly between `low` and `high`, or null. */
function firstBetween(seqs: ReadonlySet<number>, low: number, high: number): number | null {
  let best: number | null = null;
  for (const n of seqs) if (n > low && n < high && (best === null || n < best)) best = n;
  return best;
}
