/**
 * The OPA decision-log view of a request record, for policy tooling that reads OPA's decision logs
 * (same field names and meanings as OPA's decision-log events). Pure.
 *
 * `input` is the policy input as far as the audit trail may keep it: the principal's identifying
 * claims and scopes (never the token), the classified request with search values masked as
 * configured, and the environment. Masked values are listed under OPA's `erased` (value removed)
 * and `masked` (value replaced by a keyed hash), as JSON pointers.
 */
import { z } from 'zod';
import { principalRecordSchema, requestPartSchema, type RequestRecord } from '../record.js';

export const DECISION_PATH = 'fhirgw/request';
const BUNDLE_NAME = 'fhirgw';

const param = z.tuple([z.string(), z.string().nullable(), z.string().nullable()]).describe('[name, modifier, value]');

export const decisionLogEventSchema = z.strictObject({
  decision_id: z.uuid(),
  /** W3C trace id of the request (OPA's field of the same name); absent for records without one. */
  trace_id: z.string().optional(),
  path: z.literal(DECISION_PATH),
  timestamp: z.iso.datetime(),
  /** The per-instance sequence number of the record (OPA: a per-process request counter). */
  req_id: z.number().int(),
  /** The client's network address (OPA: the address of the client that asked for the decision). */
  requested_by: z.string().nullable(),
  labels: z.strictObject({ id: z.string(), app: z.literal('fhir-privacy-gateway'), version: z.string() }),
  bundles: z.record(z.string(), z.strictObject({ revision: z.string() })),
  input: z.strictObject({
    principal: principalRecordSchema.nullable(),
    request: requestPartSchema.extend({ params: z.array(param) }).nullable(),
    env: z.strictObject({ now: z.iso.datetime(), policy_revision: z.string() }),
  }),
  result: z.strictObject({
    allow: z.boolean(),
    reasons: z.array(z.string()),
    status: z.number().int(),
    error: z.string().nullable(),
    break_glass: z.boolean(),
    break_glass_reason: z.string().nullable(),
    entries: z
      .strictObject({ returned: z.number().int(), withheld: z.number().int(), redacted: z.number().int(), withheld_refs: z.array(z.string()), redacted_refs: z.array(z.string()) })
      .nullable(),
    /** Whose data was released (types and counts per patient), withheld or changed: the record's `patients`. */
    patients: z
      .strictObject({
        released: z.array(z.strictObject({ id: z.string(), types: z.record(z.string(), z.number().int()) })),
        released_count: z.number().int(),
        withheld: z.array(z.string()),
        withheld_count: z.number().int(),
        changed: z.array(z.string()),
        changed_count: z.number().int(),
        capped: z.boolean(),
      })
      .nullable(),
  }),
  erased: z.array(z.string()),
  masked: z.array(z.string()),
  metrics: z.strictObject({ timer_server_handler_ns: z.number().int() }),
});

export type DecisionLogEvent = z.output<typeof decisionLogEventSchema>;

export function toDecisionLog(record: RequestRecord, version: string): DecisionLogEvent {
  const erased: string[] = [];
  const masked: string[] = [];
  const params = (record.request?.params ?? []).map((p, i): [string, string | null, string | null] => {
    if (p.mask === 'removed') erased.push(`/input/request/params/${i}/2`);
    if (p.mask === 'hashed') masked.push(`/input/request/params/${i}/2`);
    return [p.name, p.modifier, p.value];
  });
  return {
    decision_id: record.decisionId,
    ...(record.traceId ? { trace_id: record.traceId } : {}),
    path: DECISION_PATH,
    timestamp: record.time,
    req_id: record.chain.seq,
    requested_by: record.client.address,
    labels: { id: record.chain.instance, app: 'fhir-privacy-gateway', version },
    bundles: { [BUNDLE_NAME]: { revision: record.policyRevision } },
    input: {
      principal: record.principal && { ...record.principal },
      request: record.request && { ...record.request, params },
      env: { now: record.time, policy_revision: record.policyRevision },
    },
    result: {
      allow: record.outcome.decision === 'allow',
      reasons: record.outcome.reasons,
      status: record.outcome.status,
      error: record.outcome.error,
      break_glass: record.outcome.breakGlass,
      break_glass_reason: record.outcome.breakGlassReason ?? null,
      entries: record.entries && {
        returned: record.entries.returned,
        withheld: record.entries.withheld,
        redacted: record.entries.redacted,
        withheld_refs: record.entries.withheldRefs,
        redacted_refs: record.entries.redactedRefs,
      },
      patients: record.patients && {
        released: record.patients.released,
        released_count: record.patients.releasedCount,
        withheld: record.patients.withheld,
        withheld_count: record.patients.withheldCount,
        changed: record.patients.changed,
        changed_count: record.patients.changedCount,
        capped: record.patients.capped === true,
      },
    },
    erased,
    masked,
    metrics: { timer_server_handler_ns: Math.round(record.durationMs * 1e6) },
  };
}
