/**
 * Search criteria may only test what the principal could read. A criterion is a question about the
 * data, and its answer (which resources match, in which order) reaches the client even when the
 * element it tests does not: a researcher who gets names removed must not find a person by
 * `family=...&birthdate=<exact day>`, billing, which gets `Encounter.reasonCode` removed, must not
 * learn the diagnosis from `reason-code=<guess>`.
 *
 * The request decision names the redactions that will apply to the searched type (its `redact`
 * obligation, the same rules the resource decisions apply); each search parameter reads the element
 * paths its R4 SearchParameter expression names (src/fhir/generated/r4-search-paths.ts). A
 * criterion, or a `_sort` key, on an element that a rule removes, masks or generalises is refused
 * with 400 and a reason that names the parameter; dates generalised to the year may be searched at
 * year precision only. Under de-identification (safe-harbor, limited-data-set) the criteria that
 * remain are those on elements the profile keeps: codes, quantities, booleans, and dates (at year
 * precision for Safe Harbor); never `_id`, references, chains or `_has`, which name real resources.
 */
import { GatewayError } from '../errors.js';
import { isResultParam } from '../fhir/classify.js';
import { SEARCH_PARAM_PATHS } from '../fhir/generated/r4-search-paths.js';
import type { SearchParam } from '../fhir/request.js';
import type { Redaction } from '../policy/contract.js';
import { ruleTargets } from './redact.js';

/** One element a parameter reads: its dotted path below the resource and each segment's types. */
interface ElementRead {
  readonly path: string;
  readonly segments: ReadonlyArray<readonly string[]>;
}

type Profile = 'safe-harbor' | 'limited-data-set';

/** Types an allow-listed criterion may pass through under de-identification. */
const STRUCTURAL = new Set(['BackboneElement', 'Element', 'CodeableConcept', 'Coding', 'code', 'boolean', 'Quantity', 'SimpleQuantity', 'Duration', 'Range', 'Ratio', 'SampledData', 'integer', 'positiveInt', 'unsignedInt', 'decimal']);
const DATES = new Set(['date', 'dateTime', 'Period']);
/** Limited data set keeps dates whole, and the town, state and ZIP of an address (45 CFR 164.514(e)(2)). */
const LDS_DATES = new Set(['date', 'dateTime', 'Period', 'instant', 'Timing']);
const LDS_ADDRESS_PARTS = new Set(['city', 'state', 'postalCode', 'country']);
const YEAR_ONLY = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?\d{4}$/;
/** Elements the `free-text` action removes (src/enforce/redact.ts). */
const FREE_TEXT_SEGMENTS = new Set(['note', 'comment']);

export function checkCriteria(type: string | null, params: readonly SearchParam[], redactions: readonly Redaction[], now: Date = new Date()): void {
  if (redactions.length === 0) return;
  const rules = redactions.filter((r) => appliesTo(r, type));
  if (rules.length === 0) return;
  const profile = profileOf(rules);
  for (const p of params) {
    if (p.name === '_sort') {
      for (const key of p.values) checkOne(type, key.replace(/^-/, ''), null, null, rules, profile, true, now);
      continue;
    }
    if (isResultParam(p.name)) continue;
    checkOne(type, p.name, p.modifier, p.values, rules, profile, false, now);
  }
}

function checkOne(type: string | null, name: string, modifier: string | null, values: readonly string[] | null, rules: readonly Redaction[], profile: Profile | null, sorting: boolean, now: Date): void {
  const refuse = (reason: string): never => {
    throw new GatewayError('invalid_search_parameter', { reasons: [reason], parameter: name });
  };
  // Chains and reverse chains name other resources: under de-identification they re-identify.
  if (name.startsWith('_has:') || name.includes('.')) {
    if (profile !== null) refuse('search.criterion-deidentified');
    return;
  }
    // A narrative can say anything the resource says, redacted parts included.
  if (name === '_list' || name === '_content' || name === '_text') refuse('search.criterion-redacted');
  const reads = readsOf(type, name);
  if (profile !== null) {
    if (name === '_id' || modifier === 'identifier' || modifier === 'text') refuse('search.criterion-deidentified');
    for (const read of reads) {
      const verdict = keptBy(profile, read);
      if (verdict === 'no') refuse('search.criterion-deidentified');
      if (verdict === 'year' && (sorting || !(values ?? []).every((v) => YEAR_ONLY.test(v)))) refuse('search.criterion-year-only');
      // Birth years that imply 90 or more are withheld as one group: a criterion may select all of it or none.
      if (profile === 'safe-harbor' && read.path === 'birthDate' && (values ?? []).some((v) => splitsNinetyPlus(v, now))) refuse('search.criterion-deidentified');
    }
  }
  for (const rule of rules) {
    if (isWholeResource(rule)) {
      if (rule.action === 'free-text' && reads.some(isFreeText)) refuse('search.criterion-redacted');
      continue;
    }
    const target = elementPathOf(rule);
    // A FHIRPath rule the gateway cannot place: nothing on this type can be searched safely.
    if (target === null) return refuse('search.criterion-redacted');
    for (const read of reads) {
      if (!overlaps(read.path, target)) continue;
      if (rule.action === 'year' && !sorting && (values ?? []).every((v) => YEAR_ONLY.test(v))) continue;
      if (rule.action === 'zip3' && !sorting && (values ?? []).every((v) => v.length <= 3)) continue;
      if (rule.action === 'free-text' && !isFreeText(read)) continue;
      refuse(rule.action === 'year' ? 'search.criterion-year-only' : 'search.criterion-redacted');
    }
  }
}

/**
 * Under Safe Harbor a birth year that implies 90 or more is withheld (deid-rules.ts), so those people
 * form one group whose years the researcher does not see. A year criterion (`[prefix]YYYY`) that
 * matches some of the group's years and not others would tell them apart: it is safe only when it
 * matches every year up to the cut or none of them.
 */
function splitsNinetyPlus(value: string, now: Date): boolean {
  const m = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4})$/.exec(value);
  if (!m) return true;
  const cut = now.getUTCFullYear() - 90;
  const year = Number(m[2]);
  switch (m[1] ?? 'eq') {
    case 'gt':
    case 'sa':
    case 'le':
      return year < cut;
    case 'ap':
      // Approximate matches spread over years the server chooses: never next to the group.
      return year <= cut + 10;
    default:
      // eq, ne, ge, lt, eb
      return year <= cut;
  }
}

/** The elements a parameter of `type` reads; an unknown one reads the whole resource (never looser). */
function readsOf(type: string | null, name: string): ElementRead[] {
  const table = (type !== null ? SEARCH_PARAM_PATHS[type]?.[name] : undefined) ?? SEARCH_PARAM_PATHS['Resource']?.[name] ?? SEARCH_PARAM_PATHS['DomainResource']?.[name];
  if (table === undefined) return [{ path: '*', segments: [] }];
  return table.map(([path, ...segments]) => ({ path: path as string, segments: segments.map((s) => s.split('|')) }));
}

function keptBy(profile: Profile, read: ElementRead): 'yes' | 'year' | 'no' {
  if (read.path === '*' || read.segments.length === 0) return 'no';
  const names = read.path.split('.');
  if (profile === 'limited-data-set' && read.segments[0]?.includes('Address')) {
    return read.segments.length === 2 && LDS_ADDRESS_PARTS.has(names[1] as string) ? 'yes' : 'no';
  }
  let verdict: 'yes' | 'year' = 'yes';
  for (const types of read.segments) {
    // A choice element's instant or Timing is released as a year too (the de-identified form of a
    // choice may change its type: effectiveInstant becomes effectiveDateTime "2026"); an element
    // that can only be an instant is masked whole.
    const dates = profile === 'limited-data-set' || types.length > 1 ? LDS_DATES : DATES;
    for (const t of types) {
      if (STRUCTURAL.has(t)) continue;
      if (dates.has(t)) {
        if (profile === 'safe-harbor') verdict = 'year';
        continue;
      }
      return 'no';
    }
  }
  return verdict;
}

function isFreeText(read: ElementRead): boolean {
  if (read.path === '*') return true;
  const names = read.path.split('.');
  return names.some((n, i) => FREE_TEXT_SEGMENTS.has(n) || (n === 'text' && read.segments[i]?.includes('Narrative')) || (n === 'value' && read.segments[i]?.some((t) => t === 'string' || t === 'markdown')));
}

function profileOf(rules: readonly Redaction[]): Profile | null {
  if (rules.some((r) => r.action === 'safe-harbor')) return 'safe-harbor';
  if (rules.some((r) => r.action === 'limited-data-set')) return 'limited-data-set';
  return null;
}

/** A rule of the type searched (the redaction engine's own test); a search of no type meets them all. */
function appliesTo(rule: Redaction, type: string | null): boolean {
  return type === null || ruleTargets(rule, type);
}

function isWholeResource(rule: Redaction): boolean {
  return /^(\*|[A-Z][A-Za-z]+)$/.test(rule.path);
}

/** `Encounter.reasonCode` -> `reasonCode`; `Patient.identifier.where(...)` -> `identifier`; other FHIRPath -> null. */
function elementPathOf(rule: Redaction): string | null {
  const m = /^(?:\*|[A-Z][A-Za-z]+)((?:\.[a-z][A-Za-z0-9]*(?![A-Za-z0-9(]))+)/.exec(rule.path);
  return m ? (m[1] as string).slice(1) : null;
}

function overlaps(read: string, target: string): boolean {
  return read === '*' || read === target || read.startsWith(`${target}.`) || target.startsWith(`${read}.`);
}
