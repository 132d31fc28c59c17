/**
 * Review cases in the audit store's database (PostgreSQL, or PGlite embedded): shared by every
 * replica, so a case opened by one is seen, and not opened again, by all. Opening is an
 * `INSERT ... ON CONFLICT (key) DO NOTHING`; amending and closing lock the row, so concurrent
 * replicas and reviewers serialise on it.
 *
 * Closing a case writes its transition record (transition-record.ts) into `audit_records` in the
 * same transaction: there is no closed case without its audit record, nor the reverse. Those
 * records form a chain of their own (instance `transitions.instance`), sealed with the audit key;
 * writers serialise on an advisory lock, so two reviewers closing at once do not fork it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { GENESIS, seal, type ChainKey } from '../audit/chain.js';
import { ensurePartitions, monthOf } from '../audit/store/partitions.js';
import type { SqlClient, SqlQuery } from '../audit/store/sql.js';
import { rowOf } from '../audit/store/write.js';
import { amended, caseFromDraft, CaseTransitionError, type CaseStore, type ReviewCase } from './case.js';
import { transitionRecord, type Reviewer } from './transition-record.js';

export interface SqlCaseStoreOptions {
  readonly db: SqlClient;
  /** The chain of transition records: its instance name and the audit HMAC key (null: unkeyed). */
  readonly transitions: { readonly instance: string; readonly key: ChainKey; readonly policyRevision: string };
  readonly newId?: () => string;
}

export interface SqlCaseStore extends CaseStore {
  /** Closes a case as `reviewer` (with their identity in the transition record). */
  closeAs(id: string, to: 'justified' | 'unjustified', reviewer: Reviewer, note: string, at: string): Promise<ReviewCase>;
}

const lockKey = (instance: string): string => BigInt.asIntN(64, BigInt(`0x${createHash('sha256').update(`fhirgw-chain:${instance}`).digest('hex').slice(0, 16)}`)).toString();

async function save(q: SqlQuery, c: ReviewCase): Promise<void> {
  await q.query(`UPDATE review_cases SET status = $2, severity = $3, signals = $4, body = $5 WHERE id = $1`, [c.id, c.status, c.severity, c.findings.map((f) => f.signal), JSON.stringify(c)]);
}

async function locked(q: SqlQuery, where: string, value: string): Promise<ReviewCase | null> {
  const rows = await q.query<{ body: ReviewCase }>(`SELECT body FROM review_cases WHERE ${where} = $1 FOR UPDATE`, [value]);
  return rows[0]?.body ?? null;
}

export function createSqlCaseStore(options: SqlCaseStoreOptions): SqlCaseStore {
  const { db } = options;
  const newId = options.newId ?? randomUUID;

  const closeAs: SqlCaseStore['closeAs'] = async (id, to, reviewer, note, at) => {
    // The month's partition exists before the transaction that writes into it.
    await ensurePartitions(db, [monthOf(new Date(at))]);
    return db.transaction(async (tx) => {
      const existing = await locked(tx, 'id::text', id);
      if (existing === null) throw new CaseTransitionError('case_not_found', id);
      if (existing.status !== 'open') throw new CaseTransitionError('case_not_open', id);
      const closed: ReviewCase = { ...existing, status: to, transitions: [...existing.transitions, { from: 'open', to, at, reviewer: `${reviewer.iss}|${reviewer.sub}`, note }] };
      await save(tx, closed);
      const { instance, key, policyRevision } = options.transitions;
      await tx.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey(instance)]);
      const [tip] = await tx.query<{ seq: string | number; hash: string }>('SELECT seq, hash FROM audit_records WHERE instance = $1 ORDER BY seq DESC LIMIT 1', [instance]);
      const record = seal(transitionRecord(closed, reviewer, at, policyRevision), instance, tip ? { seq: Number(tip.seq), hash: tip.hash } : { seq: 0, hash: GENESIS }, key);
      await tx.query('INSERT INTO audit_records SELECT * FROM jsonb_populate_record(NULL::audit_records, $1::jsonb)', [JSON.stringify(rowOf(record))]);
      return closed;
    });
  };

  return {
    async openOrAmend(draft) {
      const fresh = caseFromDraft(newId(), draft);
      const inserted = await db.query<{ id: string }>(
        `INSERT INTO review_cases (id, key, kind, status, severity, opened_at, iss, sub, patient, signals, body)
         VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (key) DO NOTHING RETURNING id`,
        [fresh.id, fresh.key, fresh.kind, fresh.severity, fresh.openedAt, fresh.user.iss, fresh.user.sub, fresh.patient, [draft.finding.signal], JSON.stringify(fresh)],
      );
      if (inserted.length > 0) return { outcome: 'opened', case: fresh };
      return db.transaction(async (tx) => {
        const existing = await locked(tx, 'key', draft.key);
        if (existing === null) throw new Error(`case ${draft.key} vanished`);
        const next = amended(existing, draft);
        if (next === null) return { outcome: 'unchanged' as const, case: existing };
        await save(tx, next);
        return { outcome: 'amended' as const, case: next };
      });
    },
    async get(id) {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
      const rows = await db.query<{ body: ReviewCase }>('SELECT body FROM review_cases WHERE id = $1', [id]);
      return rows[0]?.body ?? null;
    },
    async list(filter) {
      const params: unknown[] = [];
      const conds: string[] = [];
      const p = (v: unknown): string => {
        params.push(v);
        return `$${params.length}`;
      };
      if (filter.status !== undefined) conds.push(`status = ${p(filter.status)}`);
      if (filter.kind !== undefined) conds.push(`kind = ${p(filter.kind)}`);
      if (filter.patient !== undefined) conds.push(`patient = ${p(filter.patient)}`);
      const limit = filter.limit === undefined ? '' : ` LIMIT ${p(Math.max(1, Math.floor(filter.limit)))}`;
      const rows = await db.query<{ body: ReviewCase }>(`SELECT body FROM review_cases${conds.length ? ` WHERE ${conds.join(' AND ')}` : ''} ORDER BY opened_at DESC, id DESC${limit}`, params);
      return rows.map((r) => r.body);
    },
    close(id, to, reviewer, note, at) {
      return closeAs(id, to, { iss: 'fhir-gateway:review', sub: reviewer, clientId: null, roles: ['privacy-officer'] }, note, at);
    },
    closeAs,
    async stats() {
      const [row] = await db.query<{ n: string | number; oldest: Date | string | null }>(`SELECT count(*) AS n, min(opened_at) AS oldest FROM review_cases WHERE status = 'open'`);
      const oldest = row?.oldest ?? null;
      return { open: Number(row?.n ?? 0), oldestOpenAt: oldest === null ? null : new Date(oldest).toISOString() };
    },
    async closeStore() {},
  };
}
