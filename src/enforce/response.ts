/**
 * Response-side enforcement: every resource that comes back is decided by policy (all of one
 * response in a single evaluation), withheld or redacted as decided, and every URL is rewritten to
 * the public base. Nested Bundles (a searchset inside a batch-response) are enforced the same way.
 *
 * Fails closed: a body that is not a FHIR resource throws, and the caller sends an error instead.
 */
import { GatewayError } from '../errors.js';
import type { LinkRewriter } from '../fhir/links.js';
import { parseLocalReference } from '../fhir/references.js';
import type { Decision, Facts, FhirResourceJson } from '../policy/contract.js';
import { resourceFacts } from '../policy/input.js';
import { redactResource, type RedactionContext } from './redact.js';
import { applySubsetting, type Subsetting } from './subset.js';

type JsonObject = Record<string, unknown>;

export interface ResponseEnforcer {
  /** One decision per item, in order (the policy's `fhirgw/resources/decisions`). */
  decide(items: ReadonlyArray<{ resource: FhirResourceJson; facts: Facts }>): Decision[] | Promise<Decision[]>;
  readonly links: LinkRewriter;
  /** Reads a resource a Binary's `securityContext` names; null when it cannot be read. */
  resolve?(type: string, id: string): Promise<FhirResourceJson | null>;
  /** Time and pseudonym key for de-identification (defaults: now, a per-process key). */
  readonly redaction?: RedactionContext;
}

export interface EnforceOptions {
  /** The request decision said counts may be passed on (`release_total`). */
  readonly releaseTotal?: boolean;
  /** `_summary`/`_elements` of the request, applied to what is released. */
  readonly subsetting?: Subsetting | null;
  /** How the resources are decided (default: each on its own; a vread also against the current version). */
  readonly decide?: Decider;
}

/** One decision per resource, in order. */
export type Decider = (resources: readonly FhirResourceJson[], enforcer: ResponseEnforcer) => Promise<Decision[]>;

export interface EnforcementSummary {
  /** Resources released (after redaction). */
  returned: number;
  withheld: number;
  redacted: number;
  /** `Type/id` of withheld resources, for the audit record. */
  withheldRefs: string[];
  /** `Type/id` of released resources that were redacted, for the audit record. */
  redactedRefs: string[];
  /** Elements changed by redaction, over all resources (a metric; not in the audit record). */
  redactedFields: number;
  /** Refs not listed because a list was full (MAX_LISTED_REFS); the counts above stay exact. */
  omittedRefs: number;
  /** Reasons of the decisions that withheld or redacted something. */
  reasons: Set<string>;
  breakGlass: boolean;
  /** A write in this answer changed protections (a batch entry's decision said so). */
  protectionChange: boolean;
  /** Whose data was released, withheld or changed (the audit record's `patients`). */
  patients: PatientTally;
}

/**
 * Patients an answer concerns, by their Patient compartment (the facts policy decided on). The
 * detailed lists hold at most MAX_LISTED_PATIENTS patients each; beyond that, ids are only kept to
 * count distinct patients exactly (`capped`).
 */
export interface PatientTally {
  /** Patient id -> resource type -> resources released. */
  released: Map<string, Map<string, number>>;
  withheld: Set<string>;
  /** Patients whose data a write created, changed or deleted. */
  changed: Set<string>;
  /** Ids beyond the listed ones, per list: counted, not listed. */
  overflow: { released: Set<string>; withheld: Set<string>; changed: Set<string> };
}

interface Slot {
  readonly resource: FhirResourceJson;
  readonly entry: JsonObject | null;
}

export async function enforceResponse(body: unknown, enforcer: ResponseEnforcer, options: EnforceOptions = {}): Promise<EnforcementSummary> {
  if (!isResource(body)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-resource'] });
  const summary = emptySummary();

  // Collect every resource (across nested Bundles) so the policy runs once per response.
  const slots: Slot[] = [];
  const bundles: JsonObject[] = [];
  if (body['resourceType'] === 'Bundle') collectBundle(body, slots, bundles);
  else slots.push({ resource: body, entry: null });

  const decisions = await judge(slots.map((s) => s.resource), enforcer, summary, (i) => (isMatch(slots[i] as Slot) ? (options.subsetting ?? null) : null), options.decide);

  const withheldEntries = new Set<JsonObject>();
  const released = new Set<string>();
  decisions.forEach((decision, i) => {
    const slot = slots[i] as Slot;
    if (decision.allow) {
      released.add(referenceOf(slot.resource));
      return;
    }
    if (slot.entry === null) {
      // A withholding is indistinguishable from a resource that does not exist, for every principal:
      // a 403 here would confirm that the id names something (noninterference, docs/threat-model.md).
      throw new GatewayError('not_found', { auditReasons: decision.reasons });
    }
    withheldEntries.add(slot.entry);
  });

  for (const bundle of bundles) finishBundle(bundle, withheldEntries, released, enforcer.links, options.releaseTotal === true);
  return summary;
}

/**
 * Decides a list of resources in one evaluation and applies each decision: released resources are
 * redacted (and subsetted) in place; the summary counts both. Shared by Bundles and NDJSON streams.
 */
export async function judge(
  resources: readonly FhirResourceJson[],
  enforcer: ResponseEnforcer,
  summary: EnforcementSummary,
  subsettingOf: (index: number) => Subsetting | null = () => null,
  decide: Decider = decideAll,
): Promise<Decision[]> {
  const decisions = await decide(resources, enforcer);
  decisions.forEach((decision, i) => applyDecision(resources[i] as FhirResourceJson, decision, enforcer, summary, subsettingOf(i)));
  return decisions;
}

/** One decision per resource, in one evaluation; nothing is changed yet. */
export async function decideAll(resources: readonly FhirResourceJson[], enforcer: ResponseEnforcer): Promise<Decision[]> {
  const decisions = await enforcer.decide(await factsFor(resources, enforcer));
  if (decisions.length !== resources.length) throw new GatewayError('policy_error', { reasons: ['policy.malformed-decision'] });
  return decisions;
}

/**
 * Carries out one decision: a released resource is redacted (and subsetted) in place; the summary
 * counts the release or the withholding. Returns how many elements redaction changed.
 */
export function applyDecision(resource: FhirResourceJson, decision: Decision, enforcer: ResponseEnforcer, summary: EnforcementSummary, subsetting: Subsetting | null = null): number {
  if (decision.obligations.audit?.break_glass) {
    summary.breakGlass = true;
    for (const r of decision.reasons) summary.reasons.add(r);
  }
  // Taken before redaction: de-identification rewrites the very references that name the patient.
  const patients = factsOf(resource, enforcer).patients;
  if (!decision.allow) {
    summary.withheld++;
    for (const id of patients) tallyPatient(summary.patients, 'withheld', id);
    listRef(summary, 'withheldRefs', referenceOf(resource));
    for (const r of decision.reasons) summary.reasons.add(r);
    return 0;
  }
  summary.returned++;
  for (const id of patients) tallyReleased(summary.patients, id, resource.resourceType, 1);
  const redactions = decision.obligations.redact ?? [];
  // The reference is taken before redaction: de-identification replaces the id with a pseudonym.
  const ref = referenceOf(resource);
  const changed = redactions.length > 0 ? redactResource(resource, redactions, enforcer.redaction) : 0;
  if (changed > 0) {
    summary.redacted++;
    summary.redactedFields += changed;
    listRef(summary, 'redactedRefs', ref);
    for (const r of decision.reasons) summary.reasons.add(r);
  }
  if (subsetting) applySubsetting(resource, subsetting);
  return changed;
}

/**
 * A write that was carried out but whose resulting resource policy withholds from the writer (a
 * Consent that denies the very clinician recording it): the write must not be reported as refused,
 * or the client retries it. The answer keeps the upstream's status and headers without the body, as
 * for `Prefer: return=minimal`; the summary records the withholding for the audit trail. Null when
 * `err` is anything else, which then propagates.
 */
export function writeResultWithheld(request: { readonly interaction: string }, err: unknown): EnforcementSummary | null {
  if (!['create', 'update', 'patch'].includes(request.interaction)) return null;
  if (!(err instanceof GatewayError) || (err.code !== 'forbidden' && err.code !== 'not_found')) return null;
  const summary = emptySummary();
  summary.withheld = 1;
  for (const reason of ['write.result-withheld', ...err.reasons, ...err.auditReasons]) summary.reasons.add(reason);
  return summary;
}

/** Adds what one part of an answer released and withheld (a batch entry, an include) to the whole. */
export function mergeSummary(into: EnforcementSummary, from: EnforcementSummary): void {
  into.returned += from.returned;
  into.withheld += from.withheld;
  into.redacted += from.redacted;
  into.redactedFields += from.redactedFields;
  for (const ref of from.withheldRefs) listRef(into, 'withheldRefs', ref);
  for (const ref of from.redactedRefs) listRef(into, 'redactedRefs', ref);
  into.omittedRefs += from.omittedRefs;
  for (const r of from.reasons) into.reasons.add(r);
  into.breakGlass ||= from.breakGlass;
  into.protectionChange ||= from.protectionChange;
  for (const [id, types] of from.patients.released) for (const [type, n] of types) tallyReleased(into.patients, id, type, n);
  for (const id of from.patients.overflow.released) tallyReleased(into.patients, id, null, 0);
  for (const list of ['withheld', 'changed'] as const) {
    for (const id of from.patients[list]) tallyPatient(into.patients, list, id);
    for (const id of from.patients.overflow[list]) tallyPatient(into.patients, list, id);
  }
}

export function emptySummary(): EnforcementSummary {
  return {
    returned: 0,
    withheld: 0,
    redacted: 0,
    withheldRefs: [],
    redactedRefs: [],
    redactedFields: 0,
    omittedRefs: 0,
    reasons: new Set(),
    breakGlass: false,
    protectionChange: false,
    patients: { released: new Map(), withheld: new Set(), changed: new Set(), overflow: { released: new Set(), withheld: new Set(), changed: new Set() } },
  };
}

/** Patients listed per list of one summary, like MAX_LISTED_REFS: a Bulk export may touch millions. */
export const MAX_LISTED_PATIENTS = 10_000;

function tallyReleased(tally: PatientTally, id: string, type: string | null, n: number): void {
  const types = tally.released.get(id);
  if (types) {
    if (type !== null) types.set(type, (types.get(type) ?? 0) + n);
  } else if (tally.released.size < MAX_LISTED_PATIENTS && !tally.overflow.released.has(id)) {
    tally.released.set(id, new Map(type === null ? [] : [[type, n]]));
  } else tally.overflow.released.add(id);
}

function tallyPatient(tally: PatientTally, list: 'withheld' | 'changed', id: string): void {
  if (tally[list].has(id)) return;
  if (tally[list].size < MAX_LISTED_PATIENTS) tally[list].add(id);
  else tally.overflow[list].add(id);
}

/**
 * The patients a write changes: those of the version it replaces and of its result (moving an
 * Observation from one patient to another changes both). The upstream's answer names a created
 * Patient's server-assigned id. Taken before the answer is released (redaction may pseudonymise it).
 */
export function patientsWritten(resources: ReadonlyArray<FhirResourceJson | null>, bases: readonly string[]): string[] {
  return [...new Set(resources.flatMap((r) => (r ? resourceFacts(r, bases).patients : [])))];
}

/** Tallies `n` resources of `type` released about `patient` (answers the gateway builds itself: the access history). */
export function noteReleased(summary: EnforcementSummary, patient: string, type: string, n: number): void {
  tallyReleased(summary.patients, patient, type, n);
}

/** Adds the patients a write changed to the summary of its answer. */
export function noteWritten(summary: EnforcementSummary, patients: readonly string[]): EnforcementSummary {
  for (const id of patients) tallyPatient(summary.patients, 'changed', id);
  return summary;
}

/**
 * The facts each resource was decided on, kept by identity so the tally names the same patients
 * policy saw (a Binary's owner comes from its securityContext); computed afresh for a resource a
 * custom decider judged without them.
 */
const decidedFacts = new WeakMap<FhirResourceJson, Facts>();

function factsOf(resource: FhirResourceJson, enforcer: ResponseEnforcer): Facts {
  return decidedFacts.get(resource) ?? resourceFacts(resource, enforcer.links.bases);
}

/**
 * Refs listed per list of one summary (and so of one audit record). A Bulk Data file streams
 * hundreds of thousands of resources: listing them all would grow memory with the export and make
 * one audit record megabytes long. Beyond this, refs are only counted.
 */
export const MAX_LISTED_REFS = 10_000;

export function listRef(summary: EnforcementSummary, list: 'withheldRefs' | 'redactedRefs', ref: string): void {
  if (summary[list].length < MAX_LISTED_REFS) summary[list].push(ref);
  else summary.omittedRefs++;
}

/** Facts for each resource; a Binary takes its owner from the resource its securityContext names. */
async function factsFor(resources: readonly FhirResourceJson[], enforcer: ResponseEnforcer): Promise<Array<{ resource: FhirResourceJson; facts: Facts }>> {
  // Only a Binary needs a read: the rest are decided synchronously (no promise per resource).
  const items = resources.map((resource) => ({ resource, facts: resource.resourceType === 'Binary' ? UNKNOWN_OWNER : resourceFacts(resource, enforcer.links.bases) }));
  const contexts = new Map<string, Promise<Facts>>();
  await Promise.all(
    items.filter((item) => item.resource.resourceType === 'Binary').map(async (item) => {
      const ref = (item.resource['securityContext'] as { reference?: unknown } | undefined)?.reference;
      const local = typeof ref === 'string' ? parseLocalReference(ref, enforcer.links.bases) : null;
      if (!local || !enforcer.resolve) return;
      const key = `${local.type}/${local.id}`;
      let facts = contexts.get(key);
      if (!facts) {
        facts = enforcer.resolve(local.type, local.id).then((target) => (target ? { ...resourceFacts(target, enforcer.links.bases), patient_data: true } : UNKNOWN_OWNER));
        contexts.set(key, facts);
      }
      item.facts = await facts;
    }),
  );
  for (const item of items) decidedFacts.set(item.resource, item.facts);
  return items;
}

/** Content nobody vouches for is patient data of nobody known: only principals who may see everything get it. */
const UNKNOWN_OWNER: Facts = { patients: [], patient_data: true, data_date: null };

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

function finishBundle(bundle: JsonObject, withheld: ReadonlySet<JsonObject>, released: ReadonlySet<string>, links: LinkRewriter, releaseTotal: boolean): void {
  const entries = (bundle['entry'] as JsonObject[] | undefined) ?? [];
  const kept = entries.filter((e) => !withheld.has(e) && !isUnvouchedDeletion(bundle, e, released, links));
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

  // `total` must not reveal withheld matches. It passes when policy vouches that everything selected
  // is released and nothing was withheld; otherwise it is exact only for a single page, else dropped.
  if ('total' in bundle && !(releaseTotal && kept.length === entries.length)) {
    const hasMorePages = publicLinks.some((l) => l['relation'] === 'next' || l['relation'] === 'previous');
    if (hasMorePages) delete bundle['total'];
    else bundle['total'] = kept.filter((e) => ((e['search'] as JsonObject | undefined)?.['mode'] ?? 'match') === 'match').length;
  }
}

/**
 * A history entry for a deletion carries no resource to decide on, only its URL. It is released
 * only next to a released version of the same resource: otherwise it would reveal that someone
 * else's resource existed and when it was deleted.
 */
function isUnvouchedDeletion(bundle: JsonObject, entry: JsonObject, released: ReadonlySet<string>, links: LinkRewriter): boolean {
  if (entry['resource'] !== undefined || bundle['type'] === 'batch-response' || bundle['type'] === 'transaction-response') return false;
  const url = (entry['request'] as JsonObject | undefined)?.['url'] ?? entry['fullUrl'];
  const local = typeof url === 'string' ? parseLocalReference(url.split('?')[0] as string, links.bases) : null;
  return local === null || !released.has(`${local.type}/${local.id}`);
}

function isMatch(slot: Slot): boolean {
  if (slot.entry === null) return true;
  return ((slot.entry['search'] as JsonObject | undefined)?.['mode'] ?? 'match') === 'match';
}

export function rewriteEntryUrls(entry: JsonObject, links: LinkRewriter): void {
  const resource = entry['resource'] as JsonObject | undefined;
  if (typeof resource?.['id'] === 'string' && typeof entry['fullUrl'] === 'string' && !entry['fullUrl'].startsWith('urn:')) {
    // Built from the released resource, so a pseudonymised id is never paired with its real one.
    entry['fullUrl'] = `${links.publicBase}/${String(resource['resourceType'])}/${resource['id']}`;
  } else if (typeof entry['fullUrl'] === 'string') {
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
  const request = entry['request'] as JsonObject | undefined;
  if (request && typeof request['url'] === 'string' && /^https?:/.test(request['url'])) {
    const url = links.toPublic(request['url']);
    if (url === null) delete entry['request'];
    else request['url'] = url;
  }
}

export function isResource(value: unknown): value is FhirResourceJson {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as JsonObject)['resourceType'] === 'string';
}

export function referenceOf(resource: JsonObject): string {
  const id = resource['id'];
  return `${String(resource['resourceType'])}/${typeof id === 'string' ? id : '?'}`;
}
