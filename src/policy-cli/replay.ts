/**
 * `policy diff --replay`: recorded requests (audit records or their OPA decision-log view) turned
 * back into request-decision inputs, decided by two bundles, and every difference reported. Pure
 * apart from the evaluators it is given.
 *
 * What an audit trail keeps is less than the policy saw: search values are masked as configured
 * (removed by default), write bodies and response resources are never recorded. So a replay
 * compares the candidate with the baseline on the same reconstructed inputs, rather than with the
 * recorded outcome; writes (whose decision depends on the body) and requests refused before a
 * principal or a classified request existed are skipped and counted.
 */
import { z } from 'zod';
import { principalFromClaims } from '../auth/principal.js';
import { principalRecordSchema, requestPartSchema } from '../audit/record.js';
import { claimMappingSchema } from '../config/auth-schema.js';
import { splitOr } from '../fhir/search-params.js';
import { requestSchema, type Decision, type PolicyRequest, type RequestInput } from '../policy/contract.js';
import type { PolicyEvaluator } from '../policy/engine.js';
import { policyEnv } from '../policy/input.js';

const WRITES = new Set(['create', 'update', 'patch', 'delete']);
const NOT_POLICY_DECIDED = new Set(['capabilities', 'batch']);

// Loose: a trail written by a newer gateway may carry fields this one does not know.
const recordedPrincipal = principalRecordSchema.loose();
const recordedParam = z.union([
  z.looseObject({ name: z.string(), modifier: z.string().nullable(), value: z.string().nullable() }),
  z.tuple([z.string(), z.string().nullable(), z.string().nullable()]).transform(([name, modifier, value]) => ({ name, modifier, value })),
]);
const recordedRequest = requestPartSchema.extend({ params: z.array(recordedParam) });

/** An audit record (kind "request") as the file, Redis and HTTP sinks write it. */
const auditRecord = z.looseObject({
  kind: z.literal('request'),
  decisionId: z.string(),
  time: z.string(),
  principal: recordedPrincipal.nullable(),
  request: recordedRequest.nullable(),
  policyRevision: z.string(),
  outcome: z.looseObject({ breakGlassReason: z.string().nullable().optional() }),
});
/** The same record in OPA's decision-log format. */
const decisionLogEvent = z.looseObject({
  decision_id: z.string(),
  timestamp: z.string(),
  bundles: z.record(z.string(), z.looseObject({ revision: z.string() })),
  input: z.looseObject({ principal: recordedPrincipal.nullable(), request: recordedRequest.nullable() }),
  result: z.looseObject({ break_glass_reason: z.string().nullable().optional() }),
});

export interface Recorded {
  readonly id: string;
  readonly time: string;
  readonly revision: string;
  readonly principal: z.output<typeof recordedPrincipal> | null;
  readonly request: z.output<typeof recordedRequest> | null;
  readonly breakGlassReason: string | null;
}

export type SkipReason = 'unreadable' | 'not-a-request-record' | 'no-principal' | 'no-request' | 'write-body-not-recorded' | 'not-policy-decided';

/** One line of a trail file: the record, or why it cannot be replayed. */
export function parseRecordedLine(line: string): Recorded | SkipReason {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return 'unreadable';
  }
  const record = auditRecord.safeParse(json);
  if (record.success) {
    const r = record.data;
    return { id: r.decisionId, time: r.time, revision: r.policyRevision, principal: r.principal, request: r.request, breakGlassReason: r.outcome.breakGlassReason ?? null };
  }
  const event = decisionLogEvent.safeParse(json);
  if (event.success) {
    const e = event.data;
    const revision = Object.values(e.bundles)[0]?.revision ?? 'unknown';
    return { id: e.decision_id, time: e.timestamp, revision, principal: e.input.principal, request: e.input.request, breakGlassReason: e.result.break_glass_reason ?? null };
  }
  return 'not-a-request-record';
}

/** The request-decision input the gateway built for a recorded request, as far as the record allows. */
export function replayInput(recorded: Recorded, revision: string): RequestInput | SkipReason {
  const { principal: p, request: r } = recorded;
  if (p === null) return 'no-principal';
  if (r === null) return 'no-request';
  if (WRITES.has(r.interaction)) return 'write-body-not-recorded';
  if (NOT_POLICY_DECIDED.has(r.interaction)) return 'not-policy-decided';
  const claims = {
    iss: p.iss,
    sub: p.sub,
    client_id: p.client_id,
    jti: p.jti,
    roles: p.roles,
    purpose_of_use: p.purpose_of_use,
    patient: p.patient,
    fhirUser: p.fhir_user,
    scope: p.scopes.join(' '),
    break_glass_reason: recorded.breakGlassReason,
  };
  const compartment = r.compartment?.split('/');
  const request = requestSchema.safeParse({
    method: r.method,
    interaction: r.interaction,
    type: r.type,
    id: r.id,
    version: r.version,
    compartment: compartment?.length === 2 ? { type: compartment[0], id: compartment[1] } : null,
    operation: r.operation,
    // A removed value replays as empty: both bundles see the same, so a difference is still theirs.
    params: r.params.map((q) => ({ name: q.name, modifier: q.modifier, value: q.value ?? '', values: splitOr(q.value ?? '') })),
    search_via_post: false,
    if_none_exist: null,
  });
  if (!request.success) return 'no-request';
  // The recorded assurance is already mapped (the level in the issuer's terms is not kept): replayed as recorded.
  const assurance = p.assurance
    ? { level: p.assurance.level as 1 | 2 | 3 | null, methods: p.assurance.methods, authenticated_at: p.assurance.authenticatedAt === null ? null : Date.parse(p.assurance.authenticatedAt) / 1000 }
    : null;
  const principal = principalFromClaims(claims, DEFAULT_MAPPING);
  return { principal: assurance ? { ...principal, assurance } : principal, request: request.data, env: policyEnv(new Date(recorded.time), revision) };
}

const DEFAULT_MAPPING = claimMappingSchema.parse({});

export interface Change {
  readonly id: string;
  readonly time: string;
  readonly request: string;
  readonly who: string;
  readonly before: Decision;
  readonly after: Decision;
}

export interface ReplayReport {
  readonly baseline: string;
  readonly candidate: string;
  readonly read: number;
  readonly replayed: number;
  readonly skipped: Partial<Record<SkipReason, number>>;
  /** Records made under another revision than the baseline's (their recorded outcome may differ from the baseline replay). */
  readonly otherRevision: number;
  readonly changes: readonly Change[];
}

/** Replays every line with both evaluators; a policy error counts as a decision (`policy_error`). */
export async function replay(lines: Iterable<string>, baseline: PolicyEvaluator, candidate: PolicyEvaluator): Promise<ReplayReport> {
  const skipped: Partial<Record<SkipReason, number>> = {};
  const skip = (why: SkipReason): void => {
    skipped[why] = (skipped[why] ?? 0) + 1;
  };
  const changes: Change[] = [];
  let read = 0;
  let replayed = 0;
  let otherRevision = 0;
  for (const line of lines) {
    if (line.trim() === '') continue;
    read++;
    const recorded = parseRecordedLine(line);
    if (typeof recorded === 'string') {
      skip(recorded);
      continue;
    }
    const input = replayInput(recorded, baseline.revision);
    if (typeof input === 'string') {
      skip(input);
      continue;
    }
    replayed++;
    if (recorded.revision !== baseline.revision) otherRevision++;
    const before = await decide(baseline, input);
    const after = await decide(candidate, { ...input, env: policyEnv(new Date(recorded.time), candidate.revision) });
    if (!sameDecision(before, after)) {
      changes.push({ id: recorded.id, time: recorded.time, request: requestLine(input.request), who: whoOf(recorded), before, after });
    }
  }
  return { baseline: baseline.revision, candidate: candidate.revision, read, replayed, skipped, otherRevision, changes };
}

async function decide(policy: PolicyEvaluator, input: RequestInput): Promise<Decision> {
  try {
    return await policy.decideRequest(input);
  } catch {
    return { allow: false, reasons: ['policy_error'], obligations: {} };
  }
}

function sameDecision(a: Decision, b: Decision): boolean {
  return a.allow === b.allow && canonical([...a.reasons].sort()) === canonical([...b.reasons].sort()) && canonical(a.obligations) === canonical(b.obligations);
}

/** JSON with object keys sorted, so equal obligations compare equal whatever order policy built them in. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1))) : v,
  );
}

export function requestLine(r: PolicyRequest): string {
  const path = r.compartment ? `${r.compartment.type}/${r.compartment.id}/${r.type ?? '*'}` : [r.type, r.id, r.version ? `_history/${r.version}` : null].filter(Boolean).join('/');
  const op = r.operation ? `${path ? '/' : ''}$${r.operation}` : '';
  const query = r.params.map((p) => `${p.name}${p.modifier ? `:${p.modifier}` : ''}=${p.value === '' ? '***' : p.value}`).join('&');
  return `${r.method} /${path}${op}${query ? `?${query}` : ''}`;
}

function whoOf(recorded: Recorded): string {
  const p = recorded.principal;
  if (!p) return 'unknown';
  const roles = p.roles.length > 0 ? ` roles ${p.roles.join(',')}` : '';
  return `${p.fhir_user ?? p.sub ?? p.client_id ?? 'unknown'}${roles}`;
}

export function formatReplayReport(report: ReplayReport): string {
  const skippedTotal = Object.values(report.skipped).reduce((a, b) => a + (b ?? 0), 0);
  const lines = [
    `baseline ${report.baseline} -> candidate ${report.candidate}`,
    `replayed ${report.replayed} of ${report.read} records` +
      (skippedTotal > 0 ? ` (skipped ${Object.entries(report.skipped).map(([why, n]) => `${n} ${why}`).join(', ')})` : ''),
  ];
  if (report.otherRevision > 0) lines.push(`note: ${report.otherRevision} records were decided under another revision than the baseline's`);
  if (report.changes.length === 0) {
    lines.push('no decision changes');
    return lines.join('\n');
  }
  lines.push(`${report.changes.length} decision${report.changes.length === 1 ? '' : 's'} change:`);
  for (const c of report.changes) {
    lines.push(`  ${c.time} ${c.id} ${c.request} (${c.who})`);
    lines.push(`    ${describe(c.before)}`);
    lines.push(`  → ${describe(c.after)}`);
  }
  return lines.join('\n');
}

function describe(d: Decision): string {
  const obligations = Object.keys(d.obligations).length > 0 ? ` obligations ${canonical(d.obligations)}` : '';
  return `${d.allow ? 'allow' : 'deny'} [${d.reasons.join(' ')}]${obligations}`;
}
