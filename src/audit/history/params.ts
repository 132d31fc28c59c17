/**
 * The parameters of an access-history search (`GET <base>/AuditEvent?...`), read strictly: the
 * supported ones (IHE ITI-81 style), `_sort` by date and `_count`; anything else is refused (400),
 * since the gateway answers these searches itself and would otherwise silently ignore a criterion.
 *
 * `patient`, `date`, `agent` and `purpose` select records in the store (indexed); `entity`,
 * `entity-type`, `type`, `subtype`, `action` and `outcome` are tested on each entry as the reader
 * sees it, so a criterion can only match what the reader is shown.
 */
import { GatewayError } from '../../errors.js';
import type { SearchParam } from '../../fhir/request.js';

export interface HistoryQuery {
  readonly patient: string | null;
  /** Inclusive. */
  readonly from: Date | null;
  /** Exclusive. */
  readonly before: Date | null;
  readonly agent: string | null;
  readonly purpose: string | null;
  /** Each a set of OR alternatives; every one must match the entry. */
  readonly entity: readonly string[] | null;
  readonly entityType: readonly Token[] | null;
  readonly type: readonly Token[] | null;
  readonly subtype: readonly Token[] | null;
  readonly action: readonly string[] | null;
  readonly outcome: readonly string[] | null;
  readonly order: 'asc' | 'desc';
  readonly count: number | null;
}

export interface Token {
  readonly system: string | null;
  readonly code: string;
}

const IGNORED = new Set(['_format', '_pretty']);
const SINGLE = new Set(['patient', 'agent', 'purpose', '_sort', '_count']);
const KNOWN = new Set(['date', 'patient', 'entity', 'entity-type', 'agent', 'type', 'subtype', 'action', 'outcome', 'purpose', '_sort', '_count']);

function bad(parameter: string, reason: string): never {
  throw new GatewayError('invalid_search_parameter', { reasons: [reason], parameter });
}

export function parseHistoryParams(params: readonly SearchParam[]): HistoryQuery {
  let from: Date | null = null;
  let before: Date | null = null;
  const q: { -readonly [K in keyof HistoryQuery]: HistoryQuery[K] } = {
    patient: null, from: null, before: null, agent: null, purpose: null, entity: null, entityType: null, type: null, subtype: null, action: null, outcome: null, order: 'desc', count: null,
  };
  const seen = new Set<string>();
  for (const p of params) {
    if (IGNORED.has(p.name)) continue;
    if (!KNOWN.has(p.name)) bad(p.name, 'history-search.param-unsupported');
    if (p.modifier !== null) bad(p.name, 'history-search.modifier-unsupported');
    if (SINGLE.has(p.name) && (seen.has(p.name) || p.values.length !== 1)) bad(p.name, 'history-search.param-repeated');
    seen.add(p.name);
    const one = p.values[0] as string;
    switch (p.name) {
      case 'date': {
        if (p.values.length !== 1) bad(p.name, 'history-search.date-or');
        const range = dateRange(one, p.name);
        if (range.from && (!from || range.from > from)) from = range.from;
        if (range.before && (!before || range.before < before)) before = range.before;
        break;
      }
      case 'patient':
        q.patient = patientId(one);
        break;
      case 'agent':
        q.agent = one;
        break;
      case 'purpose':
        q.purpose = tokenOf(one).code;
        break;
      case 'entity':
        q.entity = [...p.values];
        break;
      case 'entity-type':
        q.entityType = p.values.map(tokenOf);
        break;
      case 'type':
        q.type = p.values.map(tokenOf);
        break;
      case 'subtype':
        q.subtype = p.values.map(tokenOf);
        break;
      case 'action':
        q.action = p.values.map((v) => tokenOf(v).code);
        break;
      case 'outcome':
        q.outcome = p.values.map((v) => tokenOf(v).code);
        break;
      case '_sort':
        if (one !== '-date' && one !== 'date') bad(p.name, 'history-search.sort-unsupported');
        q.order = one === 'date' ? 'asc' : 'desc';
        break;
      case '_count': {
        const n = Number(one);
        if (!/^\d{1,6}$/.test(one) || !Number.isInteger(n)) bad(p.name, 'param.count');
        q.count = n;
        break;
      }
    }
  }
  return { ...q, from, before };
}

/** `Patient/123` or `123`: the id. */
function patientId(value: string): string {
  const id = value.startsWith('Patient/') ? value.slice('Patient/'.length) : value;
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) bad('patient', 'history-search.patient-malformed');
  return id;
}

function tokenOf(value: string): Token {
  const bar = value.indexOf('|');
  if (bar === -1) return { system: null, code: value };
  return { system: value.slice(0, bar) || null, code: value.slice(bar + 1) };
}

const PREFIX = /^(eq|ge|gt|le|lt)?(.+)$/;
const PARTIAL = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * A FHIR date search value as bounds: the value is a range (a year, a month, a day, or an instant
 * to the precision given); `ge` starts at its start, `gt` after its end, `le` ends at its end, `lt`
 * before its start, `eq` (or none) is the range itself. Dates without a time zone are UTC.
 */
export function dateRange(value: string, parameter: string): { from: Date | null; before: Date | null } {
  const m = PREFIX.exec(value);
  if (!m) return bad(parameter, 'history-search.date-malformed');
  const prefix = m[1] ?? 'eq';
  const [start, end] = rangeOf(m[2] as string, parameter);
  switch (prefix) {
    case 'ge':
      return { from: start, before: null };
    case 'gt':
      return { from: end, before: null };
    case 'le':
      return { from: null, before: end };
    case 'lt':
      return { from: null, before: start };
    default:
      return { from: start, before: end };
  }
}

function rangeOf(text: string, parameter: string): [Date, Date] {
  const partial = PARTIAL.exec(text);
  if (partial) {
    const y = Number(partial[1]);
    const mo = partial[2] === undefined ? null : Number(partial[2]) - 1;
    const d = partial[3] === undefined ? null : Number(partial[3]);
    if ((mo !== null && (mo < 0 || mo > 11)) || (d !== null && (d < 1 || d > 31))) bad(parameter, 'history-search.date-malformed');
    const start = new Date(Date.UTC(y, mo ?? 0, d ?? 1));
    const end = d !== null ? new Date(Date.UTC(y, mo as number, d + 1)) : mo !== null ? new Date(Date.UTC(y, mo + 1, 1)) : new Date(Date.UTC(y + 1, 0, 1));
    if (d !== null && start.getUTCDate() !== d) bad(parameter, 'history-search.date-malformed');
    return [start, end];
  }
  if (!INSTANT.test(text) || Number.isNaN(Date.parse(text))) bad(parameter, 'history-search.date-malformed');
  const start = new Date(text);
  // The precision given: to the second (or millisecond) or to the minute.
  const hasSeconds = /T\d{2}:\d{2}:\d{2}/.test(text);
  const hasMillis = /\.\d+/.test(text);
  const step = hasMillis ? 1 : hasSeconds ? 1000 : 60000;
  return [start, new Date(start.getTime() + step)];
}
