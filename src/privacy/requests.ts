/**
 * What the privacy office's questions are made of, read once for every caller: the CLI
 * (`audit breach-scope`, `review`), the admin API (`/admin/privacy/*`) and the console. Each caller
 * turns a `ReportRequestError` into its own refusal (a usage message, `admin_invalid_request`,
 * `console_invalid_request`); the reason names what was wrong.
 *
 * Also the two things those callers do with a question's answer: the revocation target of a
 * breach scope's selector, and closing a review case (its transition errors as gateway errors).
 */
import { CaseTransitionError, type CaseFilter, type CaseKind, type CaseStatus, type ReviewCase } from '../cases/case.js';
import type { SqlCaseStore } from '../cases/sql-store.js';
import type { Reviewer } from '../cases/transition-record.js';
import { GatewayError } from '../errors.js';
import type { BreachSelector, Window } from './store-reports.js';

export class ReportRequestError extends Error {
  override readonly name = 'ReportRequestError';
  constructor(
    /** A short stable name: `selector`, `subject`, `from`, `to`, `status`, `kind`, `limit`, ... */
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * An ISO date or date-time with its zone; a date alone in `to` (`endOfDay`) means the end of that day.
 * `name` is how the caller calls the field (`from`, `--to`).
 */
export function reportDate(value: string | null | undefined, name: string, endOfDay: boolean): Date {
  const reason = name.replace(/^-+/, '');
  if (value === null || value === undefined || value === '') throw new ReportRequestError(`${reason}-missing`, `${name} is required`);
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  if (!dateOnly && !/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(value)) throw new ReportRequestError(reason, `${name}: not an ISO date or date-time with a zone: ${value}`);
  const t = Date.parse(dateOnly ? `${value}T00:00:00Z` : value);
  if (!Number.isFinite(t)) throw new ReportRequestError(reason, `${name}: not an ISO date or date-time: ${value}`);
  return new Date(dateOnly && endOfDay ? t + 86_400_000 : t);
}

/** A report's window, `from` inclusive, `to` exclusive (a date alone: the end of that day). */
export function reportWindow(from: string | null | undefined, to: string | null | undefined, names: { from: string; to: string } = { from: 'from', to: 'to' }): Window {
  return { from: reportDate(from, names.from, false), to: reportDate(to, names.to, true) };
}

export interface SelectorValues {
  readonly subject?: string | null | undefined;
  readonly client?: string | null | undefined;
  readonly jti?: string | null | undefined;
  readonly address?: string | null | undefined;
}

/** Exactly one of subject (`<iss> <sub>`), client, token id and address. */
export function breachSelectorOf(values: SelectorValues, flag: (name: string) => string = (n) => n): BreachSelector {
  const given = (['subject', 'client', 'jti', 'address'] as const).filter((k) => values[k] !== undefined && values[k] !== null);
  if (given.length !== 1) throw new ReportRequestError('selector', `give exactly one of ${['subject', 'client', 'jti', 'address'].map(flag).join(', ')}`);
  const [which] = given as [keyof SelectorValues];
  const value = (values[which] as string).trim();
  if (value === '' || value.length > 1024) throw new ReportRequestError(which, `${flag(which)} is empty or too long`);
  if (which === 'subject') {
    const m = /^(\S+)\s+(\S+)$/.exec(value);
    if (!m) throw new ReportRequestError('subject', `${flag('subject')} is "<issuer> <subject>"`);
    return { subject: { iss: m[1] as string, sub: m[2] as string } };
  }
  if (which === 'client') return { client: value };
  if (which === 'jti') return { jti: value };
  return { address: value };
}

/** What the revocation list is asked to revoke for a breach scope's selector (src/auth/revocation-admin.ts). */
export type RevocationTarget = { readonly iss: string | undefined; readonly sub: string } | { readonly iss: string | undefined; readonly client_id: string } | { readonly iss: string | undefined; readonly jti: string };

/** A subject names its issuer; a client or a token needs `iss` (or the one issuer configured). */
export function revocationTargetOf(selector: BreachSelector, iss: string | undefined): RevocationTarget {
  if ('address' in selector) throw new ReportRequestError('revoke-address', 'an address is not a credential and cannot be revoked: block it at the network edge');
  if ('subject' in selector) return { iss: selector.subject.iss, sub: selector.subject.sub };
  if ('client' in selector) return { iss, client_id: selector.client };
  return { iss, jti: selector.jti };
}

const STATUSES: readonly CaseStatus[] = ['open', 'justified', 'unjustified'];
const KINDS: readonly CaseKind[] = ['break-glass', 'protection-change', 'detection'];

export interface CaseFilterValues {
  readonly status?: string | null | undefined;
  readonly kind?: string | null | undefined;
  readonly patient?: string | null | undefined;
  readonly limit?: string | null | undefined;
}

export function caseFilterOf(values: CaseFilterValues, flag: (name: string) => string = (n) => n): CaseFilter & { limit: number } {
  const present = (v: string | null | undefined): v is string => v !== undefined && v !== null && v !== '';
  if (present(values.status) && !STATUSES.includes(values.status as CaseStatus)) throw new ReportRequestError('status', `${flag('status')} is ${STATUSES.join(', ')}`);
  if (present(values.kind) && !KINDS.includes(values.kind as CaseKind)) throw new ReportRequestError('kind', `${flag('kind')} is ${KINDS.join(', ')}`);
  const limit = present(values.limit) ? Number(values.limit) : 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ReportRequestError('limit', `${flag('limit')} is 1 to 1000`);
  if (present(values.patient) && !/^[A-Za-z0-9\-.]{1,64}$/.test(values.patient)) throw new ReportRequestError('patient', `${flag('patient')} is a patient id`);
  return {
    ...(present(values.status) ? { status: values.status as CaseStatus } : {}),
    ...(present(values.kind) ? { kind: values.kind as CaseKind } : {}),
    ...(present(values.patient) ? { patient: values.patient } : {}),
    limit,
  };
}

/**
 * Closes an open case as `reviewer`: its transition record is written with it (sql-store.ts). A
 * case that does not exist is `not_found`, one already closed `precondition_failed`.
 */
export async function closeCase(cases: SqlCaseStore, id: string, to: 'justified' | 'unjustified', note: string, reviewer: Reviewer, at: Date = new Date()): Promise<ReviewCase> {
  try {
    return await cases.closeAs(id, to, reviewer, note, at.toISOString());
  } catch (err) {
    if (err instanceof CaseTransitionError) throw new GatewayError(err.code === 'case_not_found' ? 'not_found' : 'precondition_failed', { reasons: [`review.${err.code}`] });
    throw err;
  }
}
