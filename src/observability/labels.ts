/**
 * Bounded label values. A Prometheus label must come from a small, closed set: every distinct value
 * is a time series kept in memory by every scraper. Reason codes are mostly fixed strings, but some
 * carry a variable tail (`upstream.status-503`) and policies written by a deployment may emit codes
 * we have never seen, so they are folded here before they become labels. Pure.
 */
import { R4_RESOURCE_TYPES } from '../fhir/generated/r4.js';

const RESOURCE_TYPES = new Set(R4_RESOURCE_TYPES);

/** Distinct reason labels a registry keeps before it folds the rest into `other`. */
export const MAX_REASON_LABELS = 200;

const REASON = /^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)*$/;

/**
 * A reason code as a label value: lower-case dotted codes only, a numeric tail dropped
 * (`upstream.status-503` -> `upstream.status`, `policy.rule-17` -> `policy.rule`), at most 64
 * characters; anything else is `other`.
 */
export function reasonLabel(reason: string): string {
  if (reason.length > 96 || !REASON.test(reason)) return 'other';
  const folded = reason.replace(/[-_.]?\d+$/, '').replace(/[-_.]$/, '');
  return folded.length === 0 || folded.length > 64 ? 'other' : folded;
}

/**
 * Folds reason codes into at most `max` distinct labels (then `other`), per registry: the set is
 * what this process has exported, so a flood of novel codes cannot grow the series without bound.
 */
export function createReasonFolder(max = MAX_REASON_LABELS): (reason: string) => string {
  const seen = new Set<string>();
  return (reason) => {
    const label = reasonLabel(reason);
    if (seen.has(label)) return label;
    if (seen.size >= max) return 'other';
    seen.add(label);
    return label;
  };
}

/** A FHIR R4 resource type as a label (about 150 values); anything else, or none, is `none`. */
export function resourceTypeLabel(type: string | null | undefined): string {
  return type && RESOURCE_TYPES.has(type) ? type : 'none';
}

/** The resource type of `Type/id` (references in enforcement summaries), as a label. */
export function typeOfReference(ref: string): string {
  return resourceTypeLabel(ref.split('/', 1)[0]);
}
