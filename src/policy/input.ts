/** Builds the documented policy input (src/policy/contract.ts) from the pipeline's own types. */
import { compartmentPatientIds, isPatientCompartmentType, patientIdsIn } from '../fhir/compartment.js';
import { scanReferences } from '../fhir/references.js';
import type { FhirRequest } from '../fhir/request.js';
import type { Facts, FhirResourceJson, PolicyEnv, PolicyRequest } from './contract.js';

export function policyRequest(request: FhirRequest): PolicyRequest {
  return {
    method: request.method,
    interaction: request.interaction,
    type: request.type,
    id: request.id,
    version: request.version,
    compartment: request.compartment,
    operation: request.operation,
    params: request.params,
    search_via_post: request.searchViaPost,
    if_none_exist: request.ifNoneExist,
  };
}

export function policyEnv(now: Date, revision: string): PolicyEnv {
  return { now: now.toISOString(), now_seconds: Math.floor(now.getTime() / 1000), policy_revision: revision };
}

/** Facts about a resource computed in TypeScript (WASM has no FHIR knowledge): whose data it is, and when. */
export function resourceFacts(resource: FhirResourceJson, bases: readonly string[]): Facts {
  // One walk finds whom the resource references and whether it names a patient without a
  // reference; outside the compartment, whose data it is comes from the same walk.
  const scan = scanReferences(resource, bases);
  const referenced = patientIdsIn(scan.references);
  const patients = compartmentPatientIds(resource, bases) ?? referenced;
  return {
    patients,
    patient_data: patients.length > 0 || isPatientCompartmentType(resource.resourceType),
    data_date: clinicalDate(resource),
    referenced_patients: referenced,
    logical_patient_references: scan.logicalPatientReference,
  };
}

/** Elements that date the data itself, in order of preference (the first present wins). */
const DATE_ELEMENTS = [
  'effectiveDateTime', 'effectiveInstant', 'effectivePeriod', 'occurrenceDateTime', 'occurrencePeriod', 'performedDateTime', 'performedPeriod',
  'onsetDateTime', 'onsetPeriod', 'authoredOn', 'recordedDate', 'issued', 'period', 'created', 'date', 'recorded', 'birthDate',
] as const;

function clinicalDate(resource: FhirResourceJson): string | null {
  for (const key of DATE_ELEMENTS) {
    const value = resource[key];
    if (typeof value === 'string') return value;
    const start = (value as { start?: unknown } | undefined)?.start;
    if (typeof start === 'string') return start;
  }
  return null;
}
