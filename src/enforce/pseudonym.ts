/**
 * Keyed pseudonyms (HMAC-SHA256 of `Type/id`, 40 hex digits), remembered per key: the same
 * patient or encounter is referenced by many resources of one answer and of the next, and an HMAC
 * costs microseconds each (a 1,000-entry de-identified Bundle computes about 3,000). A pseudonym
 * is a pure function of the key and the reference, so remembering it changes no answer. Bounded:
 * the oldest are forgotten first.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

const REMEMBERED_PER_KEY = 100_000;

const byKey = new WeakMap<Uint8Array, { readonly key: KeyObject; readonly known: Map<string, string> }>();

export function pseudonym(keyBytes: Uint8Array, type: string, id: string): string {
  let entry = byKey.get(keyBytes);
  if (entry === undefined) {
    entry = { key: createSecretKey(keyBytes), known: new Map() };
    byKey.set(keyBytes, entry);
  }
  const ref = `${type}/${id}`;
  let value = entry.known.get(ref);
  if (value === undefined) {
    value = createHmac('sha256', entry.key).update(ref).digest('hex').slice(0, 40);
    if (entry.known.size >= REMEMBERED_PER_KEY) entry.known.delete(entry.known.keys().next().value as string);
    entry.known.set(ref, value);
  }
  return value;
}
