/**
 * References are compared only after normalising them to `Type/id`: relative, absolute against a
 * known base (the upstream's or the public one) and versioned forms all reduce to it, and anything
 * else (another server's URL, `urn:uuid`, a contained `#ref`) matches nothing. Never substring
 * matching: `Patient/12` must not match `Patient/123`.
 */
import { R4_RESOURCE_TYPES } from './generated/r4.js';

const TYPES = new Set(R4_RESOURCE_TYPES);
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

export interface LocalReference {
  readonly type: string;
  readonly id: string;
}

/**
 * @param bases absolute FHIR base URLs (no trailing slash) under which a reference counts as local.
 */
export function parseLocalReference(reference: string, bases: readonly string[]): LocalReference | null {
  let rel = reference;
  if (/^[a-z][a-z0-9+.-]*:/i.test(reference)) {
    const base = bases.find((b) => reference.startsWith(`${b}/`));
    if (base === undefined) return null;
    rel = reference.slice(base.length + 1);
  }
  const m = RELATIVE.exec(rel);
  if (!m || !TYPES.has(m[1] as string)) return null;
  return { type: m[1] as string, id: m[2] as string };
}

/** Every local reference in a resource, wherever it is (`reference` elements at any depth). */
export function localReferencesIn(resource: unknown, bases: readonly string[]): LocalReference[] {
  const out: LocalReference[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    for (const [key, child] of Object.entries(value)) {
      if (key === 'reference' && typeof child === 'string') {
        const local = parseLocalReference(child, bases);
        if (local !== null) out.push(local);
      } else {
        walk(child);
      }
    }
  };
  walk(resource);
  return out;
}
