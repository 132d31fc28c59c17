/**
 * The access history: `GET <base>/AuditEvent?...` answered by the gateway from its audit store as a
 * searchset of BALP AuditEvents, never forwarded upstream. Policy has decided the request (who may
 * read which history, how staff appear: the `history` obligation); this reads the store, renders
 * each record as the reader may see it (view.ts), tests the per-entry criteria on that view, and
 * pages with the gateway's sealed cursors (src/paging/cursor.ts).
 *
 * A page holds `count` entries; one more found means a next page, which starts after the last
 * entry shown. At most `maxScan` records are read per page: a page cut short there still links to
 * the next. Which records are read, and how each is rendered, depends for a patient's history only
 * on that patient's records, so its pages do too.
 */
import type { Principal } from '../../auth/principal.js';
import { emptySummary, noteReleased, type EnforcementSummary } from '../../enforce/response.js';
import { GatewayError } from '../../errors.js';
import { CURSOR_PARAM } from '../../fhir/classify.js';
import type { FhirRequest } from '../../fhir/request.js';
import type { CursorCodec } from '../../paging/cursor.js';
import type { Decision } from '../../policy/contract.js';
import type { AuditEvent } from '../formats/audit-event.js';
import type { ReadableRecord, RequestRecord } from '../record.js';
import type { AuditStoreReader, Position, RecordFilter } from '../store/query.js';
import { parseHistoryParams, type HistoryQuery, type Token } from './params.js';
import { historyEntry, type HistoryView } from './view.js';

export interface HistoryOptions {
  readonly store: AuditStoreReader | null;
  readonly codec: CursorCodec;
  readonly publicBaseUrl: string;
  readonly defaultCount: number;
  readonly maxCount: number;
  /** Records read from the store for one page at most. */
  readonly maxScan: number;
}

export interface HistoryPage {
  readonly body: Record<string, unknown>;
  /** What the answer released, for its own audit record: reading a history is recorded too. */
  readonly summary: EnforcementSummary;
}

/** Where a history's cursor continues: `store:` and the position, in the cursor's upstream field. */
const STORE_PREFIX = 'store:';

/** True for a request the access history answers: an AuditEvent search. */
export function isHistorySearch(request: FhirRequest): boolean {
  return request.type === 'AuditEvent' && (request.interaction === 'search-type' || request.interaction === 'search-compartment' || request.interaction === 'search-system');
}

/** A continuation cursor of an access history: its search and position; null for any other cursor. */
export function historyContinuation(codec: CursorCodec, request: FhirRequest, principal: Principal, now: Date): { request: FhirRequest; position: Position; page: number } | null {
  if (request.interaction !== 'search-continue') return null;
  const token = request.params.find((p) => p.name === CURSOR_PARAM)?.value;
  if (token === undefined) return null;
  const state = codec.open(token, { iss: principal.iss, sub: principal.sub, clientId: principal.client_id }, now);
  if (!state.upstream.startsWith(STORE_PREFIX) || state.request.type !== 'AuditEvent') return null;
  const position = JSON.parse(state.upstream.slice(STORE_PREFIX.length)) as Position;
  return { request: state.request, position, page: state.page };
}

export async function answerHistory(
  options: HistoryOptions,
  request: FhirRequest,
  decision: Decision,
  principal: Principal,
  now: Date,
  start: { position: Position; page: number } | null = null,
): Promise<HistoryPage> {
  if (request.interaction !== 'search-type') throw new GatewayError('invalid_request', { reasons: ['history-search.search-type-only'] });
  const obligation = decision.obligations.history;
  // Fail closed: a policy that allows the search without saying whose history is a malformed decision.
  if (!obligation) throw new GatewayError('policy_error', { reasons: ['policy.history-obligation-missing'] });
  const query = parseHistoryParams(request.params);
  if (obligation.patient !== null && query.patient !== null && query.patient !== obligation.patient) throw new GatewayError('forbidden', { reasons: ['compartment.other-patient'] });
  // Staff shown by role only cannot be searched by name either: the answer would name them.
  if (obligation.staff === 'role-organisation' && obligation.patient !== null && query.agent !== null) {
    throw new GatewayError('invalid_search_parameter', { reasons: ['history-search.agent-hidden'], parameter: 'agent' });
  }
  const store = options.store;
  if (store === null) throw new GatewayError('access_history_unavailable');

  const patient = obligation.patient ?? query.patient;
  const view: HistoryView = { patient: obligation.patient, staff: obligation.staff, organisation: obligation.organisation, publicBaseUrl: options.publicBaseUrl };
  const count = Math.max(1, Math.min(query.count ?? options.defaultCount, options.maxCount));
  const filter: RecordFilter = {
    kind: 'request',
    ...(patient !== null ? { anyPatient: patient } : {}),
    ...(query.from ? { from: query.from } : {}),
    ...(query.before ? { before: query.before } : {}),
    ...(query.agent !== null ? { agent: query.agent } : {}),
    ...(query.purpose !== null ? { purposeOfUse: query.purpose } : {}),
  };

  const shown: Array<{ event: AuditEvent; record: RequestRecord; position: Position }> = [];
  let after = start?.position;
  let scanned = 0;
  let exhausted = false;
  let next: Position | null = null;
  while (!exhausted && next === null && scanned < options.maxScan) {
    const limit = Math.min(options.maxScan - scanned, count + 1);
    const batch = await store.records(filter, { order: query.order, limit, ...(after ? { after } : {}) }).catch((err: unknown) => {
      throw new GatewayError('audit_store_unavailable', { cause: err });
    });
    exhausted = batch.length < limit;
    for (const { record, position } of batch) {
      scanned++;
      after = position;
      if (!isCurrentRequest(record)) continue;
      const event = historyEntry(record, view);
      if (!matches(event, query)) continue;
      if (shown.length === count) {
        // One more match: the next page starts after the last entry shown.
        next = (shown.at(-1) as (typeof shown)[number]).position;
        break;
      }
      shown.push({ event, record, position });
    }
  }
  // Cut short by maxScan: the next page goes on after the last record read.
  if (next === null && !exhausted && after !== undefined) next = after;

  const owner = { iss: principal.iss, sub: principal.sub, clientId: principal.client_id };
  const page = start?.page ?? 0;
  const link: Array<Record<string, string>> = [{ relation: 'self', url: `${options.publicBaseUrl}/AuditEvent${queryString(request)}` }];
  if (next !== null) {
    const token = options.codec.seal({ request, upstream: `${STORE_PREFIX}${JSON.stringify(next)}`, skip: 0, count, page: page + 1 }, owner, now);
    link.push({ relation: 'next', url: `${options.publicBaseUrl}?${CURSOR_PARAM}=${token}` });
  }
  // The entries released are about their patients: the record of this read names them.
  const summary = emptySummary();
  summary.returned = shown.length;
  for (const { record } of shown) {
    const p = record.patients;
    const ids = obligation.patient !== null ? [obligation.patient] : new Set([...(p?.released.map((r) => r.id) ?? []), ...(p?.withheld ?? []), ...(p?.changed ?? [])]);
    for (const id of ids) noteReleased(summary, id, 'AuditEvent', 1);
  }
  const body = {
    resourceType: 'Bundle',
    type: 'searchset',
    link,
    ...(shown.length > 0 ? { entry: shown.map(({ event }) => ({ fullUrl: `${options.publicBaseUrl}/AuditEvent/${event.id}`, resource: event, search: { mode: 'match' } })) } : {}),
  };
  return { body, summary };
}

/** Records of schema 2 name no patients and are not part of a patient's history; the privacy office sees them all. */
function isCurrentRequest(record: ReadableRecord): record is RequestRecord {
  return record.kind === 'request' && record.schemaVersion === 3;
}

function matches(event: AuditEvent, q: HistoryQuery): boolean {
  const tokenIn = (codings: ReadonlyArray<{ system: string; code: string }>, tokens: readonly Token[]) => tokens.some((t) => codings.some((c) => c.code === t.code && (t.system === null || t.system === c.system)));
  if (q.type && !tokenIn([event.type], q.type)) return false;
  if (q.subtype && !tokenIn(event.subtype, q.subtype)) return false;
  if (q.action && !q.action.includes(event.action)) return false;
  if (q.outcome && !q.outcome.includes(event.outcome)) return false;
  if (q.entity && !event.entity.some((e) => e.what?.reference !== undefined && (q.entity as readonly string[]).includes(e.what.reference))) return false;
  if (q.entityType && !tokenIn(event.entity.flatMap((e) => (e.type ? [e.type] : [])), q.entityType)) return false;
  return true;
}

function queryString(request: FhirRequest): string {
  const parts = request.params.map((p) => `${encodeURIComponent(p.name)}${p.modifier ? `:${p.modifier}` : ''}=${encodeURIComponent(p.value)}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}
