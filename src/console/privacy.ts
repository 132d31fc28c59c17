/**
 * The privacy office's pages in the console, on the same functions as the CLI and the admin API
 * (src/privacy): a patient's access history (what the patient sees at <base>/AuditEvent, with the
 * staff names only the office sees) and their accounting of disclosures (JSON, CSV, PDF); the breach
 * scope of a subject, client, token or address, and "revoke now" through the gateway's own
 * revocation list; review cases, their record trail, and closing them.
 */
import { z } from 'zod';
import type { ChainKey } from '../audit/chain.js';
import { historyEntry, type HistoryView } from '../audit/history/view.js';
import type { ReadableRecord, RequestRecord } from '../audit/record.js';
import type { AuditStoreReader } from '../audit/store/query.js';
import { applyRevocation } from '../auth/revocation-admin.js';
import type { RevocationList } from '../auth/revocation.js';
import { closeRequestSchema, type ReviewCase } from '../cases/case.js';
import type { SqlCaseStore } from '../cases/sql-store.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Decision } from '../policy/contract.js';
import type { PolicyEvaluator } from '../policy/engine.js';
import { evalCase } from '../policy-cli/eval-input.js';
import { breachScopeCsv } from '../privacy/breach-scope.js';
import { disclosuresCsv } from '../privacy/disclosures.js';
import { disclosuresPdf } from '../privacy/disclosures-pdf.js';
import { breachSelectorOf, caseFilterOf, closeCase, ReportRequestError, reportWindow, revocationTargetOf } from '../privacy/requests.js';
import { breachScope, checkChains, disclosures } from '../privacy/store-reports.js';
import type { ApiRoute } from './app.js';
import { recordSummary } from './decisions.js';

export interface PrivacyConsoleDeps {
  readonly store: AuditStoreReader;
  readonly key: ChainKey;
  readonly policy: () => PolicyEvaluator | null;
  /** The gateway's public FHIR base (the access history's AuditEvents name it). */
  readonly publicBaseUrl: string;
  /** The revocation list the gateway consults on every request; null: "revoke now" is not offered. */
  readonly revocation: { readonly list: RevocationList; readonly issuers: readonly string[] } | null;
  /** The review cases; null without one (the cases pages are absent). */
  readonly cases: SqlCaseStore | null;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** At most this many records are read for one patient's history page (the answer says when it is cut). */
const MAX_HISTORY_RECORDS = 5000;
const PATIENT_ID = /^[A-Za-z0-9\-.]{1,64}$/;

function invalid(reason: string, detail: string): GatewayError {
  return new GatewayError('console_invalid_request', { reasons: [`console.${reason}`], parameter: detail });
}

/** The shared readers (src/privacy/requests.ts), refusing as the console does. */
function read<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ReportRequestError) throw invalid(err.reason, err.message);
    throw err;
  }
}

const query = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function patientOf(v: unknown): string {
  const patient = query(v)?.replace(/^Patient\//, '');
  if (patient === undefined || !PATIENT_ID.test(patient)) throw invalid('patient', 'patient must be a patient id');
  return patient;
}

/**
 * How the patient's own history shows staff, as the active policy decides it: the decision the
 * gateway would give that patient's token for `GET AuditEvent?patient=<id>`. Null when the policy
 * does not let patients read their own history.
 */
type HistoryObligation = NonNullable<Decision['obligations']['history']>;

async function patientObligation(evaluator: PolicyEvaluator, patient: string): Promise<HistoryObligation | null> {
  const doc = {
    claims: { iss: 'console', sub: `Patient/${patient}`, fhirUser: `Patient/${patient}`, patient, roles: ['patient'], scope: 'launch/patient patient/AuditEvent.rs' },
    request: `GET /AuditEvent?patient=${patient}`,
  };
  const decision = await evaluator.decideRequest(evalCase(doc, evaluator.revision, []).requestInput);
  return decision.allow ? (decision.obligations.history ?? null) : null;
}

function isCurrentRequest(record: ReadableRecord): record is RequestRecord {
  return record.kind === 'request' && record.schemaVersion === 3;
}

type Agent = { who: { reference?: string | undefined; display?: string | undefined; identifier?: { value?: string | undefined } | undefined }; requestor: boolean; role?: ReadonlyArray<{ text?: string | undefined }> | undefined };
const requestor = (agents: readonly Agent[]): Agent | undefined => agents.find((a) => a.requestor);
const whoText = (a: Agent | undefined): string | null => (a ? (a.who.display ?? a.who.reference ?? a.who.identifier?.value ?? null) : null);

async function accessHistory(deps: PrivacyConsoleDeps, patient: string, window: { from: Date; to: Date }) {
  const evaluator = deps.policy();
  if (!evaluator) throw new GatewayError('policy_not_ready');
  const obligation = await patientObligation(evaluator, patient);
  const patientView: HistoryView | null = obligation ? { patient, staff: obligation.staff, organisation: obligation.organisation, publicBaseUrl: deps.publicBaseUrl } : null;
  // The office's own view of the same entry: the same projection onto the patient, staff by name.
  const officeView: HistoryView = { patient, staff: 'names', organisation: obligation?.organisation ?? '', publicBaseUrl: deps.publicBaseUrl };
  const entries = [];
  let truncated = false;
  for await (const { record } of deps.store.scan({ kind: 'request', anyPatient: patient, from: window.from, before: window.to }, 500)) {
    if (!isCurrentRequest(record)) continue;
    if (entries.length === MAX_HISTORY_RECORDS) {
      truncated = true;
      break;
    }
    const seen = patientView ? historyEntry(record, patientView) : null;
    const office = historyEntry(record, officeView);
    const user = requestor(office.agent as readonly Agent[]);
    const mine = record.patients?.released.find((r) => r.id === patient);
    entries.push({
      id: office.id,
      time: record.time,
      action: record.request ? `${record.request.method} ${record.request.interaction}${record.request.type ? ` ${record.request.type}` : ''}` : null,
      outcome: office.outcome,
      released: mine ? Object.entries(mine.types).map(([type, count]) => ({ type, count })) : [],
      withheld: record.patients?.withheld.includes(patient) === true,
      // What the patient is shown as the one who accessed, and what only the office sees.
      patientSees: seen ? { who: whoText(requestor(seen.agent as readonly Agent[])), roles: (requestor(seen.agent as readonly Agent[])?.role ?? []).map((r) => r.text ?? '') } : null,
      staff: { name: whoText(user), client: record.principal?.client_id ?? null, roles: record.principal?.roles ?? [] },
      breakGlass: record.outcome.breakGlass,
      event: seen,
    });
  }
  // Newest first, as the patient's history answers by default.
  entries.reverse();
  return {
    patient,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    patientAccess: obligation ? { staff: obligation.staff, organisation: obligation.organisation } : null,
    entries,
    truncated,
  };
}

const revokeSchema = z.strictObject({
  subject: z.string().optional(),
  client: z.string().optional(),
  jti: z.string().optional(),
  /** The issuer of a client or token revocation (the one configured issuer when left out). */
  iss: z.string().min(1).max(1024).optional(),
  /** The second step of "revoke now": must be `true`, so no request revokes by accident. */
  confirm: z.literal(true, { error: 'confirm must be true: revoking is confirmed explicitly' }),
});

const closeSchema = closeRequestSchema.omit({ reviewer: true });

function bodyError(err: z.ZodError): GatewayError {
  return invalid('body', err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
}

/** The records a case's findings name, from the store (each found by its time and delivery id). */
async function caseTrail(store: AuditStoreReader, key: ChainKey, found: ReviewCase) {
  const records: ReadableRecord[] = [];
  const seen = new Set<string>();
  for (const f of found.findings) {
    if (seen.has(f.record)) continue;
    seen.add(f.record);
    const t = new Date(f.time);
    if (!Number.isFinite(t.getTime())) continue;
    const page = await store.records({ from: t, before: new Date(t.getTime() + 1) }, { order: 'asc', limit: 500 });
    const r = page.find((p) => p.record.deliveryId === f.record)?.record;
    if (r) records.push(r);
  }
  return {
    records: records.flatMap((r) => (r.kind === 'request' ? [recordSummary(r)] : [])),
    missing: [...seen].filter((id) => !records.some((r) => r.deliveryId === id)),
    chain: records.length > 0 ? await checkChains(store, records, key) : null,
  };
}

export function privacyRoutes(deps: PrivacyConsoleDeps): ApiRoute[] {
  const now = deps.now ?? (() => new Date());
  const routes: ApiRoute[] = [
    {
      method: 'GET',
      path: '/access-history',
      roles: ['privacy-officer', 'auditor'],
      action: 'access-history',
      handle: async ({ req }) => {
        const patient = patientOf(req.query['patient']);
        const window = read(() => reportWindow(query(req.query['from']), query(req.query['to'])));
        return { status: 200, body: await accessHistory(deps, patient, window) };
      },
    },
    {
      method: 'GET',
      path: '/access-history/disclosures',
      roles: ['privacy-officer', 'auditor'],
      action: 'access-history.disclosures',
      handle: async ({ req }) => {
        const patient = patientOf(req.query['patient']);
        const window = read(() => reportWindow(query(req.query['from']), query(req.query['to'])));
        const format = query(req.query['format']) ?? 'json';
        if (!['json', 'csv', 'pdf'].includes(format)) throw invalid('format', 'format is json, csv or pdf');
        const tpo = query(req.query['includeTpo']);
        if (tpo !== undefined && tpo !== 'true' && tpo !== 'false') throw invalid('include-tpo', 'includeTpo is true or false');
        const includeTpo = tpo === 'true';
        const { disclosures: list } = await disclosures(deps.store, patient, window, { includeTpo, organisation: null });
        const day = window.from.toISOString().slice(0, 10);
        if (format === 'csv') return { status: 200, body: disclosuresCsv(list), contentType: 'text/csv; charset=utf-8', filename: `disclosures-${patient}-${day}.csv` };
        if (format === 'pdf') {
          const pdf = await disclosuresPdf(list, { patient, window, includeTpo, generatedAt: now() });
          return { status: 200, body: Buffer.from(pdf), contentType: 'application/pdf', filename: `disclosures-${patient}-${day}.pdf` };
        }
        return { status: 200, body: { patient, from: window.from.toISOString(), to: window.to.toISOString(), includeTpo, disclosures: list } };
      },
    },
    {
      method: 'GET',
      path: '/breach-scope',
      roles: ['privacy-officer'],
      action: 'breach-scope',
      handle: async ({ req }) => {
        const q = req.query;
        const selector = read(() => breachSelectorOf({ subject: query(q['subject']), client: query(q['client']), jti: query(q['jti']), address: query(q['address']) }));
        const window = read(() => reportWindow(query(q['from']), query(q['to'])));
        const format = query(q['format']) ?? 'json';
        if (format !== 'json' && format !== 'csv') throw invalid('format', 'format is json or csv');
        const scope = await breachScope(deps.store, selector, window, deps.key);
        if (format === 'csv') return { status: 200, body: breachScopeCsv(scope), contentType: 'text/csv; charset=utf-8', filename: `breach-scope-${window.from.toISOString().slice(0, 10)}.csv` };
        const revocable = deps.revocation !== null && !('address' in selector);
        return { status: 200, body: { selector, from: window.from.toISOString(), to: window.to.toISOString(), ...scope, revocable, issuers: deps.revocation?.issuers ?? [] } };
      },
    },
    {
      method: 'POST',
      path: '/breach-scope/revoke',
      roles: ['privacy-officer'],
      action: 'breach-scope.revoke',
      handle: async ({ req }) => {
        const parsed = revokeSchema.safeParse(req.body);
        if (!parsed.success) throw bodyError(parsed.error);
        const { subject, client, jti, iss } = parsed.data;
        const target = read(() => revocationTargetOf(breachSelectorOf({ subject, client, jti }), iss));
        if (deps.revocation === null) throw new GatewayError('not_found');
        let added;
        try {
          added = await applyRevocation(target, { revocation: deps.revocation.list, issuers: deps.revocation.issuers });
        } catch (err) {
          // The admin endpoint's refusals of the body, in the console's words.
          if (err instanceof GatewayError && err.code === 'admin_invalid_request') throw invalid(err.reasons[0]?.replace(/^admin\./, 'revoke-') ?? 'revoke', `the revocation was refused: ${err.reasons.join(' ')} (a client or token needs the issuer that issued it)`);
          throw err;
        }
        deps.logger.info({ revoked: added.body.revoked, iss: added.body.iss }, 'revocation added from the console');
        return { status: 201, body: added.body };
      },
    },
  ];
  const cases = deps.cases;
  if (cases === null) return routes;
  routes.push(
    {
      method: 'GET',
      path: '/cases',
      roles: ['privacy-officer', 'auditor'],
      action: 'cases.list',
      handle: async ({ req }) => {
        const q = req.query;
        const filter = read(() => caseFilterOf({ status: query(q['status']), kind: query(q['kind']), patient: query(q['patient']), limit: query(q['limit']) }));
        return { status: 200, body: { cases: await cases.list(filter) } };
      },
    },
    {
      method: 'GET',
      path: '/cases/:id',
      roles: ['privacy-officer', 'auditor'],
      action: 'cases.read',
      handle: async (_ctx, params) => {
        const found = await cases.get(params['id'] ?? '');
        if (found === null) throw new GatewayError('not_found');
        return { status: 200, body: { case: found, trail: await caseTrail(deps.store, deps.key, found) } };
      },
    },
    {
      method: 'POST',
      path: '/cases/:id/close',
      roles: ['privacy-officer'],
      action: 'cases.close',
      handle: async ({ req, session }, params) => {
        const parsed = closeSchema.safeParse(req.body);
        if (!parsed.success) throw bodyError(parsed.error);
        const user = session.user;
        const closed = await closeCase(cases, params['id'] ?? '', parsed.data.status, parsed.data.note, { iss: user.iss, sub: user.sub, clientId: user.client, roles: [...user.tokenRoles] }, now());
        return { status: 200, body: closed };
      },
    },
  );
  return routes;
}
