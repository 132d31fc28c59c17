/**
 * Response-side enforcement: every resource that comes back is decided by policy (all of one
 * response in a single evaluation), withheld or redacted as decided, and every URL is rewritten to
 * the public base. Nested Bundles (a searchset inside a batch-response) are enforced the same way.
 *
 * Fails closed: a body that is not a FHIR resource throws, and the caller sends an error instead.
 */
import { GatewayError } from '../errors.js';
import type { LinkRewriter } from '../fhir/links.js';
import type { Decision, Facts, FhirResourceJson } from '../policy/contract.js';
import { resourceFacts } from '../policy/input.js';
import { redactResource } from './redact.js';

type JsonObject = Record<string, unknown>;

export interface ResponseEnforcer {
  /** One decision per item, in order (the policy's `fhirgw/resources/decisions`). */
  decide(items: ReadonlyArray<{ resource: FhirResourceJson; facts: Facts }>): Decision[];
  readonly links: LinkRewriter;
}

export interface EnforcementSummary {
  /** Resources released (after redaction). */
  returned: number;
  withheld: number;
  redacted: number;
  /** `Type/id` of withheld resources, for the audit record. */
  withheldRefs: string[];
  /** `Type/id` of released resources that were redacted, for the audit record. */
  redactedRefs: string[];
  /** Reasons of the decisions that withheld or redacted something. */
  reasons: Set<string>;
  breakGlass: boolean;
}

interface Slot {
  readonly resource: FhirResourceJson;
  readonly entry: JsonObject | null;
}

export function enforceResponse(body: unknown, enforcer: ResponseEnforcer): EnforcementSummary {
  if (!isResource(body)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-resource'] });
  const summary: EnforcementSummary = { returned: 0, withheld: 0, redacted: 0, withheldRefs: [], redactedRefs: [], reasons: new Set(), breakGlass: false };

  // Collect every resource (across nested Bundles) so the policy runs once per response.
  const slots: Slot[] = [];
  const bundles: JsonObject[] = [];
  if (body['resourceType'] === 'Bundle') collectBundle(body, slots, bundles);
  else slots.push({ resource: body, entry: null });

  const items = slots.map((s) => ({ resource: s.resource, facts: resourceFacts(s.resource, enforcer.links.bases) }));
  const decisions = enforcer.decide(items);
  if (decisions.length !== slots.length) throw new GatewayError('policy_error', { reasons: ['policy.malformed-decision'] });

  const withheldEntries = new Set<JsonObject>();
  decisions.forEach((decision, i) => {
    const slot = slots[i] as Slot;
    if (decision.obligations.audit?.break_glass) summary.breakGlass = true;
    if (!decision.allow) {
      summary.withheld++;
      summary.withheldRefs.push(referenceOf(slot.resource));
      for (const r of decision.reasons) summary.reasons.add(r);
      if (slot.entry === null) throw new GatewayError('forbidden', { reasons: decision.reasons });
      withheldEntries.add(slot.entry);
      return;
    }
    summary.returned++;
    const redactions = decision.obligations.redact ?? [];
    if (redactions.length > 0 && redactResource(slot.resource, redactions) > 0) {
      summary.redacted++;
      summary.redactedRefs.push(referenceOf(slot.resource));
      for (const r of decision.reasons) summary.reasons.add(r);
    }
  });

  for (const bundle of bundles) finishBundle(bundle, withheldEntries, enforcer.links);
  return summary;
}

function collectBundle(bundle: JsonObject, slots: Slot[], bundles: JsonObject[]): void {
  bundles.push(bundle);
  const entries = bundle['entry'];
  if (entries === undefined) return;
  if (!Array.isArray(entries)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.bundle-entry'] });
  for (const entry of entries) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.bundle-entry'] });
    const resource = (entry as JsonObject)['resource'];
    if (resource === undefined) continue;
    if (!isResource(resource)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-resource'] });
    if (resource['resourceType'] === 'Bundle') collectBundle(resource, slots, bundles);
    else slots.push({ resource, entry: entry as JsonObject });
  }
}

function finishBundle(bundle: JsonObject, withheld: ReadonlySet<JsonObject>, links: LinkRewriter): void {
  const entries = (bundle['entry'] as JsonObject[] | undefined) ?? [];
  const kept = entries.filter((e) => !withheld.has(e));
  for (const entry of kept) rewriteEntryUrls(entry, links);
  if (kept.length > 0) bundle['entry'] = kept;
  else delete bundle['entry'];

  const bundleLinks = Array.isArray(bundle['link']) ? (bundle['link'] as JsonObject[]) : [];
  const publicLinks: JsonObject[] = bundleLinks.flatMap((l) => {
    const url = typeof l['url'] === 'string' ? links.toPublic(l['url']) : null;
    return url === null ? [] : [{ ...l, url }];
  });
  if (publicLinks.length > 0) bundle['link'] = publicLinks;
  else delete bundle['link'];

  // `total` must not reveal withheld matches: exact when this is the only page, otherwise dropped.
  if (kept.length !== entries.length && 'total' in bundle) {
    const hasMorePages = publicLinks.some((l) => l['relation'] === 'next');
    if (hasMorePages) delete bundle['total'];
    else bundle['total'] = kept.filter((e) => ((e['search'] as JsonObject | undefined)?.['mode'] ?? 'match') === 'match').length;
  }
}

function rewriteEntryUrls(entry: JsonObject, links: LinkRewriter): void {
  if (typeof entry['fullUrl'] === 'string') {
    const url = links.toPublic(entry['fullUrl']);
    if (url === null) delete entry['fullUrl'];
    else entry['fullUrl'] = url;
  }
  const response = entry['response'] as JsonObject | undefined;
  if (response && typeof response['location'] === 'string') {
    const url = links.toPublic(response['location']);
    if (url === null) delete response['location'];
    else response['location'] = url;
  }
}

function isResource(value: unknown): value is FhirResourceJson {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as JsonObject)['resourceType'] === 'string';
}

function referenceOf(resource: JsonObject): string {
  const id = resource['id'];
  return `${String(resource['resourceType'])}/${typeof id === 'string' ? id : '?'}`;
}
