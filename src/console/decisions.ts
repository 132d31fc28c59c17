/**
 * The Decisions page's API over the audit store (src/audit/store): filtered pages of request
 * records, newest first, and one record in full with its reasons in words (the reason catalogue),
 * the verification of its chain, and the playground case that replays it; and Impact, a window
 * of the trail replayed against a candidate.
 */
import { z } from 'zod';
import { canonicalJson, recordMacValid, verifyChain, type ChainKey } from '../audit/chain.js';
import type { ReadableRecord } from '../audit/record.js';
import type { AuditStoreReader, RecordFilter } from '../audit/store/query.js';
import { GatewayError } from '../errors.js';
import { meaningOf } from '../policy-cli/explain.js';
import { parseRecordedLine, replay, replayInput, requestLine } from '../policy-cli/replay.js';
import { PolicyEngine, type PolicyEvaluator } from '../policy/engine.js';
import type { ApiRoute } from './app.js';
import { candidateSchema, withCandidate } from './candidate.js';

const INTERACTIONS = /^[a-z-]+$/;
const TYPE = /^[A-Z][A-Za-z]+$/;

function bad(parameter: string): GatewayError {
  return new GatewayError('console_invalid_request', { reasons: ['console.filter'], parameter });
}

function dateOf(v: unknown, name: string): Date | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !Number.isFinite(Date.parse(v))) throw bad(`${name} must be a date-time`);
  return new Date(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function decisionRoutes(store: AuditStoreReader, key: ChainKey): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/decisions',
      roles: ['privacy-officer', 'auditor'],
      action: 'decisions.search',
      handle: async ({ req }) => {
        const q = req.query;
        const decision = str(q['decision']);
        if (decision !== undefined && !['allow', 'deny', 'error'].includes(decision)) throw bad('decision must be allow, deny or error');
        const interaction = str(q['interaction']);
        if (interaction !== undefined && !INTERACTIONS.test(interaction)) throw bad('interaction');
        const type = str(q['type']);
        if (type !== undefined && !TYPE.test(type)) throw bad('type');
        const limit = q['limit'] === undefined ? 50 : Number(q['limit']);
        if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw bad('limit must be 1 to 500');
        const filter: RecordFilter = {
          kind: 'request',
          ...(dateOf(q['from'], 'from') ? { from: dateOf(q['from'], 'from')! } : {}),
          ...(dateOf(q['before'], 'before') ? { before: dateOf(q['before'], 'before')! } : {}),
          ...(str(q['user']) ? { agent: str(q['user'])! } : {}),
          ...(str(q['client']) ? { client: str(q['client'])! } : {}),
          ...(str(q['patient']) ? { anyPatient: str(q['patient'])! } : {}),
          ...(interaction ? { interaction: [interaction] } : {}),
          ...(type ? { resourceType: [type] } : {}),
          ...(decision ? { decision: decision as 'allow' | 'deny' | 'error' } : {}),
        };
        const reason = str(q['reason']);
        const revision = str(q['revision']);
        // Reason and revision are not store columns: pages are read until `limit` records match.
        const out: ReturnType<typeof recordSummary>[] = [];
        for await (const { record } of store.scan(filter, 200)) {
          if (record.kind !== 'request') continue;
          if (reason !== undefined && !record.outcome.reasons.includes(reason)) continue;
          if (revision !== undefined && record.policyRevision !== revision) continue;
          out.push(recordSummary(record));
        }
        out.reverse();
        return { status: 200, body: { records: out.slice(0, limit), total: out.length } };
      },
    },
    {
      method: 'GET',
      path: '/decisions/record',
      roles: ['privacy-officer', 'auditor'],
      action: 'decisions.read',
      handle: async ({ req }) => {
        const id = str(req.query['id']);
        const time = dateOf(req.query['time'], 'time');
        if (id === undefined || time === undefined) throw bad('id and time are required');
        const page = await store.records({ from: time, before: new Date(time.getTime() + 1) }, { order: 'asc', limit: 500 });
        const found = page.find((r) => r.record.deliveryId === id)?.record;
        if (!found || found.kind !== 'request') throw new GatewayError('not_found');
        return { status: 200, body: await detail(found, store, key) };
      },
    },
  ];
}

type RequestRecordOf<R> = R extends { kind: 'request' } ? R : never;

/** A request record as one row of a list (Decisions, a case's record trail). */
export function recordSummary(r: RequestRecordOf<ReadableRecord>) {
  return {
    id: r.deliveryId,
    time: r.time,
    user: r.principal ? (r.principal.fhir_user ?? r.principal.sub) : null,
    client: r.principal?.client_id ?? null,
    roles: r.principal?.roles ?? [],
    request: r.request ? { method: r.request.method, interaction: r.request.interaction, type: r.request.type, id: r.request.id, operation: r.request.operation } : null,
    decision: r.outcome.decision,
    status: r.outcome.status,
    reasons: r.outcome.reasons,
    breakGlass: r.outcome.breakGlass,
    policyRevision: r.policyRevision,
  };
}

async function detail(record: RequestRecordOf<ReadableRecord>, store: AuditStoreReader, key: ChainKey) {
  const entries = [];
  for await (const e of store.chainEntries(record.chain.instance)) entries.push(e);
  const report = verifyChain(entries, key);
  const recorded = parseRecordedLine(canonicalJson(record));
  const input = typeof recorded === 'string' ? recorded : replayInput(recorded, record.policyRevision);
  const p = record.principal;
  const playgroundCase =
    typeof input === 'string' || !p
      ? null
      : {
          claims: { iss: p.iss, sub: p.sub, client_id: p.client_id, roles: p.roles, purpose_of_use: p.purpose_of_use, patient: p.patient, fhirUser: p.fhir_user, scope: p.scopes.join(' ') },
          request: requestLine(input.request),
          now: record.time,
        };
  return {
    record,
    reasons: record.outcome.reasons.map((code) => ({ code, meaning: meaningOf(code) })),
    chain: {
      macValid: recordMacValid(record, key),
      instance: record.chain.instance,
      seq: record.chain.seq,
      instanceRecords: report.records,
      instanceIntact: report.problem === null,
      problem: report.problem,
    },
    // The same request in the playground (search values the trail masked replay as ***).
    playgroundCase,
    playgroundUnavailable: typeof input === 'string' ? input : null,
  };
}

const impactSchema = z.strictObject({
  /** The window of the trail to replay (RFC 3339; `before` exclusive). */
  from: z.iso.datetime({ offset: true }),
  before: z.iso.datetime({ offset: true }),
  /** The candidate's sources (path → content), built with opa build like `policy build`. */
  candidate: candidateSchema,
});

/**
 * Impact: the recorded requests of a window replayed against the active bundle and a candidate
 * (`policy diff`, src/policy-cli/replay.ts), the changed decisions listed and counted by reason,
 * role, resource type and interaction.
 */
export function impactRoute(store: AuditStoreReader, active: () => PolicyEvaluator | null): ApiRoute {
  return {
    method: 'POST',
    path: '/impact',
    roles: ['policy-author', 'privacy-officer'],
    action: 'impact.replay',
    handle: async ({ req }) => {
      const body = impactSchema.safeParse(req.body);
      if (!body.success) throw bad(body.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
      const baseline = active();
      if (!baseline) throw new GatewayError('policy_not_ready');
      const lines: string[] = [];
      for await (const { record } of store.scan({ kind: 'request', from: new Date(body.data.from), before: new Date(body.data.before) }, 200)) lines.push(canonicalJson(record));
      return withCandidate(body.data.candidate.files, async ({ bundle }) => {
        const candidate = await PolicyEngine.load(bundle, { maxMemoryPages: 2048 });
        const report = await replay(lines, baseline, candidate);
        const byRecord = new Map(lines.map((l) => JSON.parse(l) as { deliveryId?: string; decisionId?: string; principal?: { roles?: string[] } | null; request?: { type?: string | null; interaction?: string } | null }).map((r) => [r.decisionId, r]));
        const groups = { reason: {} as Record<string, number>, role: {} as Record<string, number>, type: {} as Record<string, number>, interaction: {} as Record<string, number> };
        const bump = (g: Record<string, number>, k: string): void => {
          g[k] = (g[k] ?? 0) + 1;
        };
        for (const c of report.changes) {
          const r = byRecord.get(c.id);
          for (const reason of new Set([...c.before.reasons, ...c.after.reasons])) bump(groups.reason, reason);
          for (const role of r?.principal?.roles ?? ['(none)']) bump(groups.role, role);
          bump(groups.type, r?.request?.type ?? '(system)');
          bump(groups.interaction, r?.request?.interaction ?? '(unknown)');
        }
        return { status: 200, body: { ...report, groups } };
      });
    },
  };
}
