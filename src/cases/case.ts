/**
 * Review cases: what the privacy office has to look at. A case is opened by a break-the-glass
 * access, by a write that changed protections, or by the detector (src/detect); it names who, which
 * patient, why it was opened (in plain words) and what was released, and it moves once from `open`
 * to `justified` or `unjustified`, with the reviewer and a note.
 *
 * Cases are deduplicated on `key`: the same user, patient and day (or user and hour for volume)
 * opens one case, whichever replica saw it first; later findings of another kind amend it. That is
 * what lets several detector replicas share the record stream without double-flagging.
 */
import { z } from 'zod';

export const SIGNALS = ['unexplained', 'restricted', 'volume', 'after-hours', 'self-or-family'] as const;
export type Signal = (typeof SIGNALS)[number];
export type CaseKind = 'break-glass' | 'protection-change' | 'detection';
export type CaseStatus = 'open' | 'justified' | 'unjustified';
export type Severity = 'low' | 'medium' | 'high';

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { low: 1, medium: 2, high: 3 };

export interface Finding {
  /** A detector signal, or why a review is always due. */
  readonly signal: Signal | 'break-glass' | 'protection-change';
  readonly severity: Severity;
  /** Plain words for the reviewer, e.g. "no care relationship between Practitioner/9 and the patient". */
  readonly reason: string;
  /** The delivery id of the record that showed it. */
  readonly record: string;
  readonly time: string;
}

export interface CaseUser {
  readonly iss: string;
  readonly sub: string | null;
  readonly fhirUser: string | null;
  readonly clientId: string | null;
  readonly roles: readonly string[];
}

export interface Released {
  readonly type: string;
  readonly count: number;
}

/** What opens (or amends) a case. */
export interface CaseDraft {
  readonly key: string;
  readonly kind: CaseKind;
  readonly user: CaseUser;
  /** Patient id, or null (a volume spike spans many). */
  readonly patient: string | null;
  /** The reason the user stated (break-the-glass), if any. */
  readonly statedReason: string | null;
  readonly released: readonly Released[];
  readonly finding: Finding;
}

export interface Transition {
  readonly from: CaseStatus;
  readonly to: CaseStatus;
  readonly at: string;
  readonly reviewer: string;
  readonly note: string;
}

export interface ReviewCase {
  readonly id: string;
  readonly key: string;
  readonly kind: CaseKind;
  readonly status: CaseStatus;
  /** The highest severity of its findings. */
  readonly severity: Severity;
  readonly openedAt: string;
  readonly user: CaseUser;
  readonly patient: string | null;
  readonly statedReason: string | null;
  readonly released: readonly Released[];
  readonly findings: readonly Finding[];
  readonly transitions: readonly Transition[];
}

export interface CaseFilter {
  readonly status?: CaseStatus;
  readonly kind?: CaseKind;
  readonly patient?: string;
  readonly limit?: number;
}

export interface CaseStats {
  readonly open: number;
  /** When the oldest open case was opened; null when none is open. */
  readonly oldestOpenAt: string | null;
}

export type OpenResult = { readonly outcome: 'opened' | 'amended' | 'unchanged'; readonly case: ReviewCase };

export interface CaseStore {
  /**
   * Opens a case for `draft.key`, or adds the finding to the existing one when its signal is new
   * there; atomic, so concurrent replicas open one case.
   */
  openOrAmend(draft: CaseDraft): Promise<OpenResult>;
  get(id: string): Promise<ReviewCase | null>;
  /** Newest first. */
  list(filter: CaseFilter): Promise<ReviewCase[]>;
  /** Closes an open case; throws CaseTransitionError when it is not open or does not exist. */
  close(id: string, to: 'justified' | 'unjustified', reviewer: string, note: string, at: string): Promise<ReviewCase>;
  stats(): Promise<CaseStats>;
  closeStore(): Promise<void>;
}

export class CaseTransitionError extends Error {
  constructor(
    readonly code: 'case_not_found' | 'case_not_open',
    id: string,
  ) {
    super(code === 'case_not_found' ? `no case ${id}` : `case ${id} is not open`);
    this.name = 'CaseTransitionError';
  }
}

export const closeRequestSchema = z.strictObject({
  status: z.enum(['justified', 'unjustified']),
  reviewer: z.string().min(1).max(256),
  note: z.string().min(1).max(4000),
});

export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

/** The case after `draft` is applied to it: null when nothing changes (its signal is already there). */
export function amended(existing: ReviewCase, draft: CaseDraft): ReviewCase | null {
  if (existing.findings.some((f) => f.signal === draft.finding.signal)) return null;
  return { ...existing, severity: maxSeverity(existing.severity, draft.finding.severity), findings: [...existing.findings, draft.finding] };
}

export function caseFromDraft(id: string, draft: CaseDraft): ReviewCase {
  return {
    id,
    key: draft.key,
    kind: draft.kind,
    status: 'open',
    severity: draft.finding.severity,
    openedAt: draft.finding.time,
    user: draft.user,
    patient: draft.patient,
    statedReason: draft.statedReason,
    released: draft.released,
    findings: [draft.finding],
    transitions: [],
  };
}
