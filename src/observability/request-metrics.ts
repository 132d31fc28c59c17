/**
 * The metrics of one request, recorded once it is answered: RED metrics by interaction, resource
 * type and status; the final decision by reason code; what enforcement withheld and redacted;
 * upstream failures by kind. Plus `timeStage`, which times one stage of the pipeline.
 */
import { outcomeOf } from '../audit/build.js';
import type { EnforcementSummary } from '../enforce/response.js';
import type { ErrorCode, GatewayError } from '../errors.js';
import type { Decision } from '../policy/contract.js';
import { isUpstreamClientError } from '../errors-upstream.js';
import { resourceTypeLabel, typeOfReference } from './labels.js';
import type { GatewayMetrics, Stage } from './metrics.js';

export interface RequestObservation {
  readonly interaction: string;
  readonly resourceType: string | null;
  readonly status: number;
  readonly durationSeconds: number;
  readonly error: GatewayError | null;
  readonly decision: Decision | null;
  readonly summary: EnforcementSummary | null;
}

/** Gateway errors caused by the upstream, by the `kind` label they are counted under. */
const UPSTREAM_ERROR_KINDS: Partial<Record<ErrorCode, string>> = {
  upstream_timeout: 'timeout',
  upstream_unavailable: 'unavailable',
  upstream_error: 'status',
  upstream_bad_response: 'bad_response',
  upstream_too_large: 'too_large',
  // An open circuit is the upstream failing: during a full outage these are most of the answers.
  upstream_circuit_open: 'circuit_open',
};

export function observeRequest(metrics: GatewayMetrics, o: RequestObservation): void {
  const code = String(o.status);
  metrics.requests.inc({ interaction: o.interaction, resource_type: resourceTypeLabel(o.resourceType), code });
  metrics.requestDuration.observe({ interaction: o.interaction, code }, o.durationSeconds);

  const { decision, reasons } = outcomeOf(o);
  for (const reason of reasons.length > 0 ? reasons : ['none']) metrics.decisionReasons.inc({ decision, reason: metrics.reasonLabel(reason) });

  if (o.summary) {
    for (const ref of o.summary.withheldRefs) metrics.withheld.inc({ resource_type: typeOfReference(ref) });
    // Batch entries refused before forwarding are counted without a reference.
    const unnamed = o.summary.withheld - o.summary.withheldRefs.length;
    if (unnamed > 0) metrics.withheld.inc({ resource_type: 'none' }, unnamed);
    for (const ref of o.summary.redactedRefs) metrics.redacted.inc({ resource_type: typeOfReference(ref) });
    if (o.summary.redactedFields > 0) metrics.redactedFields.inc(o.summary.redactedFields);
  }

  // RFC 9470 challenges by what the login lacked (a bounded set: the policy's assurance.* reasons).
  if (o.error?.code === 'insufficient_user_authentication') {
    for (const reason of o.error.reasons) metrics.stepUpChallenges.inc({ reason: metrics.reasonLabel(reason) });
  }

  const upstreamStatus = o.error?.upstream?.status;
  if (upstreamStatus !== undefined && isUpstreamClientError(upstreamStatus)) {
    // The upstream refused the request (a bad date, a validation failure, its credentials check):
    // counted apart, so client mistakes never page anyone as an upstream outage.
    metrics.upstreamClientErrors.inc({ status: String(upstreamStatus) });
    return;
  }
  const kind = o.error ? UPSTREAM_ERROR_KINDS[o.error.code] : undefined;
  // `client.gone` is the client hanging up, not the upstream failing.
  if (kind !== undefined && !o.error?.reasons.includes('client.gone')) metrics.upstreamErrors.inc({ kind });
}

/** Runs one stage and observes how long it took, whether it succeeded or threw. */
export async function timeStage<T>(metrics: GatewayMetrics, stage: Stage, run: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  try {
    return await run();
  } finally {
    metrics.stageDuration.observe({ stage }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

/** `timeStage` for a synchronous stage (the batched per-resource policy evaluation). */
export function timeStageSync<T>(metrics: GatewayMetrics, stage: Stage, run: () => T): T {
  const started = process.hrtime.bigint();
  try {
    return run();
  } finally {
    metrics.stageDuration.observe({ stage }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
