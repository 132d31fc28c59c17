/**
 * The privacy office's admin API, beside `/admin/revocations`, answered from the audit store:
 *
 *   GET  /admin/privacy/breach-scope?subject=<iss> <sub>|client=|jti=|address=&from=&to=
 *   GET  /admin/privacy/cases[?status=&kind=&patient=&limit=]
 *   GET  /admin/privacy/cases/<id>
 *   POST /admin/privacy/cases/<id>/close   {"status": "justified"|"unjustified", "note": "..."}
 *
 * Callers present an access token like any client (verified by the gateway's authenticator) and
 * must hold the privacy-officer role. The role is checked before anything else is read, so every
 * other principal gets the same 403 whatever it asks for (noninterference: the refusal says nothing
 * about the store). Every answered call is an audit record of its own (operation `privacy-admin`);
 * a close is the transition record the case store writes.
 */
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { ChainKey } from '../audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type UnsealedRequestRecord } from '../audit/record.js';
import type { AuditStoreReader } from '../audit/store/query.js';
import type { AuditTrail } from '../audit/trail.js';
import type { Authenticator } from '../auth/authenticate.js';
import type { Principal } from '../auth/principal.js';
import { closeRequestSchema } from '../cases/case.js';
import type { SqlCaseStore } from '../cases/sql-store.js';
import { GatewayError } from '../errors.js';
import { readBoundedBody } from '../http/body.js';
import { breachSelectorOf, caseFilterOf, closeCase, ReportRequestError, reportWindow } from './requests.js';
import { breachScope } from './store-reports.js';

export const PRIVACY_OFFICER_ROLE = 'privacy-officer';
const MAX_BODY_BYTES = 16 * 1024;

export interface PrivacyAdminOptions {
  readonly authenticator: Authenticator;
  /** The gateway's public origin (DPoP proofs name the URL called). */
  readonly publicOrigin: string;
  readonly reader: AuditStoreReader;
  readonly cases: SqlCaseStore;
  readonly key: ChainKey;
  readonly audit: AuditTrail;
  readonly policyRevision: () => string;
}

export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
}

const invalid = (reason: string): GatewayError => new GatewayError('admin_invalid_request', { reasons: [`privacy-admin.${reason}`] });

/** The shared readers of the office's questions (requests.ts), refusing as this API does. */
function read<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ReportRequestError) throw invalid(err.reason);
    throw err;
  }
}

function recordOf(principal: Principal, method: string, operation: string, id: string | null, status: number, policyRevision: string): UnsealedRequestRecord {
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    kind: 'request',
    decisionId: randomUUID(),
    requestId: randomUUID(),
    time: new Date().toISOString(),
    client: { address: null },
    principal: { iss: principal.iss, sub: principal.sub, client_id: principal.client_id, jti: principal.jti, roles: [...principal.roles], purpose_of_use: [...principal.purpose_of_use], patient: null, fhir_user: principal.fhir_user?.reference ?? null, scopes: [] },
    request: { method, interaction: 'operation', type: null, id, version: null, compartment: null, operation, params: [] },
    outcome: { decision: 'allow', reasons: ['privacy-office.role'], error: null, status, breakGlass: false, breakGlassReason: null },
    entries: null,
    patients: null,
    policyRevision,
    durationMs: 0,
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new GatewayError('unsupported_media_type');
  const body = await readBoundedBody(req, MAX_BODY_BYTES);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw invalid('json');
  }
}

export async function handlePrivacyAdmin(req: IncomingMessage, options: PrivacyAdminOptions): Promise<AdminAnswer> {
  const url = new URL(req.url ?? '/', 'http://gateway.invalid');
  const principal = await options.authenticator.authenticate({ method: req.method ?? 'GET', publicUrl: `${options.publicOrigin}${url.pathname}`, headers: req.headers });
  // Before anything is parsed or read: one refusal for every other principal and every question.
  if (!principal.roles.includes(PRIVACY_OFFICER_ROLE)) throw new GatewayError('forbidden', { reasons: ['privacy-office.role'] });
  const path = url.pathname.slice('/admin/privacy'.length);
  const q = url.searchParams;
  const answered = async (answer: AdminAnswer, operation: string, id: string | null): Promise<AdminAnswer> => {
    // An answer that cannot be recorded is not given.
    await options.audit.append(recordOf(principal, req.method ?? 'GET', operation, id, answer.status, options.policyRevision()));
    return answer;
  };

  if (path === '/breach-scope') {
    if (req.method !== 'GET') throw new GatewayError('method_not_allowed');
    const selector = read(() => breachSelectorOf({ subject: q.get('subject'), client: q.get('client'), jti: q.get('jti'), address: q.get('address') }));
    const window = read(() => reportWindow(q.get('from'), q.get('to')));
    const scope = await breachScope(options.reader, selector, window, options.key);
    return answered({ status: 200, body: { selector, from: window.from.toISOString(), to: window.to.toISOString(), ...scope } }, 'breach-scope', null);
  }
  if (path === '/cases') {
    if (req.method !== 'GET') throw new GatewayError('method_not_allowed');
    const filter = read(() => caseFilterOf({ status: q.get('status'), kind: q.get('kind'), patient: q.get('patient'), limit: q.get('limit') }));
    const list = await options.cases.list(filter);
    return answered({ status: 200, body: { cases: list } }, 'review-list', null);
  }
  const m = /^\/cases\/([0-9a-f-]{36})(\/close)?$/.exec(path);
  if (!m) throw new GatewayError('not_found');
  const id = m[1] as string;
  if (m[2] === undefined) {
    if (req.method !== 'GET') throw new GatewayError('method_not_allowed');
    const found = await options.cases.get(id);
    if (found === null) throw new GatewayError('not_found');
    return answered({ status: 200, body: found }, 'review-show', id);
  }
  if (req.method !== 'POST') throw new GatewayError('method_not_allowed');
  const body = closeRequestSchema.omit({ reviewer: true }).safeParse(await readJson(req));
  if (!body.success) throw invalid('close-body');
  const closed = await closeCase(options.cases, id, body.data.status, body.data.note, { iss: principal.iss, sub: principal.sub ?? principal.client_id ?? 'unknown', clientId: principal.client_id, roles: [...principal.roles] });
  return { status: 200, body: closed };
}
