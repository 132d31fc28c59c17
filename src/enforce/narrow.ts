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
import type { FhirRequest, SearchParam } from '../fhir/request.js';
import { makeParam } from '../fhir/search-params.js';

export function narrowToPatient(request: FhirRequest, patientId: string): FhirRequest {
  switch (request.interaction) {
    case 'search-type':
      // A type outside the compartment is not narrowed (the same request object comes back, which the
      // caller reads as "not narrowed"): each returned resource is still decided.
      return isPatientCompartmentType(request.type as string) ? { ...request, params: withCompartment(request.type as string, request.params, patientId) } : request;
    case 'search-compartment':
      if (request.compartment?.type !== 'Patient' || request.compartment.id !== patientId) {
        throw new GatewayError('forbidden', { reasons: ['compartment.other-patient'] });
      }
      return request;
    case 'update':
    case 'patch':
    case 'delete':
      if (request.id !== null) return request; // judged on the stored and resulting resource
      return { ...request, params: withCompartment(requireCompartmentType(request), request.params, patientId) };
    case 'create':
      if (request.ifNoneExist === null) return request;
      return { ...request, ifNoneExist: withCompartment(requireCompartmentType(request), request.ifNoneExist, patientId) };
    case 'search-system':
    case 'history-type':
    case 'history-system':
      throw new GatewayError('forbidden', { reasons: ['narrow.unsupported-interaction'] });
    default:
      // Reads, page continuations and operations are checked on the resources that come back.
      return request;
  }
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
