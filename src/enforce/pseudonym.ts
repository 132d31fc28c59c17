/**
 * Keyed pseudonyms (HMAC-SHA256 of `Type/id`, 40 hex digits), remembered per key: the same
 * patient or encounter is referenced by many resources of one answer and of the next, and an HMAC
 * costs microseconds each (a 1,000-entry de-identified Bundle computes about 3,000). A pseudonym
 * is a pure function of the key and the reference, so remembering it changes no answer. Bounded.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { BoundedCache } from '../bounded-cache.js';

const REMEMBERED_PER_KEY = 50_000;

const byKey = new WeakMap<Uint8Array, { readonly key: KeyObject; readonly known: BoundedCache<string, string> }>();

export function pseudonym(keyBytes: Uint8Array, type: string, id: string): string {
  let entry = byKey.get(keyBytes);
  if (entry === undefined) {
    entry = { key: createSecretKey(keyBytes), known: new BoundedCache(REMEMBERED_PER_KEY) };
    byKey.set(keyBytes, entry);
  }
  const ref = `${type}/${id}`;
  let value = entry.known.get(ref);
  if (value === undefined) {
    // The first 20 bytes in hex: the first 40 digits of the hex digest.
    value = createHmac('sha256', entry.key).update(ref).digest().toString('hex', 0, 20);
    entry.known.set(ref, value);
  }
  return value;
}
