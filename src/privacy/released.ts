/**
 * Whose data a record released, and what: the one reading of a record that disclosures, breach
 * scope and the detector share. Pure.
 *
 * Records that list the released patients (schema 3) are read as they say: `patients.released`
 * with types and counts, and the patients a write changed. Older records (schema 2) carry no such list: the patient is then the request's Patient compartment, the Patient read or written,
 * or the launch patient of a patient-scoped token, with the request's resource type and the
 * number of entries returned (1 for a read or a write).
 */
import type { ReadableRecord } from '../audit/record.js';
import type { Released } from '../cases/case.js';

/** A request record of this schema version or an older one. */
export type AnyRequestRecord = Extract<ReadableRecord, { kind: 'request' }>;

export interface PatientRelease {
  readonly patient: string;
  readonly released: readonly Released[];
}

export function releasedPatients(record: AnyRequestRecord): PatientRelease[] {
  if (record.outcome.decision !== 'allow' || record.request === null) return [];
  if ('patients' in record) {
    if (record.patients === null) return [];
    const released = record.patients.released.map((p) => ({ patient: p.id, released: Object.entries(p.types).map(([type, count]) => ({ type, count })) }));
    // A write names the patient it changed: what was disclosed is the change itself.
    const seen = new Set(released.map((p) => p.patient));
    const changed = record.patients.changed.filter((id) => !seen.has(id)).map((id) => ({ patient: id, released: [{ type: record.request?.type ?? 'Bundle', count: 1 }] }));
    return [...released, ...changed];
  }
  const request = record.request;
  const patient = patientOf(record);
  if (patient === null) return [];
  const count = request.method === 'GET' && request.interaction.startsWith('search') ? (record.entries?.returned ?? 0) : 1;
  if (count === 0) return [];
  return [{ patient, released: [{ type: request.type ?? 'Bundle', count }] }];
}

function patientOf(record: AnyRequestRecord): string | null {
  const request = record.request;
  if (request === null) return null;
  const compartment = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(request.compartment ?? '');
  if (compartment) return compartment[1] as string;
  if (request.type === 'Patient' && request.id !== null) return request.id;
  return record.principal?.patient ?? null;
}
