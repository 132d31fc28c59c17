/**
 * Request-side narrowing: a policy that restricts a principal to one patient's compartment has its
 * searches, and the criteria of its conditional writes, rewritten before they are forwarded, so the
 * upstream never even selects other patients' resources (HAPI's SearchNarrowingInterceptor and
 * google/fhir-gateway do the same for searches). Responses are still checked resource by resource
 * afterwards; narrowing is the first of two walls, not the only one. Writes have no second wall, so
 * a conditional write that cannot be narrowed is refused.
 */
import { GatewayError } from '../errors.js';
import { compartmentSearchParam, isPatientCompartmentType } from '../fhir/compartment.js';
import { SINGLE_VALUED_COMPARTMENT_PARAM } from '../fhir/generated/r4.js';
import type { FhirRequest, SearchParam } from '../fhir/request.js';
import { makeParam } from '../fhir/search-params.js';
import { checkPatientCriteria } from './patient-criteria.js';

export function narrowToPatient(request: FhirRequest, patientId: string): FhirRequest {
  switch (request.interaction) {
    case 'search-type': {
      const type = request.type as string;
      // A type outside the compartment is not narrowed (the same request object comes back, which the
      // caller reads as "not narrowed"): each returned resource is still decided.
      if (!isPatientCompartmentType(type)) {
        checkPatientCriteria(type, request.params, patientId, null);
        return request;
      }
      checkPatientCriteria(type, request.params, patientId, pinnedParam(type));
      return { ...request, params: withCompartment(type, request.params, patientId) };
    }
    case 'search-compartment':
      if (request.compartment?.type !== 'Patient' || request.compartment.id !== patientId) {
        throw new GatewayError('forbidden', { reasons: ['compartment.other-patient'] });
      }
      // A compartment search matches every compartment parameter (an Observation whose performer is
      // the patient, about someone else), so no parameter is pinned to the patient.
      checkPatientCriteria(request.type, request.params, patientId, null);
      return request;
    case 'update':
    case 'patch':
    case 'delete': {
      if (request.id !== null) return request; // judged on the stored and resulting resource
      const type = requireCompartmentType(request);
      checkPatientCriteria(type, request.params, patientId, pinnedParam(type));
      return { ...request, params: withCompartment(type, request.params, patientId) };
    }
    case 'create': {
      if (request.ifNoneExist === null) return request;
      const type = requireCompartmentType(request);
      checkPatientCriteria(type, request.ifNoneExist, patientId, pinnedParam(type));
      return { ...request, ifNoneExist: withCompartment(type, request.ifNoneExist, patientId) };
    }
    case 'search-system':
    case 'history-type':
    case 'history-system':
      throw new GatewayError('forbidden', { reasons: ['narrow.unsupported-interaction'] });
    default:
      // Reads, page continuations and operations are checked on the resources that come back.
      return request;
  }
}

/**
 * The parameter narrowing pins to the patient, when it pins every criterion on it too: `subject` of
 * an Observation names one patient, but `Group?member=Patient/a&member.name=X` matches a Group in
 * which *some other* member is called X.
 */
function pinnedParam(type: string): string | null {
  if (type === 'Patient') return '_id';
  return SINGLE_VALUED_COMPARTMENT_PARAM.includes(type) ? compartmentSearchParam(type) : null;
}

function requireCompartmentType(request: FhirRequest): string {
  const type = request.type as string;
  if (!isPatientCompartmentType(type)) throw new GatewayError('forbidden', { reasons: ['narrow.unsupported-type'] });
  return type;
}

/** ANDs the compartment parameter with the given criteria: the selection can only shrink. */
function withCompartment(type: string, params: readonly SearchParam[], patientId: string): SearchParam[] {
  const param = compartmentSearchParam(type);
  if (param === null) throw new GatewayError('forbidden', { reasons: ['narrow.unsupported-type'] });
  return [...params, makeParam(param, param === '_id' ? patientId : `Patient/${patientId}`)];
}
