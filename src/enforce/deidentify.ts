/**
 * De-identification of one FHIR resource, in place, decided by each element's FHIR type (from the R4
 * StructureDefinitions, src/fhir/element-types.ts), never by its name. Two profiles:
 *
 *  - `safe-harbor`: HIPAA Safe Harbor, 45 CFR 164.514(b)(2). Every date, dateTime and Period/Timing
 *    value cut to its year, instants and times withheld (an instant in a choice that allows a
 *    dateTime becomes that dateTime's year), an Address reduced to state, country and the 3-digit
 *    ZIP (`000` for the restricted areas), ages of 90 or more aggregated as `>= 90 a`, a birth year
 *    that implies 90 or more withheld.
 *  - `limited-data-set`: HIPAA's limited data set, 164.514(e)(2). The 16 direct identifiers go, as
 *    under Safe Harbor; dates and times stay whole, an Address keeps city, state, 5-digit ZIP and
 *    country, ages stay.
 *
 * Both release only an allow-list (docs/policy-guide.md, "De-identification for research", element
 * by element; the per-key decisions are compiled once in deid-plan.ts); everything else is removed,
 * at any depth, inside extensions (by their value type) and contained resources too:
 *   kept            boolean, integer, positiveInt, unsignedInt, decimal, code; Coding.system and code
 *                   (display and version when the system is a known terminology); Quantity (and Age,
 *                   Count, Distance, Duration, SimpleQuantity, MoneyQuantity) value, comparator,
 *                   unit, system, code; Extension.url; Reference.type; Meta.profile and the security
 *                   labels and tags; Bundle link relations and response status lines; the dates
 *                   and addresses above
 *   pseudonymised   the resource's id, Reference.reference (`Type/id`, `#id`, `urn:uuid:`),
 *                   Bundle fullUrl, links and entry request/response URLs, Meta.source
 *   removed         every other string and markdown (free text: CodeableConcept.text, Dosage.text,
 *                   Reference.display ...), uri, url, canonical, oid, uuid, id, base64Binary, xhtml;
 *                   HumanName, ContactPoint, Identifier, Annotation, Narrative, Signature,
 *                   ContactDetail whole; an element of a type or name R4 does not define
 * A required element that had to go, or one an invariant tests for existence, is replaced by a
 * data-absent-reason `masked` extension, so the result stays valid FHIR.
 */
import { choiceKey, STRUCTURES, type ElementType } from '../fhir/element-types.js';
import { R4_RESOURCE_TYPES } from '../fhir/generated/r4.js';
import { AgeRule, PLANS, PRIMITIVE_TYPES, Step, type ElementStep, type MaskedElement, type Plan } from './deid-plan.js';
import { aggregateAge, birthYearImplies90, yearOf, zip3 } from './deid-rules.js';
import { pseudonym } from './pseudonym.js';

export type DeidProfile = 'safe-harbor' | 'limited-data-set';

export interface DeidContext {
  readonly now: Date;
  /** Key of the id pseudonyms. */
  readonly pseudonymKey: Uint8Array;
}

type Json = Record<string, unknown>;

interface State {
  readonly lds: boolean;
  readonly ctx: DeidContext;
  changed: number;
}

const DATA_ABSENT_URL = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';
const absent = (): Json => ({ extension: [{ url: DATA_ABSENT_URL, valueCode: 'masked' }] });

const RESOURCE_TYPES: ReadonlySet<string> = new Set(R4_RESOURCE_TYPES);
const ELEMENT_PLAN = PLANS.get('Element') as Plan;
/** Code systems whose displays name concepts, never people (Coding.display and version are kept for them). */
const TERMINOLOGIES: ReadonlySet<string> = new Set([
  'http://loinc.org',
  'http://snomed.info/sct',
  'http://www.nlm.nih.gov/research/umls/rxnorm',
  'http://hl7.org/fhir/sid/icd-10',
  'http://hl7.org/fhir/sid/icd-10-cm',
  'http://hl7.org/fhir/sid/icd-9-cm',
  'http://hl7.org/fhir/sid/cvx',
  'http://hl7.org/fhir/sid/ndc',
  'http://unitsofmeasure.org',
  'http://www.ama-assn.org/go/cpt',
  'urn:oid:2.16.840.1.113883.6.238',
]);
const TERMINOLOGY_PREFIX = 'http://terminology.hl7.org/CodeSystem/';

/** De-identifies a resource in place under a profile; returns how many elements changed. */
export function deidentify(resource: Json, profile: DeidProfile, ctx: DeidContext): number {
  const st: State = { lds: profile === 'limited-data-set', ctx, changed: 0 };
  if (!walkResource(resource, st, false)) {
    // Not an R4 resource: nothing of it is known to be safe.
    for (const key of Object.keys(resource)) if (key !== 'resourceType') delete resource[key];
    st.changed++;
  }
  return st.changed;
}

/** Walks a resource; false when it is not an R4 resource (the caller removes it). */
function walkResource(obj: Json, st: State, contained: boolean): boolean {
  const type = obj['resourceType'];
  const plan = typeof type === 'string' && RESOURCE_TYPES.has(type) ? PLANS.get(type) : undefined;
  if (plan === undefined) return false;
  const id = obj['id'];
  if (typeof id === 'string') {
    // A contained resource is named by `#id` within its container; both sides get the same pseudonym.
    obj['id'] = contained ? pseudonym(st.ctx.pseudonymKey, '#', id) : pseudonym(st.ctx.pseudonymKey, type as string, id);
    st.changed++;
  } else if ('id' in obj) {
    delete obj['id'];
    st.changed++;
  }
  walkObject(obj, plan, st, true);
  return true;
}

/** Walks a complex value by its plan; returns whether it is left empty. */
function walkObject(obj: Json, plan: Plan, st: State, isResource: boolean): boolean {
  // The elements that must be masked if they go, as a bit set: only those present to begin with
  // (no structure has more than 30 of them; the plan is checked when it is built).
  const masked = plan.masked;
  let before = 0;
  for (let i = 0; i < masked.length; i++) if (hasAny(obj, (masked[i] as MaskedElement).keys)) before |= 1 << i;
  const keys = Object.keys(obj);
  let shadows = false;
  for (const key of keys) if (key.charCodeAt(0) === 95 /* _ */) shadows = true;
  let kept = false;
  for (const key of keys) {
    if (key.charCodeAt(0) === 95) continue;
    if (isResource && (key === 'resourceType' || key === 'id')) {
      kept = true;
      continue;
    }
    const step = plan.steps.get(key);
    if (step === undefined) drop(obj, key, shadows, st);
    else if (step.step === Step.Keep && typeof obj[key] === 'string') kept = true; // codes, Coding.system: the common case first
    else if (step.primitive) kept = primitive(obj, key, step, shadows, st) || kept;
    else if (complex(obj, key, step, st)) kept = true;
    else drop(obj, key, shadows, st);
  }
  // Shadows (`_status`): a removed value took its own along; the others' extensions are walked.
  if (shadows) {
    for (const key of Object.keys(obj)) {
      if (key.charCodeAt(0) !== 95) continue;
      const step = plan.steps.get(key.slice(1));
      if (step === undefined || !step.primitive || !shadow(obj, key, st)) {
        delete obj[key];
        st.changed++;
      } else kept = true;
    }
  }
  if (before !== 0) {
    for (let i = 0; i < masked.length; i++) {
      const m = masked[i] as MaskedElement;
      if ((before & (1 << i)) === 0 || hasAny(obj, m.keys)) continue;
      markAbsent(obj, m.element, 0);
      kept = true;
    }
  }
  // An extension without a value or extensions is invalid (ext-1): the value it carried is gone.
  if (plan.isExtension) return !hasValueOrExtension(obj);
  return !kept;
}

function hasAny(obj: Json, keys: readonly string[]): boolean {
  for (let i = 0; i < keys.length; i++) if ((keys[i] as string) in obj) return true;
  return false;
}

function hasValueOrExtension(obj: Json): boolean {
  for (const key in obj) if (key !== 'url' && key !== 'id') return true;
  return false;
}

/** Removes an element, and its shadow with it when the object has shadows. */
function drop(obj: Json, key: string, shadows: boolean, st: State): void {
  delete obj[key];
  if (shadows) delete obj[`_${key}`];
  st.changed++;
}

/** A complex element (one value or an array of them); false when nothing of it is left. */
function complex(obj: Json, key: string, step: ElementStep, st: State): boolean {
  if (step.step === Step.Drop) return false;
  const value = obj[key];
  if (Array.isArray(value)) {
    let w = 0;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (complexItem(item, step, st)) value[w++] = item;
      else st.changed++;
    }
    value.length = w;
    return w > 0;
  }
  return complexItem(value, step, st);
}

/** One complex value, transformed in place; false when it is to be removed. */
function complexItem(item: unknown, step: ElementStep, st: State): boolean {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return false;
  const obj = item as Json;
  switch (step.step) {
    case Step.Resource:
      return walkResource(obj, st, false);
    case Step.Contained:
      return walkResource(obj, st, true);
    case Step.Address:
      return address(obj, st);
    case Step.Complex: {
      if (step.plan === null || walkObject(obj, step.plan, st, false)) return false;
      if (step.age !== AgeRule.None && !st.lds && (step.element.type === 'Age' || typeof obj['value'] === 'number') && aggregateAge(obj, step.age === AgeRule.WithComparator, step.element.type === 'Age')) st.changed++;
      return true;
    }
    default:
      return false;
  }
}

/** Address: state, country and ZIP3 (Safe Harbor); city, state, ZIP and country (limited data set). */
function address(a: Json, st: State): boolean {
  const city = a['city'];
  const state = a['state'];
  const postalCode = a['postalCode'];
  const country = a['country'];
  for (const key of Object.keys(a)) delete a[key];
  if (st.lds && typeof city === 'string') a['city'] = city;
  if (typeof state === 'string') a['state'] = state;
  if (typeof postalCode === 'string') {
    const released = st.lds ? postalCode : zip3(postalCode);
    if (released !== null) a['postalCode'] = released;
  }
  if (typeof country === 'string') a['country'] = country;
  st.changed++;
  for (const _ in a) return true;
  return false;
}

/** A primitive element (a value or an array of them); whether it is kept. */
function primitive(obj: Json, key: string, step: ElementStep, shadows: boolean, st: State): boolean {
  const value = obj[key];
  if (step.step === Step.InstantChoice && !st.lds) {
    // An instant cannot be cut to a year; the choice allows a dateTime, which can.
    const year = typeof value === 'string' ? yearOf(value) : null;
    const shadowValue = shadows ? obj[`_${key}`] : undefined;
    drop(obj, key, shadows, st);
    if (year === null) return false;
    obj[step.target as string] = year;
    if (shadowValue !== undefined) obj[`_${step.target as string}`] = shadowValue;
    return true;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null) continue; // its extensions are in the shadow array
      const next = primitiveValue(item, step, obj, st);
      if (next === undefined) {
        drop(obj, key, shadows, st);
        return false;
      }
      if (next !== item) {
        value[i] = next;
        st.changed++;
      }
    }
    return true;
  }
  const next = primitiveValue(value, step, obj, st);
  if (next === undefined) {
    drop(obj, key, shadows, st);
    // Said, not silently dropped: the person is 90 or older, or the date was not one.
    if (step.step === Step.BirthDate) {
      obj[`_${key}`] = absent();
      return true;
    }
    return false;
  }
  if (next !== value) {
    obj[key] = next;
    st.changed++;
  }
  return true;
}

/** The released form of one primitive value, or undefined when it is not released. */
function primitiveValue(value: unknown, step: ElementStep, owner: Json, st: State): unknown {
  switch (step.step) {
    case Step.Boolean:
      return typeof value === 'boolean' ? value : undefined;
    case Step.Number:
      return typeof value === 'number' ? value : undefined;
    case Step.Keep:
      return typeof value === 'string' ? value : undefined;
    case Step.Date:
    case Step.BirthDate: {
      if (typeof value !== 'string') return undefined;
      const year = yearOf(value);
      if (year === null) return undefined;
      if (st.lds) return value;
      // A birth year that says 90 or older is itself withheld (164.514(b)(2)(i)(C)).
      if (step.step === Step.BirthDate && birthYearImplies90(year, st.ctx.now)) return undefined;
      return year;
    }
    case Step.Instant:
    case Step.InstantChoice:
    case Step.Time:
      // Only the limited data set keeps them (Safe Harbor's instants in a choice are moved above).
      return st.lds && typeof value === 'string' ? value : undefined;
    case Step.CodingText:
      return typeof value === 'string' && isTerminology(owner['system']) ? value : undefined;
    case Step.Reference:
      return typeof value === 'string' ? (pseudonymousReference(value, st) ?? undefined) : undefined;
    case Step.MetaSource:
      return typeof value === 'string' ? `urn:uuid:${uuidShaped(pseudonym(st.ctx.pseudonymKey, 'meta.source', value))}` : undefined;
    case Step.BundleUrl:
      return typeof value === 'string' ? (pseudonymousUrl(value, st) ?? undefined) : undefined;
    default:
      return undefined;
  }
}

function isTerminology(system: unknown): boolean {
  return typeof system === 'string' && (TERMINOLOGIES.has(system) || system.startsWith(TERMINOLOGY_PREFIX));
}

/** A primitive's shadow (`_key`: id and extensions); false when nothing of it is left. */
function shadow(obj: Json, key: string, st: State): boolean {
  const value = obj[key];
  if (Array.isArray(value)) {
    let any = false;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null) continue;
      if (typeof item !== 'object' || Array.isArray(item) || walkObject(item as Json, ELEMENT_PLAN, st, false)) {
        value[i] = null;
        st.changed++;
      } else any = true;
    }
    return any;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return !walkObject(value as Json, ELEMENT_PLAN, st, false);
}

/** An element that had to go: a data-absent-reason `masked` extension in its place. */
function markAbsent(obj: Json, e: ElementType, depth: number): void {
  const type = e.choices === null ? e.type : (e.choices.find((t) => !PRIMITIVE_TYPES.has(t)) ?? e.type);
  const key = e.choices === null ? e.name : choiceKey(e.name, type);
  if (PRIMITIVE_TYPES.has(type)) {
    if (e.repeats) {
      obj[key] = [null];
      obj[`_${key}`] = [absent()];
    } else obj[`_${key}`] = absent();
  } else obj[key] = e.repeats ? [absentComplex(type, depth)] : absentComplex(type, depth);
}

/** A masked value of a complex type: the extension, and its own required elements masked too (Signature.who). */
function absentComplex(type: string, depth: number): Json {
  const value = absent();
  const structure = STRUCTURES.get(type);
  if (structure !== undefined && depth < 8) for (const e of structure.required) if (e.required) markAbsent(value, e, depth + 1);
  return value;
}

const REFERENCE = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** `Patient/123`, `http://host/fhir/Patient/123/_history/2` -> `Patient/<pseudonym>`; `#c1`, `urn:uuid:` likewise; others null. */
function pseudonymousReference(reference: string, st: State): string | null {
  if (reference.startsWith('#')) return reference.length === 1 ? reference : `#${pseudonym(st.ctx.pseudonymKey, '#', reference.slice(1))}`;
  if (reference.startsWith('urn:uuid:')) return `urn:uuid:${uuidShaped(pseudonym(st.ctx.pseudonymKey, 'urn:uuid', reference.slice(9)))}`;
  const m = REFERENCE.exec(reference);
  if (!m || !RESOURCE_TYPES.has(m[1] as string)) return null;
  return `${m[1]}/${pseudonym(st.ctx.pseudonymKey, m[1] as string, m[2] as string)}`;
}

/** A Bundle's URL of a resource: its base kept (a server, not a person), the id pseudonymised; others null. */
function pseudonymousUrl(url: string, st: State): string | null {
  if (url.startsWith('urn:uuid:')) return pseudonymousReference(url, st);
  if (RESOURCE_TYPES.has(url)) return url; // a type-level request (`POST Provenance`) names no one
  const m = REFERENCE.exec(url);
  if (!m || !RESOURCE_TYPES.has(m[1] as string) || url.includes('?')) return null;
  const base = url.slice(0, m.index + (url[m.index] === '/' ? 1 : 0));
  return `${base}${m[1]}/${pseudonym(st.ctx.pseudonymKey, m[1] as string, m[2] as string)}`;
}

/** 40 hex digits shown as a UUID (8-4-4-4-12 of the first 32), so `urn:uuid:` values stay well-formed. */
function uuidShaped(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
