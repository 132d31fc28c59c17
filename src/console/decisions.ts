/**
 * The Decisions page's API over the audit store (src/audit/store): filtered pages of request
 * records, newest first, and one record in full with its reasons in words (the reason catalogue),
 * the verification of its chain, and the playground case that replays it.
 */
import { canonicalJson, recordMacValid, verifyChain, type ChainKey } from '../audit/chain.js';
import type { ReadableRecord } from '../audit/record.js';
import type { AuditStoreReader, RecordFilter } from '../audit/store/query.js';
import { GatewayError } from '../errors.js';
import { meaningOf } from '../policy-cli/explain.js';
import { parseRecordedLine, replayInput, requestLine } from '../policy-cli/replay.js';
import type { ApiRoute } from './app.js';

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
        const out: ReturnType<typeof summary>[] = [];
        for await (const { record } of store.scan(filter, 200)) {
          if (record.kind !== 'request') continue;
          if (reason !== undefined && !record.outcome.reasons.includes(reason)) continue;
          if (revision !== undefined && record.policyRevision !== revision) continue;
          out.push(summary(record));
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

function summary(r: RequestRecordOf<ReadableRecord>) {
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
