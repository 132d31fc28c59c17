/**
 * The redaction engine: applies a decision's `redact` obligations to a resource, in place, keeps it
 * valid FHIR, and labels it `REDACTED` (v3-ObservationValue) so the recipient knows it is not the
 * whole record. `SUBSETTED` is deliberately not used: that tag means `_summary`/`_elements`.
 *
 * A target is an element path (`Patient.address.line`, `*.text`; arrays are traversed, a choice
 * element is named without its type, `Observation.value`) or a FHIRPath expression evaluated with
 * HL7's `fhirpath` (`Patient.identifier.where(system='http://hl7.org/fhir/sid/us-ssn')`). Element
 * paths take a fast walker; expressions are compiled once and cached.
 */
import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { MANDATORY_ELEMENTS } from '../fhir/generated/r4.js';
import type { Redaction } from '../policy/contract.js';
import { deidentify, type DeidContext } from './deidentify.js';

export const REDACTED_LABEL = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'redacted' } as const;
const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';

type JsonObject = Record<string, unknown>;

/** One place a target selected: `parent[key]`, or `parent[key][index]` inside an array. */
interface Location {
  readonly parent: JsonObject;
  readonly key: string;
  readonly index: number | null;
}

const ELEMENT_PATH = /^(\*|[A-Z][A-Za-z]+)((\.[a-z][A-Za-z0-9]*)*)$/;

/** What de-identification needs beyond the rules: the time (ages) and the pseudonym key. */
export type RedactionContext = DeidContext;

/** Without a configured key, pseudonyms are stable for the life of the process only. */
const PROCESS_KEY = new Uint8Array(randomBytes(32));

/**
 * True when a rule targets resources of this type, whatever a given resource holds. The REDACTED
 * label and the "partial view" of a write follow this, not whether a rule found something to
 * remove: a label that appears only when a reason code was there would tell the recipient that it
 * was (noninterference: the answer may not depend on withheld elements, their absence included).
 */
export function redactionApplies(type: string, redactions: readonly Redaction[]): boolean {
  return redactions.some((rule) => ruleTargets(rule, type));
}

/**
 * Whether a rule acts on resources of `type`: an element path names its type or `*`; a FHIRPath
 * expression that starts with a type name applies to that type only, any other to every type.
 */
export function ruleTargets(rule: Redaction, type: string): boolean {
  const head = ELEMENT_PATH.exec(rule.path)?.[1] ?? /^([A-Z][A-Za-z]+)\./.exec(rule.path)?.[1] ?? '*';
  return head === '*' || head === type;
}

/**
 * Applies the redactions that match the resource's type and labels it REDACTED when any does;
 * returns how many elements changed.
 */
export function redactResource(resource: JsonObject, redactions: readonly Redaction[], ctx: RedactionContext = { now: new Date(), pseudonymKey: PROCESS_KEY }): number {
  const mandatory = (MANDATORY_ELEMENTS[resource['resourceType'] as string] ?? []).filter((key) => key in resource || `_${key}` in resource);
  const shapes = new Map(mandatory.map((key) => [key, Array.isArray(resource[key])]));
  let changed = 0;
  for (const rule of redactions) changed += applyRule(resource, rule, ctx);
  if (changed > 0) {
    pruneEmpty(resource);
    // A mandatory element emptied by the rules (AuditEvent.source once its display went) is masked, not lost.
    for (const [key, wasArray] of shapes) {
      if (key in resource || `_${key}` in resource) continue;
      resource[key] = wasArray ? [structuredClone(DATA_ABSENT_VALUE)] : structuredClone(DATA_ABSENT_VALUE);
    }
  }
  if (changed > 0 || redactionApplies(resource['resourceType'] as string, redactions)) addRedactedLabel(resource);
  return changed;
}

const DATA_ABSENT_VALUE = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] };

function applyRule(resource: JsonObject, rule: Redaction, ctx: RedactionContext): number {
  if (!ruleTargets(rule, resource['resourceType'] as string)) return 0;
  const element = ELEMENT_PATH.exec(rule.path);
  if (element) {
    const path = (element[2] ?? '').split('.').filter((s) => s !== '');
    // The whole resource is a target for free text and de-identification only (`*` or `Patient`).
    if (path.length === 0) {
      if (rule.action === 'free-text') return stripFreeText(resource);
      if (rule.action === 'safe-harbor' || rule.action === 'limited-data-set') return deidentify(resource, rule.action, ctx);
      return 0;
    }
    return locate(resource, path).reduce((n, loc) => n + applyAction(loc, rule.action, resource), 0);
  }
  return locations(compiled(rule.path)(resource))
    .reverse() // later array items first, so removing one does not shift the next
    .reduce((n, loc) => n + applyAction(loc, rule.action, resource), 0);
}

// ---------- selecting ----------

function locate(node: JsonObject, path: readonly string[]): Location[] {
  const [head, ...rest] = path as [string, ...string[]];
  const keys = head in node || `_${head}` in node ? [head] : choiceKeys(node, head);
  const out: Location[] = [];
  for (const key of keys) {
    const value = node[key];
    if (rest.length === 0) {
      if (Array.isArray(value)) for (let i = value.length - 1; i >= 0; i--) out.push({ parent: node, key, index: i });
      else out.push({ parent: node, key, index: null });
      continue;
    }
    for (const child of Array.isArray(value) ? value : [value]) {
      if (typeof child === 'object' && child !== null && !Array.isArray(child)) out.push(...locate(child as JsonObject, rest));
    }
  }
  return out;
}

/** `value` selects `valueQuantity`, `valueString`, ... (FHIRPath names choice elements without their type). */
function choiceKeys(node: JsonObject, stem: string): string[] {
  return Object.keys(node).filter((k) => k.length > stem.length && k.startsWith(stem) && /^[A-Z]/.test(k.slice(stem.length)));
}

interface ResourceNode {
  readonly parentResNode?: { readonly data?: unknown } | null;
  readonly propName?: string;
  readonly index?: number | null;
}

const cache = new Map<string, (resource: unknown) => unknown[]>();
const CACHE_LIMIT = 1000;

function compiled(expression: string): (resource: unknown) => unknown[] {
  let fn = cache.get(expression);
  if (!fn) {
    try {
      const compiledFn = fhirpath.compile(expression, r4model, { resolveInternalTypes: false });
      fn = (resource: unknown) => compiledFn(resource as JsonObject) as unknown[];
    } catch (err) {
      // A redaction the gateway cannot carry out must not release the unredacted resource.
      throw new GatewayError('policy_error', { reasons: ['redact.bad-expression'], cause: err });
    }
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(expression, fn);
  }
  return fn;
}

function locations(nodes: readonly unknown[]): Location[] {
  const out: Location[] = [];
  for (const node of nodes) {
    const n = node as ResourceNode;
    const parent = n.parentResNode?.data;
    if (typeof parent !== 'object' || parent === null || typeof n.propName !== 'string') continue;
    const holder = (parent as JsonObject)[n.propName];
    out.push({ parent: parent as JsonObject, key: n.propName, index: Array.isArray(holder) && typeof n.index === 'number' ? n.index : null });
  }
  return out;
}

// ---------- acting ----------

function applyAction(loc: Location, action: Redaction['action'], resource: JsonObject): number {
  const value = valueAt(loc);
  if (value === undefined) return 0;
  const topLevelMandatory = loc.parent === resource && (MANDATORY_ELEMENTS[resource['resourceType'] as string] ?? []).includes(loc.key);
  switch (action) {
    case 'remove':
      // Removing a mandatory element would make the resource invalid: it is masked instead.
      return topLevelMandatory ? mask(loc, value) : remove(loc);
    case 'mask':
      return mask(loc, value);
    case 'year':
      return replace(loc, value, (v) => (typeof v === 'string' && /^\d{4}/.test(v) ? v.slice(0, 4) : v), ['start', 'end']);
    case 'zip3':
      return replace(loc, value, (v) => (typeof v === 'string' && /^\d{3}/.test(v) ? v.slice(0, 3) : v), []);
    case 'free-text':
      return stripFreeText(value);
    case 'safe-harbor':
    case 'limited-data-set':
      // De-identification applies to whole resources only (path `*` or the type).
      return 0;
  }
}

function valueAt(loc: Location): unknown {
  const holder = loc.parent[loc.key];
  return loc.index === null ? holder : Array.isArray(holder) ? holder[loc.index] : undefined;
}

function remove(loc: Location): number {
  if (loc.index === null) {
    // `_key` carries a primitive's id and extensions; it goes with the value.
    delete loc.parent[loc.key];
    delete loc.parent[`_${loc.key}`];
    return 1;
  }
  (loc.parent[loc.key] as unknown[]).splice(loc.index, 1);
  const shadow = loc.parent[`_${loc.key}`];
  if (Array.isArray(shadow)) shadow.splice(loc.index, 1);
  return 1;
}

/** Replaces the value with a data-absent-reason `masked` extension, the way FHIR JSON writes it. */
function mask(loc: Location, value: unknown): number {
  const absent = { extension: [{ url: DATA_ABSENT_REASON, valueCode: 'masked' }] };
  if (typeof value === 'object' && value !== null) {
    if (loc.index === null) loc.parent[loc.key] = absent;
    else (loc.parent[loc.key] as unknown[])[loc.index] = absent;
    return 1;
  }
  // A primitive: the value goes, its `_key` sibling carries the extension.
  if (loc.index === null) {
    delete loc.parent[loc.key];
    loc.parent[`_${loc.key}`] = absent;
    return 1;
  }
  const values = loc.parent[loc.key] as unknown[];
  values[loc.index] = null;
  const shadowKey = `_${loc.key}`;
  const shadow = Array.isArray(loc.parent[shadowKey]) ? (loc.parent[shadowKey] as unknown[]) : values.map(() => null);
  shadow[loc.index] = absent;
  loc.parent[shadowKey] = shadow;
  return 1;
}

/** Generalises a primitive (or the named parts of a complex value, e.g. a Period's start and end). */
function replace(loc: Location, value: unknown, fn: (v: unknown) => unknown, parts: readonly string[]): number {
  const set = (v: unknown): void => {
    if (loc.index === null) loc.parent[loc.key] = v;
    else (loc.parent[loc.key] as unknown[])[loc.index] = v;
  };
  if (typeof value !== 'object' || value === null) {
    const next = fn(value);
    if (next === value) return 0;
    set(next);
    return 1;
  }
  let changed = 0;
  for (const part of parts) {
    const v = (value as JsonObject)[part];
    const next = fn(v);
    if (next !== v) {
      (value as JsonObject)[part] = next;
      changed = 1;
    }
  }
  return changed;
}

/**
 * Free text at any depth: narratives, annotations (`note`), comments and string or markdown values.
 * Codes, identifiers and structured values stay.
 */
const FREE_TEXT_KEYS = new Set(['note', 'comment', 'valueString', 'valueMarkdown']);

function stripFreeText(node: unknown): number {
  if (Array.isArray(node)) return node.reduce((n: number, item) => n + stripFreeText(item), 0);
  if (typeof node !== 'object' || node === null) return 0;
  const obj = node as JsonObject;
  let changed = 0;
  const narrative = obj['text'];
  if (typeof narrative === 'object' && narrative !== null && 'div' in narrative) {
    delete obj['text'];
    changed++;
  }
  for (const key of Object.keys(obj)) {
    const bare = key.startsWith('_') ? key.slice(1) : key;
    if (FREE_TEXT_KEYS.has(bare)) {
      delete obj[key];
      changed++;
    } else {
      changed += stripFreeText(obj[key]);
    }
  }
  return changed;
}

// ---------- keeping it valid ----------

/** FHIR JSON has no empty arrays or objects, and no arrays holding only nulls. */
function pruneEmpty(node: unknown): boolean {
  if (Array.isArray(node)) {
    for (let i = node.length - 1; i >= 0; i--) if (typeof node[i] === 'object' && node[i] !== null && pruneEmpty(node[i])) node.splice(i, 1);
    return node.length === 0 || node.every((v) => v === null);
  }
  if (typeof node !== 'object' || node === null) return false;
  const obj = node as JsonObject;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    // `given: [null]` stays when `_given` holds the masked item's extension: the arrays pair up.
    if (typeof v === 'object' && v !== null && pruneEmpty(v) && !(Array.isArray(v) && v.length > 0 && `_${key}` in obj)) delete obj[key];
  }
  return Object.keys(obj).length === 0;
}

function addRedactedLabel(resource: JsonObject): void {
  const meta = (resource['meta'] ??= {}) as JsonObject;
  const security = (meta['security'] ??= []) as Array<{ system?: string; code?: string }>;
  if (!security.some((c) => c.system === REDACTED_LABEL.system && c.code === REDACTED_LABEL.code)) security.push({ ...REDACTED_LABEL });
}
