/** Builds the documented policy input (src/policy/contract.ts) from the pipeline's own types. */
import { compartmentPatientIds, isPatientCompartmentType } from '../fhir/compartment.js';
import { parseLocalReference } from '../fhir/references.js';
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
  const references = referenceFacts(resource, bases);
  const patients = compartmentPatientIds(resource, bases) ?? references.patients;
  return {
    patients,
    patient_data: patients.length > 0 || isPatientCompartmentType(resource.resourceType),
    data_date: clinicalDate(resource),
    referenced_patients: references.patients,
    logical_patient_references: references.logical,
  };
}

/**
 * One walk over the resource (this runs for every resource of every answer): the patients it
 * references anywhere by local reference, and whether some Reference may name a patient without a
 * `reference`, by identifier or display only, typed Patient or untyped (a Coding has a display too,
 * with a code or system beside it).
 */
function referenceFacts(resource: FhirResourceJson, bases: readonly string[]): { patients: string[]; logical: boolean } {
  const found: ReferenceWalk = { bases, patients: new Set(), logical: false };
  walkReferences(resource, found);
  return { patients: [...found.patients], logical: found.logical };
}

interface ReferenceWalk {
  readonly bases: readonly string[];
  readonly patients: Set<string>;
  logical: boolean;
}

function walkReferences(node: unknown, found: ReferenceWalk): void {
  if (Array.isArray(node)) {
    for (const item of node) if (typeof item === 'object' && item !== null) walkReferences(item, found);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const obj = node as Record<string, unknown>;
  const reference = obj['reference'];
  if (typeof reference === 'string') {
    const local = parseLocalReference(reference, found.bases);
    if (local?.type === 'Patient') found.patients.add(local.id);
  } else if (!found.logical && isLogicalPatientReference(obj)) {
    found.logical = true;
  }
  for (const key of Object.keys(obj)) {
    const child = obj[key];
    if (typeof child === 'object' && child !== null) walkReferences(child, found);
  }
}

function isLogicalPatientReference(obj: Record<string, unknown>): boolean {
  const identifier = obj['identifier'];
  return (
    obj['reference'] === undefined &&
    obj['code'] === undefined &&
    obj['system'] === undefined &&
    obj['resourceType'] === undefined &&
    ((typeof identifier === 'object' && identifier !== null && !Array.isArray(identifier)) || typeof obj['display'] === 'string') &&
    (obj['type'] === undefined || obj['type'] === 'Patient')
  );
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
