/**
 * The detector's view of a record: one access per patient whose data a staff member was given.
 * Records of patients (or their proxies) reading their own data, of backend services without a
 * user, of refused requests and checkpoints are not accesses the detector judges.
 */
import type { ReadableRecord } from '../audit/record.js';
import type { Released } from '../cases/case.js';
import { releasedPatients } from '../privacy/released.js';

export interface Access {
  /** The record's delivery id. */
  readonly record: string;
  readonly time: string;
  readonly iss: string;
  readonly sub: string;
  /** `iss|sub`: one user across tokens and clients. */
  readonly user: string;
  /** The staff identity in the FHIR data, e.g. Practitioner/9. */
  readonly fhirUser: string;
  readonly clientId: string | null;
  readonly roles: readonly string[];
  readonly patient: string;
  readonly released: readonly Released[];
  readonly breakGlass: boolean;
  readonly breakGlassReason: string | null;
}

const STAFF_TYPES = new Set(['Practitioner', 'PractitionerRole']);

export function accessesOf(record: ReadableRecord): Access[] {
  if (record.kind !== 'request') return [];
  const principal = record.principal;
  if (record.outcome.decision !== 'allow' || principal === null || principal.sub === null || principal.fhir_user === null) return [];
  if (!STAFF_TYPES.has(principal.fhir_user.split('/')[0] ?? '')) return [];
  return releasedPatients(record).map((p) => ({
    record: record.deliveryId,
    time: record.time,
    iss: principal.iss,
    sub: principal.sub as string,
    user: `${principal.iss}|${principal.sub}`,
    fhirUser: principal.fhir_user as string,
    clientId: principal.client_id,
    roles: principal.roles,
    patient: p.patient,
    released: p.released,
    breakGlass: record.outcome.breakGlass,
    breakGlassReason: record.outcome.breakGlassReason ?? null,
  }));
}
