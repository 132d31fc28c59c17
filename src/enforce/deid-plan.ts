/**
 * The de-identification plan: for every structure of the R4 element tables (src/fhir/element-types.ts)
 * and every JSON key in it, what the walk does with the value, decided once from the element's type
 * when the module loads. The walk (deidentify.ts) then does one map lookup and one switch per key;
 * nothing about types or names is worked out per resource.
 */
import { choiceKey, STRUCTURES, type ElementType } from '../fhir/element-types.js';

/** What happens to an element's value (both profiles; where they differ, the walk asks its profile). */
export const Step = {
  /** boolean */
  Boolean: 0,
  /** integer, positiveInt, unsignedInt, decimal, integer64 */
  Number: 1,
  /** code, and the structural strings and uris of the allow-list (Coding.system, Quantity.unit ...) */
  Keep: 2,
  /** date and dateTime: the year (Safe Harbor), whole (limited data set) */
  Date: 3,
  /** A birthDate: as Date, and withheld when it implies 90 or over (Safe Harbor) */
  BirthDate: 4,
  /** instant: withheld (Safe Harbor), whole (limited data set) */
  Instant: 5,
  /** instant in a choice that allows a dateTime: the year as that dateTime (Safe Harbor) */
  InstantChoice: 6,
  /** time: withheld (Safe Harbor), whole (limited data set) */
  Time: 7,
  /** Coding.display and version: kept when the Coding's system is a known terminology */
  CodingText: 8,
  /** Reference.reference: pseudonymised */
  Reference: 9,
  /** Meta.source: pseudonymised as a urn:uuid */
  MetaSource: 10,
  /** Bundle URLs of resources (fullUrl, links, request url, response location): pseudonymised */
  BundleUrl: 11,
  /** A resource (Bundle.entry.resource, Parameters.parameter.resource) */
  Resource: 12,
  /** A contained resource */
  Contained: 13,
  /** Address: generalised by profile */
  Address: 14,
  /** A complex value walked by its own plan */
  Complex: 15,
  /** Removed: free text, identifiers, urls, binary data, and types neither profile releases */
  Drop: 16,
} as const;
export type Step = (typeof Step)[keyof typeof Step];


/** How a Quantity is treated after its elements are walked: aggregated as an age when 90 or over. */
export const AgeRule = {
  None: 0,
  WithComparator: 1,
  WithoutComparator: 2,
} as const;
export type AgeRule = (typeof AgeRule)[keyof typeof AgeRule];


export interface ElementStep {
  readonly step: Step;
  readonly element: ElementType;
  /** Step.Complex: the plan of the value's type. */
  readonly plan: Plan | null;
  /** Step.InstantChoice: the key the value moves to (`effectiveInstant` -> `effectiveDateTime`). */
  readonly target: string | null;
  readonly age: AgeRule;
  /** The value is an array of primitives (or one) rather than of objects. */
  readonly primitive: boolean;
}

/** An element that, once removed, is masked: required, or tested by an invariant for its existence. */
export interface MaskedElement {
  readonly element: ElementType;
  /** Every JSON key that holds it (choice keys, and their `_` shadows). */
  readonly keys: readonly string[];
}

export interface Plan {
  readonly name: string;
  readonly steps: ReadonlyMap<string, ElementStep>;
  readonly masked: readonly MaskedElement[];
  readonly isExtension: boolean;
}

export const PRIMITIVE_TYPES: ReadonlySet<string> = new Set(['boolean', 'integer', 'integer64', 'string', 'decimal', 'uri', 'url', 'canonical', 'base64Binary', 'instant', 'date', 'dateTime', 'time', 'code', 'oid', 'id', 'markdown', 'unsignedInt', 'positiveInt', 'uuid', 'xhtml']);
const NUMBERS: ReadonlySet<string> = new Set(['integer', 'integer64', 'decimal', 'unsignedInt', 'positiveInt']);
export const QUANTITY_TYPES: ReadonlySet<string> = new Set(['Quantity', 'Age', 'Count', 'Distance', 'Duration', 'SimpleQuantity', 'MoneyQuantity']);
/** Data types that are identifying or free text as a whole: released by neither profile. */
const WITHHELD_TYPES: ReadonlySet<string> = new Set(['HumanName', 'ContactPoint', 'Identifier', 'Annotation', 'Narrative', 'Signature', 'ContactDetail']);

/** Strings and uris released as they are: they name definitions, code systems and units, never people. */
const KEPT = new Set(['Coding.system', 'Extension.url', 'Reference.type', 'Meta.profile']);
/** Strings that are protocol, not content: IANA link relations, HTTP status lines (Bundle.entry.link is a Bundle.link). */
const KEPT_STRINGS = new Set(['Bundle.link.relation', 'Bundle.entry.response.status']);
const BUNDLE_URLS = new Set(['Bundle.entry.fullUrl', 'Bundle.link.url', 'Bundle.entry.request.url', 'Bundle.entry.response.location']);

function stepOf(owner: string, key: string, element: ElementType): Step {
  const type = element.type;
  const path = `${owner}.${key}`;
  switch (type) {
    case 'boolean':
      return Step.Boolean;
    case 'code':
      return Step.Keep;
    case 'date':
    case 'dateTime':
      return key === 'birthDate' ? Step.BirthDate : Step.Date;
    case 'instant':
      return element.choices?.includes('dateTime') === true ? Step.InstantChoice : Step.Instant;
    case 'time':
      return Step.Time;
    case 'string':
      if (owner === 'Reference' && key === 'reference') return Step.Reference;
      if ((QUANTITY_TYPES.has(owner) && key === 'unit') || KEPT_STRINGS.has(path)) return Step.Keep;
      if (owner === 'Coding' && (key === 'display' || key === 'version')) return Step.CodingText;
      return Step.Drop;
    case 'uri':
    case 'url':
    case 'canonical':
    case 'oid':
    case 'uuid':
      if (KEPT.has(path) || (QUANTITY_TYPES.has(owner) && key === 'system')) return Step.Keep;
      if (path === 'Meta.source') return Step.MetaSource;
      if (BUNDLE_URLS.has(path)) return Step.BundleUrl;
      return Step.Drop;
    case 'Resource':
      return key === 'contained' ? Step.Contained : Step.Resource;
    case 'Address':
      return Step.Address;
    default:
      if (NUMBERS.has(type)) return Step.Number;
      // id (other than the resource's own), markdown, base64Binary, xhtml; the withheld data types;
      // and a type the tables do not know.
      if (PRIMITIVE_TYPES.has(type) || WITHHELD_TYPES.has(type) || !STRUCTURES.has(type)) return Step.Drop;
      return Step.Complex;
  }
}

function compile(): ReadonlyMap<string, Plan> {
  const plans = new Map<string, { name: string; steps: Map<string, ElementStep>; masked: MaskedElement[]; isExtension: boolean }>();
  for (const name of STRUCTURES.keys()) plans.set(name, { name, steps: new Map(), masked: [], isExtension: name === 'Extension' });
  for (const [name, structure] of STRUCTURES) {
    const plan = plans.get(name)!;
    for (const [key, element] of structure.elements) {
      const step = stepOf(name, key, element);
      const age = !QUANTITY_TYPES.has(element.type) ? AgeRule.None : element.type === 'SimpleQuantity' || element.type === 'MoneyQuantity' ? AgeRule.WithoutComparator : AgeRule.WithComparator;
      plan.steps.set(key, {
        step,
        element,
        plan: step === Step.Complex ? (plans.get(element.type) ?? null) : null,
        target: step === Step.InstantChoice ? choiceKey(element.name, 'dateTime') : null,
        age,
        primitive: PRIMITIVE_TYPES.has(element.type),
      });
    }
    // The walk keeps the masked elements present in an object as bits of one number.
    if (structure.required.length > 30) throw new Error(`${name}: more than 30 masked elements`);
    for (const element of structure.required) {
      const keys = element.choices === null ? [element.name] : element.choices.map((t) => choiceKey(element.name, t));
      plan.masked.push({ element, keys: keys.flatMap((k) => [k, `_${k}`]) });
    }
  }
  return plans;
}

/** Plans by structure name: resource types, data types, backbone elements (`Patient.contact`). */
export const PLANS: ReadonlyMap<string, Plan> = compile();
