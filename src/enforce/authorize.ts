/**
 * authorize: one classified request (a whole request, or one entry of a batch) -> the request that
 * may go upstream, or a denial. Builds the policy input (with the resource the write would produce
 * and the version stored now), asks the request policy, applies its obligations (narrowing, the
 * count rule) and splits off `_summary`/`_elements`, which the gateway applies itself afterwards.
 */
import type { Principal } from '../auth/principal.js';
import { neededScope } from '../auth/scope-check.js';
import { GatewayError } from '../errors.js';
import type { RequestBody } from '../fhir/body.js';
import type { FhirRequest } from '../fhir/request.js';
import type { Decision, PolicyEnv } from '../policy/contract.js';
import type { PolicyEvaluator } from '../policy/engine.js';
import { policyRequest, resourceFacts } from '../policy/input.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';
import { narrowToPatient } from './narrow.js';
import { takeSubsetting, type Subsetting } from './subset.js';
import { planWrite, type WritePlan } from './writes.js';

export interface AuthorizeContext {
  readonly policy: PolicyEvaluator;
  readonly principal: Principal;
  readonly env: PolicyEnv;
  readonly bases: readonly string[];
  readonly client: UpstreamClient;
  readonly requestId: string;
  /** Counts a decision (metrics live outside the core). */
  readonly onDecision: (stage: 'request' | 'resource', allow: boolean) => void;
}

export interface Authorized {
  readonly decision: Decision;
  /**
   * Counts may be passed on: policy said so (`release_total`) and, when it asked for narrowing, the
   * narrowing was applied. A search on a type outside the compartment is not narrowed, so its
   * upstream total would count other patients' resources.
   */
  readonly releaseTotal: boolean;
  /** What goes upstream: narrowed, without `_summary`/`_elements`. */
  readonly forwarded: FhirRequest;
  readonly subsetting: Subsetting | null;
  readonly plan: WritePlan;
}

export async function authorize(ctx: AuthorizeContext, request: FhirRequest, body: RequestBody, clientIfMatch: string | undefined): Promise<Authorized> {
  const plan = await planWrite(request, body, ctx.client, ctx.requestId, clientIfMatch);
  const decision = await ctx.policy.decideRequest({
    principal: ctx.principal,
    request: policyRequest(request),
    env: ctx.env,
    ...(plan.resource ? { resource: plan.resource, facts: resourceFacts(plan.resource, ctx.bases) } : {}),
    ...(plan.current ? { current: plan.current, current_facts: resourceFacts(plan.current, ctx.bases) } : {}),
  });
  ctx.onDecision('request', decision.allow);
  if (!decision.allow) throw denial(decision, request, ctx.principal);

  const { forwarded: unsubsetted, subsetting } = takeSubsetting(request);
  const narrowTo = decision.obligations.narrow?.patient;
  const forwarded = narrowTo === undefined ? unsubsetted : narrowToPatient(unsubsetted, narrowTo);
  const releaseTotal = decision.obligations.release_total === true && (narrowTo === undefined || forwarded !== unsubsetted);
  if (!releaseTotal && request.params.some((p) => p.name === '_summary' && p.value === 'count')) {
    // A bare count cannot be filtered: it would reveal how many resources policy withholds.
    throw new GatewayError('forbidden', { reasons: ['count.not-allowed'] });
  }
  return { decision, releaseTotal, forwarded, subsetting, plan };
}

export function denial(decision: Decision, request: FhirRequest, principal: Principal): GatewayError {
  if (decision.reasons.includes('scope.missing')) {
    const scope = neededScope(request, principal);
    return new GatewayError('insufficient_scope', { reasons: decision.reasons, bearer: { error: 'insufficient_scope', ...(scope ? { scope } : {}) } });
  }
  return new GatewayError('forbidden', { reasons: decision.reasons });
}
