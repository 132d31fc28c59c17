/**
 * Request-side narrowing: a policy that restricts a principal to one patient's compartment has its
 * searches rewritten before they are forwarded, so the upstream never even selects other patients'
 * resources (HAPI's SearchNarrowingInterceptor, google/fhir-gateway do the same). Responses are still
 * checked resource by resource afterwards; narrowing is the first of two walls, not the only one.
 */
import { GatewayError } from '../errors.js';
import { compartmentSearchParam, isPatientCompartmentType } from '../fhir/compartment.js';
import type { FhirRequest } from '../fhir/request.js';
import { makeParam } from '../fhir/search-params.js';

export function narrowToPatient(request: FhirRequest, patientId: string): FhirRequest {
  switch (request.interaction) {
    case 'search-type': {
      const type = request.type as string;
      if (!isPatientCompartmentType(type)) return request; // not patient data: nothing to narrow
      const param = compartmentSearchParam(type);
      if (param === null) throw new GatewayError('forbidden', { reasons: ['narrow.unsupported-type'] });
      const value = param === '_id' ? patientId : `Patient/${patientId}`;
      // ANDed with whatever the client asked: the result can only shrink.
      return { ...request, params: [...request.params, makeParam(param, value)] };
    }
    case 'search-compartment':
      if (request.compartment?.type !== 'Patient' || request.compartment.id !== patientId) {
        throw new GatewayError('forbidden', { reasons: ['compartment.other-patient'] });
      }
      return request;
    case 'search-system':
    case 'history-type':
    case 'history-system':
      throw new GatewayError('forbidden', { reasons: ['narrow.unsupported-interaction'] });
    default:
      // Reads and writes of a single resource are checked on the resource itself.
      return request;
  }
}
