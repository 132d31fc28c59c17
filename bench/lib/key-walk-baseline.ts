/**
 * BASELINE FOR bench/deidentify.ts ONLY: the key-name walk the gateway used before de-identification
 * was decided by FHIR type (src/enforce/deidentify.ts), kept verbatim so the benchmark measures the
 * old and the new walk side by side in one run. Known to leak (issue 16); never used by the gateway.
 *
 * HIPAA Safe Harbor de-identification (45 CFR 164.514(b)(2)) of one FHIR resource, in place, at any
 * depth (contained resources included). Policy decides *when* (the `safe-harbor` redaction action);
 * this module knows *how*, for every resource type:
 *
 *   (A) names                          HumanName values removed; Reference.display removed
 *   (B) geography below the state      Address: only state, country and the 3-digit ZIP kept, `000`
 *                                       for the 3-digit areas of 20,000 people or fewer
 *   (C) dates except the year; ages    every date, dateTime and instant cut to its year; a birth date
 *       over 89                        that puts the person at 90 or over masked entirely
 *   (D-F) phone, fax, email            ContactPoint (`telecom`) removed
 *   (G-L, R) SSN, MRN, plan, account,  every `identifier` and `*Identifier` element removed; device
 *       licence, vehicle, device ids,  udiCarrier, serial and lot numbers removed
 *       other unique numbers
 *   (M-N) URLs, IP addresses           Attachment urls and AuditEvent network addresses removed
 *   (O-Q) biometrics, full-face photos Attachment data and urls removed (photos, documents, media)
 *   free text                          narratives, notes, comments, string and markdown values
 *
 * Resource ids and the ids in local references are replaced by keyed pseudonyms (HMAC-SHA256), so
 * records of one person still link to each other within a de-identified answer, but not to the
 * source without the key.
 */
import { pseudonym as keyedPseudonym } from '../../src/enforce/pseudonym.js';

type Json = Record<string, unknown>;

/** Three-digit ZIP areas of 20,000 people or fewer (HHS guidance, 2000 Census): released as `000`. */
export const RESTRICTED_ZIP3 = new Set(['036', '059', '063', '102', '203', '556', '692', '790', '821', '823', '830', '831', '878', '879', '884', '890', '893']);

/** A FHIR date, dateTime or instant: the year, then whatever follows it. */
const DATE = /^(\d{4})(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const DATA_ABSENT = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }] };
const REMOVED_KEYS = new Set(['identifier', 'telecom', 'photo', 'contact', 'udiCarrier', 'serialNumber', 'lotNumber', 'distinctIdentifier', 'network', 'note', 'comment', 'valueString', 'valueMarkdown']);

export interface SafeHarborContext {
  readonly now: Date;
  /** Key of the id pseudonyms. */
  readonly pseudonymKey: Uint8Array;
}

/** De-identifies a resource; returns how many elements changed. */
export function keyWalkSafeHarbor(resource: Json, ctx: SafeHarborContext): number {
  return walk(resource, ctx, true);
}

function walk(node: unknown, ctx: SafeHarborContext, isResource: boolean): number {
  if (Array.isArray(node)) return node.reduce((n: number, item) => n + walk(item, ctx, false), 0);
  if (typeof node !== 'object' || node === null) return 0;
  const obj = node as Json;
  let changed = 0;
  const type = typeof obj['resourceType'] === 'string' ? (obj['resourceType'] as string) : null;
  // Only the resource's own id: contained resources keep theirs, or their `#id` references would break.
  if (isResource && type !== null && typeof obj['id'] === 'string') {
    obj['id'] = pseudonym(ctx, type, obj['id']);
    changed++;
  }
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    const bare = key.startsWith('_') ? key.slice(1) : key;
    if (REMOVED_KEYS.has(bare) || bare.endsWith('Identifier')) {
      delete obj[key];
      changed++;
    } else if (bare === 'text' && typeof value === 'object' && value !== null && 'div' in value) {
      delete obj[key]; // a narrative
      changed++;
    } else if (bare === 'name' && isHumanName(value)) {
      delete obj[key];
      changed++;
    } else if (key === 'address' || key === 'birthPlace') {
      changed += generaliseAddresses(obj, key);
    } else if (key === 'birthDate' && typeof value === 'string') {
      changed += birthDate(obj, value, ctx.now);
    } else if (key === 'reference' && typeof value === 'string') {
      const pseudo = pseudonymousReference(ctx, value);
      if (pseudo !== value) {
        obj[key] = pseudo;
        changed++;
      }
    } else if (key === 'display' && !('code' in obj)) {
      // A Reference's display names a person or place; a Coding's display (it has a code) names a concept.
      delete obj[key];
      // A Reference that was only a name is masked, so a mandatory one (AuditEvent.source.observer) stays valid.
      if (Object.keys(obj).length === 0) Object.assign(obj, structuredClone(DATA_ABSENT));
      changed++;
    } else if ((key === 'url' || key === 'data' || key === 'title') && ('contentType' in obj || 'size' in obj || 'hash' in obj)) {
      delete obj[key]; // an Attachment's content, location and caption: photos, images, documents
      changed++;
    } else if (key === 'meta' && typeof value === 'object' && value !== null) {
      changed += meta(value as Json);
    } else if (typeof value === 'string' && !key.startsWith('_')) {
      const m = DATE.exec(value);
      if (m && m[2] !== undefined) {
        if (INSTANT_KEYS.has(key) || (key === 'date' && type === 'DocumentReference')) {
          // An instant must carry a full time: its year alone would be invalid, so it is masked.
          delete obj[key];
          obj[`_${key}`] = structuredClone(DATA_ABSENT);
        } else {
          obj[key] = m[1];
        }
        changed++;
      }
    } else {
      changed += walk(value, ctx, false);
    }
  }
  return changed;
}

/** R4 elements of type instant (their values cannot be cut to a year). */
const INSTANT_KEYS = new Set(['issued', 'recorded', 'lastUpdated', 'when', 'timestamp', 'valueInstant']);

function isHumanName(value: unknown): boolean {
  const names = Array.isArray(value) ? value : [value];
  return names.length > 0 && names.every((n) => typeof n === 'object' && n !== null && ['family', 'given', 'text', 'prefix', 'suffix', 'use'].some((k) => k in (n as Json)));
}

function generaliseAddresses(obj: Json, key: string): number {
  const list = Array.isArray(obj[key]) ? (obj[key] as unknown[]) : [obj[key]];
  const kept = list.flatMap((a) => {
    if (typeof a !== 'object' || a === null) return [];
    const address = a as Json;
    const out: Json = {};
    if (typeof address['state'] === 'string') out['state'] = address['state'];
    if (typeof address['country'] === 'string') out['country'] = address['country'];
    if (typeof address['postalCode'] === 'string' && /^\d{3}/.test(address['postalCode'])) {
      const zip3 = address['postalCode'].slice(0, 3);
      out['postalCode'] = RESTRICTED_ZIP3.has(zip3) ? '000' : zip3;
    }
    return Object.keys(out).length > 0 ? [out] : [];
  });
  if (kept.length === 0) delete obj[key];
  else obj[key] = Array.isArray(obj[key]) ? kept : kept[0];
  return 1;
}

/** The birth year, unless it says the person is 90 or older: then nothing of it (Safe Harbor (C)). */
function birthDate(obj: Json, value: string, now: Date): number {
  const year = Number(value.slice(0, 4));
  if (Number.isFinite(year) && now.getUTCFullYear() - year >= 90) {
    delete obj['birthDate'];
    obj['_birthDate'] = structuredClone(DATA_ABSENT);
    return 1;
  }
  if (value.length > 4) {
    obj['birthDate'] = value.slice(0, 4);
    return 1;
  }
  return 0;
}

function meta(m: Json): number {
  let changed = 0;
  for (const key of ['source', 'versionId']) {
    if (key in m) {
      delete m[key];
      changed++;
    }
  }
  if (typeof m['lastUpdated'] === 'string') {
    // lastUpdated is an instant: the year would not be a valid instant, so it goes.
    delete m['lastUpdated'];
    changed++;
  }
  return changed;
}

function pseudonym(ctx: SafeHarborContext, type: string, id: string): string {
  return keyedPseudonym(ctx.pseudonymKey, type, id);
}

/** `Patient/123`, `http://host/fhir/Patient/123/_history/2` -> `Patient/<pseudonym>`; others unchanged. */
function pseudonymousReference(ctx: SafeHarborContext, reference: string): string {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(reference);
  if (!m || reference.startsWith('#') || reference.startsWith('urn:')) return reference;
  return `${m[1]}/${pseudonym(ctx, m[1] as string, m[2] as string)}`;
}
