/**
 * `policy eval`: what the gateway would decide for one request, and what it would release of one
 * answer, evaluated by the real engine and the real response enforcement (decisions, withholding,
 * redaction, de-identification), with nothing forwarded anywhere.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { enforceResponse, type EnforcementSummary, type ResponseEnforcer } from '../enforce/response.js';
import { createLinkRewriter } from '../fhir/links.js';
import type { PolicyEvaluator } from '../policy/engine.js';
import { ENTRYPOINTS, type Decision, type FhirResourceJson, type RequestInput, type ResourcesInput } from '../policy/contract.js';
import { policyEnv } from '../policy/input.js';
import { consentsFor, type EvalCase } from './eval-input.js';

/** The base the evaluation pretends the FHIR server has: references under it count as local. */
export const EVAL_BASE = 'https://fhir.invalid';

export interface ResourceVerdict {
  readonly ref: string;
  readonly decision: Decision;
}

export interface EvalResult {
  readonly revision: string;
  readonly request: Decision;
  /** Null when there was no answer to enforce, or the request was refused (nothing would be forwarded). */
  readonly response: {
    readonly resources: readonly ResourceVerdict[];
    /** Null when the answer was a single resource that policy withheld. */
    readonly summary: (Omit<EnforcementSummary, 'reasons'> & { readonly reasons: readonly string[] }) | null;
    /** The HTTP status the client would get: 200, or 404 for a withheld single resource (answered as missing). */
    readonly status: number;
    /** The answer as the client would receive it, or null when it is withheld. */
    readonly released: FhirResourceJson | null;
  } | null;
}

/** One evaluation of an entry point: the exact input document and what policy answered. */
export interface Evaluation {
  readonly entrypoint: string;
  readonly input: RequestInput | ResourcesInput;
  readonly output: Decision | readonly Decision[];
}

/** `seen` is told of every evaluation, in order, so its input can be shown and explained. */
export async function evaluateCase(policy: PolicyEvaluator, c: EvalCase, seen: (e: Evaluation) => void = () => {}): Promise<EvalResult> {
  const request = await policy.decideRequest(c.requestInput);
  seen({ entrypoint: ENTRYPOINTS.request, input: c.requestInput, output: request });
  if (!request.allow || c.response === null) return { revision: policy.revision, request, response: null };

  const links = createLinkRewriter(EVAL_BASE, EVAL_BASE);
  const body = structuredClone(c.response);
  const resources: ResourceVerdict[] = [];
  const enforcer: ResponseEnforcer = {
    links,
    redaction: { now: c.now, pseudonymKey: randomBytes(32) },
    decide: async (items) => {
      const consents = consentsFor(items.flatMap((i) => i.facts.patients), c.consents, links.bases, c.now);
      const input: ResourcesInput = { principal: c.principal, request: c.request, env: policyEnv(c.now, policy.revision), items, consents };
      const decisions = await policy.decideResources(input);
      // A snapshot: enforcement redacts these very resources in place afterwards.
      seen({ entrypoint: ENTRYPOINTS.resources, input: structuredClone(policy.resourcesInput?.(input) ?? input), output: decisions });
      items.forEach((item, i) => resources.push({ ref: refOf(item.resource), decision: decisions[i]! }));
      return decisions;
    },
  };
  let summary: EnforcementSummary;
  try {
    summary = await enforceResponse(body, enforcer, { releaseTotal: request.obligations.release_total === true });
  } catch (err) {
    // A single resource that policy withholds is not released at all: the gateway answers it as missing (404).
    if (err instanceof GatewayError && err.code === 'not_found') {
      return { revision: policy.revision, request, response: { resources, summary: null, status: err.status, released: null } };
    }
    throw err;
  }
  const reasons = [...summary.reasons].sort();
  return { revision: policy.revision, request, response: { resources, summary: { ...summary, reasons }, status: 200, released: body } };
}

function refOf(resource: FhirResourceJson): string {
  return typeof resource['id'] === 'string' ? `${resource.resourceType}/${resource['id']}` : resource.resourceType;
}
