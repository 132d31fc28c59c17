/** Builds the documented policy input (src/policy/contract.ts) from the pipeline's own types. */
import { compartmentPatientIds, isPatientCompartmentType, patientsReferencedAnywhere } from '../fhir/compartment.js';
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
  // Outside the compartment, whose data it is and whom it references are the same walk: done once.
  const referenced = patientsReferencedAnywhere(resource, bases);
  const patients = compartmentPatientIds(resource, bases) ?? referenced;
  return {
    patients,
    patient_data: patients.length > 0 || isPatientCompartmentType(resource.resourceType),
    data_date: clinicalDate(resource),
    referenced_patients: referenced,
    logical_patient_references: hasLogicalPatientReference(resource),
  };
}

/**
 * A Reference that may name a patient without a `reference`: by identifier or display only, typed
 * Patient or untyped. (A Coding has a display too, with a code or system beside it.)
 */
function hasLogicalPatientReference(node: unknown): boolean {
  if (typeof node !== 'object' || node === null) return false;
  if (Array.isArray(node)) {
    for (const item of node as unknown[]) if (hasLogicalPatientReference(item)) return true;
    return false;
  }
  const obj = node as Record<string, unknown>;
  const identifier = obj['identifier'];
  const logical =
    obj['reference'] === undefined &&
    obj['code'] === undefined &&
    obj['system'] === undefined &&
    obj['resourceType'] === undefined &&
    ((typeof identifier === 'object' && identifier !== null && !Array.isArray(identifier)) || typeof obj['display'] === 'string') &&
    (obj['type'] === undefined || obj['type'] === 'Patient');
  if (logical) return true;
  // for...in rather than Object.values: no array per element of every resource decided.
  for (const key in obj) if (Object.hasOwn(obj, key) && hasLogicalPatientReference(obj[key])) return true;
  return false;
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
