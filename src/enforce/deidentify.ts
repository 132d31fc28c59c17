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
 * Both release only an allow-list (docs/threat-model.md, "De-identification"); everything else is
 * removed, at any depth, inside extensions (by their value type) and contained resources too:
 *   kept            boolean, integer, positiveInt, unsignedInt, decimal, code; Coding.system and code
 *                   (display and version when the system is a known terminology); Quantity (and Age,
 *                   Count, Distance, Duration, SimpleQuantity, MoneyQuantity) value, comparator,
 *                   unit, system, code; Extension.url; Reference.type; Meta.profile and the security
 *                   labels and tags; the dates and addresses above
 *   pseudonymised   the resource's id, Reference.reference (`Type/id`, `#id`, `urn:uuid:`),
 *                   Bundle fullUrl, links and entry request/response URLs, Meta.source
 *   removed         every other string and markdown (free text: CodeableConcept.text, Dosage.text,
 *                   Reference.display ...), uri, url, canonical, oid, uuid, id, base64Binary, xhtml;
 *                   HumanName, ContactPoint, Identifier, Annotation, Narrative, Signature,
 *                   ContactDetail whole; an element of a type or name R4 does not define
 * A required element that had to go is replaced by a data-absent-reason `masked` extension, so the
 * result stays valid FHIR.
 */
import { R4_RESOURCE_TYPES } from '../fhir/generated/r4.js';
import { choiceKey, STRUCTURES, type ElementType, type Structure } from '../fhir/element-types.js';
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
/** The data-absent-reason values this walk put in: never walked again. */
const inserted = new WeakSet<object>();
const absent = (): Json => {
  const value = { extension: [{ url: DATA_ABSENT_URL, valueCode: 'masked' }] };
  inserted.add(value);
  return value;
};

const RESOURCE_TYPES: ReadonlySet<string> = new Set(R4_RESOURCE_TYPES);
const PRIMITIVES: ReadonlySet<string> = new Set(['boolean', 'integer', 'integer64', 'string', 'decimal', 'uri', 'url', 'canonical', 'base64Binary', 'instant', 'date', 'dateTime', 'time', 'code', 'oid', 'id', 'markdown', 'unsignedInt', 'positiveInt', 'uuid', 'xhtml']);
const NUMBERS: ReadonlySet<string> = new Set(['integer', 'integer64', 'decimal', 'unsignedInt', 'positiveInt']);
const QUANTITIES: ReadonlySet<string> = new Set(['Quantity', 'Age', 'Count', 'Distance', 'Duration', 'SimpleQuantity', 'MoneyQuantity']);
/** Data types that are identifying or free text as a whole: released by neither profile. */
const WITHHELD_TYPES: ReadonlySet<string> = new Set(['HumanName', 'ContactPoint', 'Identifier', 'Annotation', 'Narrative', 'Signature', 'ContactDetail']);
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
  const structure = typeof type === 'string' && RESOURCE_TYPES.has(type) ? STRUCTURES.get(type) : undefined;
  if (structure === undefined) return false;
  const id = obj['id'];
  if (typeof id === 'string') {
    // A contained resource is named by `#id` within its container; both sides get the same pseudonym.
    obj['id'] = contained ? pseudonym(st.ctx.pseudonymKey, '#', id) : pseudonym(st.ctx.pseudonymKey, type as string, id);
    st.changed++;
  } else if ('id' in obj) {
    delete obj['id'];
    st.changed++;
  }
  walkObject(obj, structure, st, true);
  return true;
}

/** Walks a complex value by its structure; returns whether it is left empty. */
function walkObject(obj: Json, structure: Structure, st: State, isResource: boolean): boolean {
  const requiredBefore = structure.required.length === 0 ? null : structure.required.filter((e) => isPresent(obj, e));
  let dropped: string[] | null = null;
  for (const key of Object.keys(obj)) {
    if (isResource && (key === 'resourceType' || key === 'id')) continue;
    if (key.charCodeAt(0) === 95 /* _ */) continue; // a primitive's id and extensions: below, with its value
    const element = structure.elements.get(key);
    if (element === undefined) {
      drop(obj, key, st);
      (dropped ??= []).push(key);
      continue;
    }
    const type = element.type;
    if (PRIMITIVES.has(type)) {
      if (!primitive(obj, key, element, structure, st)) (dropped ??= []).push(key);
    } else if (!complex(obj, key, element, st)) {
      drop(obj, key, st);
    }
  }
  // Shadows (`_birthDate`): they go with a removed value; otherwise their extensions are walked.
  for (const key of Object.keys(obj)) {
    if (key.charCodeAt(0) !== 95 || inserted.has(obj[key] as object)) continue;
    const name = key.slice(1);
    if ((dropped !== null && dropped.includes(name)) || structure.elements.get(name) === undefined) {
      delete obj[key];
      st.changed++;
      continue;
    }
    if (!shadow(obj, key, st)) {
      delete obj[key];
      st.changed++;
    }
  }
  if (requiredBefore !== null) for (const e of requiredBefore) if (!isPresent(obj, e)) markAbsent(obj, e);
  // An extension without a value or extensions is invalid (ext-1): the value it carried is gone.
  if (structure.name === 'Extension' && !hasValueOrExtension(obj)) return true;
  for (const _ in obj) return false;
  return true;
}

function hasValueOrExtension(obj: Json): boolean {
  for (const key in obj) if (key !== 'url' && key !== 'id') return true;
  return false;
}

function drop(obj: Json, key: string, st: State): void {
  delete obj[key];
  st.changed++;
}

/** A complex element (one value or an array of them); false when nothing of it is left. */
function complex(obj: Json, key: string, element: ElementType, st: State): boolean {
  const type = element.type;
  if (WITHHELD_TYPES.has(type)) return false;
  const value = obj[key];
  if (Array.isArray(value)) {
    let w = 0;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (complexItem(item, key, type, st)) value[w++] = item;
      else st.changed++;
    }
    value.length = w;
    return w > 0;
  }
  return complexItem(value, key, type, st);
}

/** One complex value, transformed in place; false when it is to be removed. */
function complexItem(item: unknown, key: string, type: string, st: State): boolean {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return false;
  const obj = item as Json;
  if (type === 'Resource') return walkResource(obj, st, key === 'contained');
  if (type === 'Address') return address(obj, st);
  const structure = STRUCTURES.get(type);
  if (structure === undefined) return false;
  if (walkObject(obj, structure, st, false)) return false;
  if (!st.lds && QUANTITIES.has(type) && (type === 'Age' || 'value' in obj) && aggregateAge(obj, type !== 'SimpleQuantity' && type !== 'MoneyQuantity')) st.changed++;
  return true;
}

/** Address: state, country and ZIP3 (Safe Harbor); city, state, ZIP and country (limited data set). */
function address(a: Json, st: State): boolean {
  const kept: Json = {};
  if (st.lds && typeof a['city'] === 'string') kept['city'] = a['city'];
  if (typeof a['state'] === 'string') kept['state'] = a['state'];
  if (typeof a['postalCode'] === 'string') {
    if (st.lds) kept['postalCode'] = a['postalCode'];
    else {
      const z = zip3(a['postalCode']);
      if (z !== null) kept['postalCode'] = z;
    }
  }
  if (typeof a['country'] === 'string') kept['country'] = a['country'];
  for (const key of Object.keys(a)) delete a[key];
  Object.assign(a, kept);
  st.changed++;
  return Object.keys(kept).length > 0;
}

/** A primitive element (a value or an array); false when it was removed. */
function primitive(obj: Json, key: string, element: ElementType, structure: Structure, st: State): boolean {
  const value = obj[key];
  const type = element.type;
  // An instant cannot be cut to a year; where the choice allows a dateTime, it becomes one.
  if (type === 'instant' && !st.lds) {
    if (element.choices !== null && element.choices.includes('dateTime') && typeof value === 'string') {
      const year = yearOf(value);
      delete obj[key];
      const shadowKey = `_${key}`;
      const shadowValue = obj[shadowKey];
      delete obj[shadowKey];
      if (year === null) return false;
      const target = choiceKey(element.name, 'dateTime');
      obj[target] = year;
      if (shadowValue !== undefined) obj[`_${target}`] = shadowValue;
      st.changed++;
      return true;
    }
    drop(obj, key, st);
    return false;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null) continue; // its extensions are in the shadow array
      const next = primitiveValue(item, type, key, obj, structure, st);
      if (next === undefined) {
        drop(obj, key, st);
        return false;
      }
      if (next !== item) {
        value[i] = next;
        st.changed++;
      }
    }
    return true;
  }
  const next = primitiveValue(value, type, key, obj, structure, st);
  if (next === undefined) {
    drop(obj, key, st);
    // Said, not silently dropped: the person is 90 or older, or the date was not one.
    if (key === 'birthDate') obj['_birthDate'] = absent();
    return false;
  }
  if (next !== value) {
    obj[key] = next;
    st.changed++;
  }
  return true;
}

/** The released form of one primitive value, or undefined when it is not released. */
function primitiveValue(value: unknown, type: string, key: string, owner: Json, structure: Structure, st: State): unknown {
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined;
    case 'code':
      return typeof value === 'string' ? value : undefined;
    case 'date':
    case 'dateTime': {
      if (typeof value !== 'string') return undefined;
      const year = yearOf(value);
      if (year === null) return undefined;
      if (st.lds) return value;
      // A birth year that says 90 or older is itself withheld (164.514(b)(2)(i)(C)).
      if (key === 'birthDate' && birthYearImplies90(year, st.ctx.now)) return undefined;
      return year;
    }
    case 'instant':
    case 'time':
      // Only the limited data set keeps them (Safe Harbor's instants are handled by the caller).
      return st.lds && typeof value === 'string' ? value : undefined;
    case 'string':
      return typeof value === 'string' ? releasedString(value, key, owner, structure, st) : undefined;
    case 'uri':
    case 'url':
    case 'canonical':
    case 'oid':
    case 'uuid':
      return typeof value === 'string' ? releasedUri(value, key, structure, st) : undefined;
    default:
      if (NUMBERS.has(type)) return typeof value === 'number' ? value : undefined;
      // id, markdown, base64Binary, xhtml, and anything R4 does not name.
      return undefined;
  }
}

function releasedString(value: string, key: string, owner: Json, structure: Structure, st: State): string | undefined {
  const s = structure.name;
  if (key === 'reference' && s === 'Reference') return pseudonymousReference(value, st) ?? undefined;
  if (key === 'unit' && QUANTITIES.has(s)) return value;
  if ((key === 'display' || key === 'version') && s === 'Coding' && isTerminology(owner['system'])) return value;
  return undefined;
}

function releasedUri(value: string, key: string, structure: Structure, st: State): string | undefined {
  switch (`${structure.name}.${key}`) {
    case 'Coding.system':
    case 'Extension.url':
    case 'Reference.type':
    case 'Meta.profile':
      return value;
    case 'Meta.source':
      return `urn:uuid:${uuidShaped(pseudonym(st.ctx.pseudonymKey, 'meta.source', value))}`;
    case 'Bundle.entry.fullUrl':
    case 'Bundle.link.url':
    case 'Bundle.entry.link.url':
    case 'Bundle.entry.request.url':
    case 'Bundle.entry.response.location':
      return pseudonymousUrl(value, st) ?? undefined;
    default:
      return key === 'system' && QUANTITIES.has(structure.name) ? value : undefined;
  }
}

function isTerminology(system: unknown): boolean {
  return typeof system === 'string' && (TERMINOLOGIES.has(system) || system.startsWith(TERMINOLOGY_PREFIX));
}

/** A primitive's shadow (`_key`: id and extensions); false when nothing of it is left. */
function shadow(obj: Json, key: string, st: State): boolean {
  const value = obj[key];
  const element = STRUCTURES.get('Element') as Structure;
  if (Array.isArray(value)) {
    let any = false;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null) continue;
      if (typeof item !== 'object' || Array.isArray(item) || walkObject(item as Json, element, st, false)) {
        value[i] = null;
        st.changed++;
      } else any = true;
    }
    return any;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return !walkObject(value as Json, element, st, false);
}

function isPresent(obj: Json, e: ElementType): boolean {
  if (e.choices === null) return e.name in obj || `_${e.name}` in obj;
  for (const t of e.choices) {
    const k = choiceKey(e.name, t);
    if (k in obj || `_${k}` in obj) return true;
  }
  return false;
}

/** A required element that had to go: a data-absent-reason `masked` extension in its place. */
function markAbsent(obj: Json, e: ElementType): void {
  markAbsentAt(obj, e, 0);
}

/** A masked value of a complex type: the extension, and its own required elements masked too (Signature.who). */
function absentComplex(type: string, depth: number): Json {
  const value = absent();
  const structure = STRUCTURES.get(type);
  if (structure !== undefined && depth < 8) for (const e of structure.required) if (e.required) markAbsentAt(value, e, depth + 1);
  return value;
}

function markAbsentAt(obj: Json, e: ElementType, depth: number): void {
  const type = e.choices === null ? e.type : (e.choices.find((t) => !PRIMITIVES.has(t)) ?? e.type);
  const key = e.choices === null ? e.name : choiceKey(e.name, type);
  if (PRIMITIVES.has(type)) {
    if (e.repeats) {
      obj[key] = [null];
      obj[`_${key}`] = [absent()];
    } else obj[`_${key}`] = absent();
  } else obj[key] = e.repeats ? [absentComplex(type, depth)] : absentComplex(type, depth);
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
  const m = REFERENCE.exec(url);
  if (!m || !RESOURCE_TYPES.has(m[1] as string) || url.includes('?')) return null;
  const base = url.slice(0, m.index + (url[m.index] === '/' ? 1 : 0));
  return `${base}${m[1]}/${pseudonym(st.ctx.pseudonymKey, m[1] as string, m[2] as string)}`;
}

/** 40 hex digits shown as a UUID (8-4-4-4-12 of the first 32), so `urn:uuid:` values stay well-formed. */
function uuidShaped(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
