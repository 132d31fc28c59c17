/**
 * Cases in memory: for one process (tests, the detector bench). A deployment keeps them in the
 * postgres store, which every replica shares.
 */
import { randomUUID } from 'node:crypto';
import { amended, caseFromDraft, CaseTransitionError, type CaseStore, type ReviewCase } from './case.js';

export function createMemoryCaseStore(newId: () => string = randomUUID): CaseStore {
  const byId = new Map<string, ReviewCase>();
  const byKey = new Map<string, string>();
  return {
    async openOrAmend(draft) {
      const id = byKey.get(draft.key);
      const existing = id === undefined ? undefined : byId.get(id);
      if (existing === undefined) {
        const opened = caseFromDraft(newId(), draft);
        byId.set(opened.id, opened);
        byKey.set(opened.key, opened.id);
        return { outcome: 'opened', case: opened };
      }
      const next = amended(existing, draft);
      if (next === null) return { outcome: 'unchanged', case: existing };
      byId.set(next.id, next);
      return { outcome: 'amended', case: next };
    },
    async get(id) {
      return byId.get(id) ?? null;
    },
    async list(filter) {
      const all = [...byId.values()]
        .filter((c) => (filter.status === undefined || c.status === filter.status) && (filter.kind === undefined || c.kind === filter.kind) && (filter.patient === undefined || c.patient === filter.patient))
        .sort((a, b) => (a.openedAt < b.openedAt ? 1 : a.openedAt > b.openedAt ? -1 : a.id < b.id ? 1 : -1));
      return filter.limit === undefined ? all : all.slice(0, filter.limit);
    },
    async close(id, to, reviewer, note, at) {
      const existing = byId.get(id);
      if (existing === undefined) throw new CaseTransitionError('case_not_found', id);
      if (existing.status !== 'open') throw new CaseTransitionError('case_not_open', id);
      const closed: ReviewCase = { ...existing, status: to, transitions: [...existing.transitions, { from: 'open', to, at, reviewer, note }] };
      byId.set(id, closed);
      return closed;
    },
    async stats() {
      let open = 0;
      let oldest: string | null = null;
      for (const c of byId.values()) {
        if (c.status !== 'open') continue;
        open++;
        if (oldest === null || c.openedAt < oldest) oldest = c.openedAt;
      }
      return { open, oldestOpenAt: oldest };
    },
    async closeStore() {},
  };
}
