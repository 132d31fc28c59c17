/**
 * What the pipeline knows about one request, turned into the PHI-free audit record. Pure.
 *
 * This is the one place where request facts are reduced to what may be audited: principal claims
 * that identify the actor (never the token), the classified request with search values masked, the
 * decision and its reasons, counts and references of what was released, withheld or redacted.
 */
import type { Principal } from '../auth/principal.js';
import type { EnforcementSummary, PatientTally } from '../enforce/response.js';
import type { GatewayError } from '../errors.js';
import type { FhirRequest } from '../fhir/request.js';
import type { Decision } from '../policy/contract.js';
import type { ParamMasker } from './mask.js';
import { AUDIT_SCHEMA_VERSION, type RecordPatients, type UnsealedRequestRecord } from './record.js';

/** Everything one request accumulated in the pipeline (its trace) plus the answer's status. */
export interface RequestFacts {
  readonly requestId: string;
  readonly decisionId: string;
  /** W3C trace id of the request (absent for requests recorded without one). */
  readonly traceId?: string;
  readonly time: Date;
  readonly request: FhirRequest | null;
  readonly principal: Principal | null;
  readonly decision: Decision | null;
  readonly summary: EnforcementSummary | null;
  readonly policyRevision: string;
  readonly status: number;
  readonly error: GatewayError | null;
  readonly durationSeconds: number;
  /** The TCP peer's address (the socket's remote address). */
  readonly clientAddress: string | null;
}

export interface RecordOptions {
  readonly mask: ParamMasker;
  /** Whether the client's network address is recorded (BALP needs it; it may identify a person's device). */
  readonly clientAddress: boolean;
}

/**
 * The request's final decision and its reason codes (deduplicated), as the audit record and the
 * decision metrics both report them.
 */
export function outcomeOf(facts: Pick<RequestFacts, 'error' | 'decision' | 'summary'>): { decision: 'allow' | 'deny' | 'error'; reasons: string[] } {
  const { error, summary } = facts;
  const decision = error === null ? 'allow' : error.status >= 500 ? 'error' : 'deny';
  // Audit-only reasons too: a concealed withholding shows the client a plain 404, the trail why.
  const reasons = error !== null ? [...error.reasons, ...error.auditReasons] : [...(facts.decision?.reasons ?? []), ...(summary ? [...summary.reasons] : [])];
  return { decision, reasons: [...new Set(reasons)] };
}

export function buildRequestRecord(facts: RequestFacts, options: RecordOptions): UnsealedRequestRecord {
  const { request, principal, summary, error } = facts;
  const { decision, reasons } = outcomeOf(facts);
  const breakGlass = Boolean(facts.decision?.obligations.audit?.break_glass || summary?.breakGlass);
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    kind: 'request',
    decisionId: facts.decisionId,
    requestId: facts.requestId,
    ...(facts.traceId ? { traceId: facts.traceId } : {}),
    time: facts.time.toISOString(),
    client: { address: options.clientAddress ? facts.clientAddress : null },
    principal: principal && {
      iss: principal.iss,
      sub: principal.sub,
      client_id: principal.client_id,
      jti: principal.jti,
      roles: [...principal.roles],
      purpose_of_use: [...principal.purpose_of_use],
      patient: principal.patient,
      fhir_user: principal.fhir_user?.reference ?? null,
      scopes: [...principal.scopes.map((s) => s.scope), ...principal.other_scopes],
      assurance: {
        level: principal.assurance.level,
        methods: [...principal.assurance.methods],
        authenticatedAt: principal.assurance.authenticated_at === null ? null : new Date(principal.assurance.authenticated_at * 1000).toISOString(),
      },
    },
    request: request && {
      method: request.method,
      interaction: request.interaction,
      type: request.type,
      id: request.id,
      version: request.version,
      compartment: request.compartment ? `${request.compartment.type}/${request.compartment.id}` : null,
      operation: request.operation,
      params: request.params.map(options.mask),
    },
    outcome: {
      decision,
      reasons,
      error: error?.code ?? null,
      status: facts.status,
      breakGlass,
      breakGlassReason: breakGlass ? (principal?.break_glass_reason ?? null) : null,
      ...((facts.decision?.obligations.audit?.protection_change === true || summary?.protectionChange === true) && error === null ? { protectionChange: true as const } : {}),
    },
    entries: summary && {
      returned: summary.returned,
      withheld: summary.withheld,
      redacted: summary.redacted,
      withheldRefs: [...summary.withheldRefs],
      redactedRefs: [...summary.redactedRefs],
      ...(summary.omittedRefs > 0 ? { refsOmitted: summary.omittedRefs } : {}),
    },
    patients: summary && patientsOf(summary.patients),
    policyRevision: facts.policyRevision,
    durationMs: Math.round(facts.durationSeconds * 1e6) / 1e3,
  };
}

/** The tally as the record lists it: counts exact, lists as held (capped by the summary). */
export function patientsOf(tally: PatientTally): RecordPatients {
  const { overflow } = tally;
  const capped = overflow.released.size + overflow.withheld.size + overflow.changed.size > 0;
  return {
    released: [...tally.released].map(([id, types]) => ({ id, types: Object.fromEntries(types) })),
    releasedCount: tally.released.size + overflow.released.size,
    withheld: [...tally.withheld],
    withheldCount: tally.withheld.size + overflow.withheld.size,
    changed: [...tally.changed],
    changedCount: tally.changed.size + overflow.changed.size,
    ...(capped ? { capped: true as const } : {}),
  };
}
