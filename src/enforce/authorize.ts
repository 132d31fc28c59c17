/**
 * authorize: the request decision, made before anything about stored data is looked at.
 *
 * `decideRequest` judges one classified request (a whole request, or one entry of a batch) on what
 * the request itself says: its interaction, type, id, criteria and, for a create or update, the
 * client's own body. It applies the decision's obligations (narrowing, the count rule), holds the
 * criteria against the redactions the principal's view of the type will have, and splits off
 * `_summary`/`_elements`, which the gateway applies itself afterwards.
 *
 * `decideWrite` judges a write again once its target is resolved (src/enforce/targets.ts): on the
 * resource as it will be and the version stored now, which the principal may read by then.
 */
import type { Principal } from '../auth/principal.js';
import { neededScope } from '../auth/scope-check.js';
import { GatewayError } from '../errors.js';
import type { RequestBody } from '../fhir/body.js';
import type { FhirRequest, Interaction } from '../fhir/request.js';
import type { Decision, PolicyEnv, Redaction } from '../policy/contract.js';
import type { PolicyEvaluator } from '../policy/engine.js';
import { policyRequest, resourceFacts } from '../policy/input.js';
import type { RequestOrigin, UpstreamClient } from '../proxy/upstream-client.js';
import { checkCriteria } from './criteria.js';
import { narrowToPatient } from './narrow.js';
import { takeSubsetting, type Subsetting } from './subset.js';
import type { WritePlan } from './writes.js';

export interface AuthorizeContext {
  readonly policy: PolicyEvaluator;
  readonly principal: Principal;
  readonly env: PolicyEnv;
  readonly bases: readonly string[];
  readonly client: UpstreamClient;
  /** The request the gateway's own upstream reads are made for (its id and trace go with them). */
  readonly origin: RequestOrigin;
  /** Counts a decision (metrics live outside the core). */
  readonly onDecision: (stage: 'request' | 'resource', allow: boolean) => void;
  /** The `acr_values` the principal's issuer knows for an assurance level (RFC 9470 challenges); null when it names none. */
  readonly acrValuesFor?: (level: number) => string | null;
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
}

/** Interactions that select resources by criteria the client wrote. */
const SELECTING: ReadonlySet<Interaction> = new Set(['search-type', 'search-system', 'search-compartment', 'update', 'patch', 'delete', 'create']);

export async function decideRequest(ctx: AuthorizeContext, request: FhirRequest, body: RequestBody): Promise<Authorized> {
  // Only the client's own body: the stored version is looked at once the request is allowed.
  const resource = body.kind === 'json' && (request.interaction === 'create' || request.interaction === 'update') ? body.json : null;
  const decision = await ctx.policy.decideRequest({
    principal: ctx.principal,
    request: policyRequest(request),
    env: ctx.env,
    ...(resource ? { resource, facts: resourceFacts(resource, ctx.bases) } : {}),
  });
  ctx.onDecision('request', decision.allow);
  if (!decision.allow) throw denial(decision, request, ctx.principal, { acrValuesFor: ctx.acrValuesFor });

  const redactions = decision.obligations.redact ?? [];
  if (isDeidentified(redactions, request.type) && (request.id !== null || request.compartment !== null)) {
    // A real id is an identifier: reading by it would link that person to their pseudonym, and with
    // it every de-identified record of them. De-identified data is reached by search only.
    throw new GatewayError('forbidden', { reasons: ['deidentified.by-id'] });
  }
  if (SELECTING.has(request.interaction)) {
    checkCriteria(request.type, request.params, redactions);
    if (request.ifNoneExist !== null) checkCriteria(request.type, request.ifNoneExist, redactions);
  }

  const { forwarded: unsubsetted, subsetting } = takeSubsetting(request);
  const narrowTo = decision.obligations.narrow?.patient;
  const forwarded = narrowTo === undefined ? unsubsetted : narrowToPatient(unsubsetted, narrowTo);
  const releaseTotal = decision.obligations.release_total === true && (narrowTo === undefined || forwarded !== unsubsetted);
  const countOnly = request.params.some((p) => (p.name === '_summary' && p.value === 'count') || (p.name === '_count' && p.value === '0'));
  if (!releaseTotal && countOnly) {
    // A bare count cannot be filtered: it would reveal how many resources policy withholds.
    throw new GatewayError('forbidden', { reasons: ['count.not-allowed'] });
  }
  return { decision, releaseTotal, forwarded, subsetting };
}

/** The second decision of a write: on the result and on the stored version it replaces. */
export async function decideWrite(ctx: AuthorizeContext, request: FhirRequest, plan: WritePlan): Promise<Decision> {
  const decision = await ctx.policy.decideRequest({
    principal: ctx.principal,
    request: policyRequest(request),
    env: ctx.env,
    ...(plan.resource ? { resource: plan.resource, facts: resourceFacts(plan.resource, ctx.bases) } : {}),
    ...(plan.current ? { current: plan.current, current_facts: resourceFacts(plan.current, ctx.bases) } : {}),
  });
  ctx.onDecision('request', decision.allow);
  if (!decision.allow) throw denial(decision, request, ctx.principal);
  return decision;
}

function isDeidentified(redactions: readonly Redaction[], type: string | null): boolean {
  return redactions.some((r) => (r.action === 'safe-harbor' || r.action === 'limited-data-set') && (r.path === '*' || r.path === type));
}

/**
 * The refusal a denied decision answers with. A `step_up` is honoured only when `stepUp` is given:
 * by the first request decision, which depends on the request alone, so the challenge says nothing
 * about stored data. (A write's second decision sees the stored version: its denials stay 403.)
 */
export function denial(decision: Decision, request: FhirRequest, principal: Principal, stepUp?: { readonly acrValuesFor?: AuthorizeContext['acrValuesFor'] }): GatewayError {
  if (stepUp && decision.obligations.step_up) return stepUpChallenge(decision.reasons, decision.obligations.step_up, principal, stepUp.acrValuesFor);
  if (decision.reasons.includes('scope.missing')) {
    const scope = neededScope(request, principal);
    return new GatewayError('insufficient_scope', { reasons: decision.reasons, bearer: { error: 'insufficient_scope', ...(scope ? { scope } : {}) } });
  }
  return new GatewayError('forbidden', { reasons: decision.reasons });
}

/** RFC 9470: 401 `insufficient_user_authentication`, in the scheme the token was presented with. */
function stepUpChallenge(
  reasons: readonly string[],
  stepUp: NonNullable<Decision['obligations']['step_up']>,
  principal: Principal,
  acrValuesFor: ((level: number) => string | null) | undefined,
): GatewayError {
  const acrValues = stepUp.level === undefined ? null : (acrValuesFor?.(stepUp.level) ?? null);
  return new GatewayError('insufficient_user_authentication', {
    reasons,
    bearer: {
      error: 'insufficient_user_authentication',
      scheme: principal.binding === 'dpop' ? 'DPoP' : 'Bearer',
      ...(acrValues === null ? {} : { acrValues }),
      ...(stepUp.max_age === undefined ? {} : { maxAge: stepUp.max_age }),
    },
  });
}
