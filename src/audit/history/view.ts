/**
 * One entry of an access history: a stored record as its reader may see it, as a BALP AuditEvent.
 *
 * The privacy office sees the record's full AuditEvent view. A patient sees their own share of it
 * only: the record is first projected onto that patient, so nothing in the entry depends on other
 * patients' data (noninterference: the answer for one patient is a function of that patient's
 * records alone). The projection keeps who accessed, when, how (interaction, resource type, the
 * client) and what of *this* patient's data was released, withheld or changed; it drops what other
 * patients' data shaped: other patients' ids, the withheld/redacted refs and counts, the decision's
 * reasons, break-the-glass and protection-change marks (both may come from another patient's
 * resources in the same answer), search values, and the token's launch patient unless it is this one.
 * Staff appear by name, or (the default obligation) only by role and organisation.
 */
import { auditEventIdOf, toAuditEvent, type AuditEvent } from '../formats/audit-event.js';
import type { RequestRecord } from '../record.js';

export interface HistoryView {
  /** The patient whose history this is; null: the privacy office's view of every record. */
  readonly patient: string | null;
  readonly staff: 'names' | 'role-organisation';
  readonly organisation: string;
  readonly publicBaseUrl: string;
}

export function historyEntry(record: RequestRecord, view: HistoryView): AuditEvent {
  const context = { publicBaseUrl: view.publicBaseUrl };
  if (view.patient === null) return withStaff(toAuditEvent(record, context), record, view);
  const projected = projectOnto(record, view.patient);
  const event = toAuditEvent(projected, context, `Patient/${view.patient}`);
  return withStaff({ ...event, id: auditEventIdOf(record.deliveryId) }, projected, view);
}

/** The record as far as it concerns `patient`. */
export function projectOnto(record: RequestRecord, patient: string): RequestRecord {
  const p = record.patients;
  const released = p?.released.find((r) => r.id === patient);
  const changed = p?.changed.includes(patient) === true;
  const withheld = p?.withheld.includes(patient) === true;
  const request = record.request && {
    ...record.request,
    // Another patient's id is not this patient's to see (a read of a linked Patient, a compartment search).
    id: record.request.type === 'Patient' && record.request.id !== patient ? null : record.request.id,
    version: record.request.type === 'Patient' && record.request.id !== patient ? null : record.request.version,
    compartment: record.request.compartment === `Patient/${patient}` ? record.request.compartment : null,
    params: record.request.params.map((q) => ({ ...q, value: null, mask: 'removed' as const })),
  };
  const principal = record.principal && { ...record.principal, patient: record.principal.patient === patient ? patient : null, scopes: [] };
  return {
    ...record,
    request,
    principal,
    outcome: {
      // For this patient: their data was released or changed (allow), or only withheld (deny).
      decision: released || changed ? 'allow' : withheld ? 'deny' : record.outcome.decision,
      reasons: [],
      error: null,
      status: record.outcome.status,
      breakGlass: false,
      breakGlassReason: null,
    },
    entries: null,
    patients: {
      released: released ? [released] : [],
      releasedCount: released ? 1 : 0,
      withheld: withheld ? [patient] : [],
      withheldCount: withheld ? 1 : 0,
      changed: changed ? [patient] : [],
      changedCount: changed ? 1 : 0,
    },
  };
}

/**
 * The user agent as the view shows staff: by name (fhirUser, else issuer and subject), or by role
 * and organisation only. Another patient (or their representative) acting as the user is never
 * named in a patient's history, whatever the obligation says.
 */
function withStaff(event: AuditEvent, record: RequestRecord, view: HistoryView): AuditEvent {
  const principal = record.principal;
  if (!principal) return event;
  // The patient themself: their fhirUser, or (a token without one) the patient role in their own context.
  const ownAccess =
    view.patient !== null && (principal.fhir_user === `Patient/${view.patient}` || (principal.fhir_user === null && principal.patient === view.patient && principal.roles.includes('patient')));
  const anotherPerson = view.patient !== null && !ownAccess && (/^(Patient|RelatedPerson)\//.test(principal.fhir_user ?? '') || principal.roles.includes('patient'));
  const hide = view.patient !== null && !ownAccess && (view.staff === 'role-organisation' || anotherPerson);
  if (!hide) return event;
  return {
    ...event,
    agent: event.agent.map((a) => {
      if (a.requestor !== true) return a;
      const { policy: _jti, who: _who, ...rest } = a;
      return { ...rest, who: { display: anotherPerson ? 'a patient or their representative' : view.organisation } };
    }),
  };
}
