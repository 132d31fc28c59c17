/**
 * Old versions are judged with the protections of the record as it is now. A record labelled PSY
 * in version 2 was sensitive all along; its version 1, written before anyone labelled it, must not
 * stay readable through `_history/1`. So a version (a vread, a history entry) is decided twice, on
 * its own content and on the resource's latest version, in one evaluation, and the more restrictive
 * decision wins: released only if both release it, with the redactions of both.
 *
 * A resource whose latest version cannot be read (deleted, or gone from the upstream) has no
 * protections to compare with, and its versions are withheld.
 */
import type { LocalReference } from '../fhir/references.js';
import type { Decision, FhirResourceJson } from '../policy/contract.js';
import type { RequestOrigin, UpstreamClient } from '../proxy/upstream-client.js';
import { decideAll, type Decider } from './response.js';

/** `Type/id` -> the latest version, or null when there is none to read. */
export type LatestVersions = ReadonlyMap<string, FhirResourceJson | null>;

/** Reads the latest versions of these resources with the gateway's own credentials (one search per type). */
export async function latestVersions(client: UpstreamClient, refs: readonly LocalReference[], origin: RequestOrigin, known: LatestVersions = new Map()): Promise<LatestVersions> {
  const out = new Map(known);
  const byType = new Map<string, Set<string>>();
  for (const ref of refs) {
    const key = `${ref.type}/${ref.id}`;
    if (out.has(key)) continue;
    out.set(key, null);
    let ids = byType.get(ref.type);
    if (!ids) byType.set(ref.type, (ids = new Set()));
    ids.add(ref.id);
  }
  await Promise.all(
    [...byType].map(async ([type, ids]) => {
      const found = await client.search(type, `_id=${[...ids].map(encodeURIComponent).join(',')}&_count=${ids.size}`, origin, ids.size);
      for (const resource of found) if (typeof resource['id'] === 'string' && ids.has(resource['id'])) out.set(`${type}/${resource['id']}`, resource);
    }),
  );
  return out;
}

/** A Decider for versions: each resource against its latest version (absent: withheld). */
export function againstLatest(latest: LatestVersions): Decider {
  return async (versions, enforcer) => {
    const currents = versions.map((v) => latest.get(refKey(v)) ?? null);
    const present = currents.filter((c): c is FhirResourceJson => c !== null);
    // Decided on copies: the latest version is a yardstick here, never released.
    const decisions = await decideAll([...versions, ...present.map((c) => structuredClone(c))], enforcer);
    let next = versions.length;
    return versions.map((_, i) => (currents[i] === null ? NO_LATEST : moreRestrictive(decisions[i] as Decision, decisions[next++] as Decision)));
  };
}

/** Both must release; the redactions of both apply; a withholding keeps its own obligations. */
export function moreRestrictive(a: Decision, b: Decision): Decision {
  if (!a.allow) return a;
  if (!b.allow) return { ...b, obligations: { ...b.obligations, conceal: true } };
  const redact = [...(a.obligations.redact ?? []), ...(b.obligations.redact ?? [])];
  const breakGlass = a.obligations.audit?.break_glass === true || b.obligations.audit?.break_glass === true;
  return {
    allow: true,
    reasons: [...new Set([...a.reasons, ...b.reasons])],
    obligations: { ...a.obligations, ...(redact.length > 0 ? { redact } : {}), ...(breakGlass ? { audit: { ...a.obligations.audit, break_glass: true } } : {}) },
  };
}

const NO_LATEST: Decision = { allow: false, reasons: ['version.no-current'], obligations: { conceal: true } };

function refKey(resource: FhirResourceJson): string {
  return `${resource.resourceType}/${typeof resource['id'] === 'string' ? resource['id'] : ''}`;
}
