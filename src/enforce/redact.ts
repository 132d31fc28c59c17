/**
 * The redaction engine: applies a decision's `redact` obligations to a resource, in place, and labels
 * the result `REDACTED` (v3-ObservationValue) so the recipient knows it is not the whole record.
 * `SUBSETTED` is deliberately not used: that tag means `_summary`/`_elements`, not a security removal.
 */
import type { Redaction } from '../policy/contract.js';

export const REDACTED_LABEL = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'redacted' } as const;

type JsonObject = Record<string, unknown>;

/** Applies the redactions that match the resource's type; returns how many elements changed. */
export function redactResource(resource: JsonObject, redactions: readonly Redaction[]): number {
  const type = resource['resourceType'];
  let changed = 0;
  for (const rule of redactions) {
    const [head, ...path] = rule.path.split('.');
    if (head !== '*' && head !== type) continue;
    changed += applyAt(resource, path, rule.action);
  }
  if (changed > 0) addRedactedLabel(resource);
  return changed;
}

function applyAt(node: unknown, path: readonly string[], action: Redaction['action']): number {
  if (Array.isArray(node)) return node.reduce((n: number, item) => n + applyAt(item, path, action), 0);
  if (typeof node !== 'object' || node === null) return 0;
  const obj = node as JsonObject;
  const [key, ...rest] = path as [string, ...string[]];
  if (rest.length > 0) return applyAt(obj[key], rest, action);
  if (!(key in obj) && !(`_${key}` in obj)) return 0;
  switch (action) {
    case 'remove':
      // `_key` carries a primitive's id and extensions; it goes with the value.
      delete obj[key];
      delete obj[`_${key}`];
      return 1;
    case 'year':
      return generaliseToYear(obj, key);
  }
}

function generaliseToYear(obj: JsonObject, key: string): number {
  const value = obj[key];
  const toYear = (v: unknown): unknown => (typeof v === 'string' && /^\d{4}/.test(v) ? v.slice(0, 4) : v);
  if (Array.isArray(value)) obj[key] = value.map(toYear);
  else if (typeof value === 'string') obj[key] = toYear(value);
  else return 0;
  return 1;
}

function addRedactedLabel(resource: JsonObject): void {
  const meta = (resource['meta'] ??= {}) as JsonObject;
  const security = (meta['security'] ??= []) as Array<{ system?: string; code?: string }>;
  if (!security.some((c) => c.system === REDACTED_LABEL.system && c.code === REDACTED_LABEL.code)) security.push({ ...REDACTED_LABEL });
}
