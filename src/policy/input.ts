/** Builds the documented policy input (src/policy/contract.ts) from the pipeline's own types. */
import { isPatientCompartmentType, patientIdsOf } from '../fhir/compartment.js';
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

/** Facts about a resource computed in TypeScript (WASM has no FHIR knowledge): whose data it is. */
export function resourceFacts(resource: FhirResourceJson, bases: readonly string[]): Facts {
  const patients = patientIdsOf(resource, bases);
  return { patients, patient_data: patients.length > 0 || isPatientCompartmentType(resource.resourceType) };
}
