/**
 * What a request acts on, resolved as the principal sees it. The stored resource an update, patch,
 * delete, history or instance operation names, and the matches of a conditional write's criteria,
 * are read with the gateway's own credentials and then decided by the same resource decision a read
 * gets. A target the principal may not read is absent: the request is answered exactly as if it did
 * not exist, so its answer cannot tell "withheld" from "missing" (docs/threat-model.md).
 *
 * Nothing here runs before the request decision has allowed the request.
 */
import { GatewayError } from '../errors.js';
import type { SearchParam } from '../fhir/request.js';
import { makeParam, serializeQuery } from '../fhir/search-params.js';
import type { Decision, FhirResourceJson } from '../policy/contract.js';
import type { RequestOrigin, UpstreamClient } from '../proxy/upstream-client.js';
import { applyDecision, decideAll, emptySummary, type ResponseEnforcer } from './response.js';
import { redactionApplies } from './redact.js';

export type Target =
  | { readonly kind: 'absent'; readonly reasons: readonly string[] }
  | {
      readonly kind: 'visible';
      /** The stored version, whole (a write applies to it). */
      readonly resource: FhirResourceJson;
      /** What the principal would be given: the stored version after the decision's redactions. */
      readonly view: FhirResourceJson;
      /** The stored version's ETag (or `W/"<versionId>"`); null when the upstream gives none. */
      readonly etag: string | null;
      readonly decision: Decision;
      /** A redaction rule covers the type: the principal may see part of it only (its REDACTED label says so), whatever this one holds. */
      readonly partial: boolean;
    };

export async function resolveTarget(enforcer: ResponseEnforcer, client: UpstreamClient, type: string, id: string, origin: RequestOrigin): Promise<Target> {
  const read = await client.read(type, id, origin);
  if (!read.found) return { kind: 'absent', reasons: [`target.upstream-${read.status}`] };
  const [target] = await judgeTargets(enforcer, [read.resource], [read.etag]);
  return target as Target;
}

/**
 * The matches of conditional criteria that the principal may read (at most `limit` candidates are
 * examined; more is refused with 412, which depends on the upstream's count, hence the bound is high).
 */
export async function resolveMatches(enforcer: ResponseEnforcer, client: UpstreamClient, type: string, criteria: readonly SearchParam[], origin: RequestOrigin, limit: number): Promise<Array<Extract<Target, { kind: 'visible' }>>> {
  let candidates: FhirResourceJson[];
  try {
    // One upstream page holds every candidate the bound allows, and one more to tell it was exceeded.
    candidates = await client.search(type, serializeQuery([...criteria, makeParam('_count', String(limit + 1))]), origin, limit);
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'upstream_too_large') throw new GatewayError('precondition_failed', { reasons: ['conditional.too-many-candidates'] });
    throw err;
  }
  const targets = await judgeTargets(
    enforcer,
    candidates,
    candidates.map(() => null),
  );
  return targets.filter((t): t is Extract<Target, { kind: 'visible' }> => t.kind === 'visible');
}

async function judgeTargets(enforcer: ResponseEnforcer, resources: readonly FhirResourceJson[], etags: ReadonlyArray<string | null>): Promise<Target[]> {
  if (resources.length === 0) return [];
  const decisions = await decideAll(resources, enforcer);
  return resources.map((resource, i) => {
    const decision = decisions[i] as Decision;
    if (!decision.allow) return { kind: 'absent', reasons: decision.reasons };
    const view = structuredClone(resource);
    applyDecision(view, decision, enforcer, emptySummary());
    return { kind: 'visible', resource, view, etag: etags[i] ?? versionTag(resource), decision, partial: redactionApplies(resource.resourceType, decision.obligations.redact ?? []) };
  });
}

function versionTag(resource: FhirResourceJson): string | null {
  const versionId = (resource['meta'] as { versionId?: unknown } | undefined)?.versionId;
  return typeof versionId === 'string' ? `W/"${versionId}"` : null;
}
