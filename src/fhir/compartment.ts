/**
 * Patient compartment membership of a resource, from the FHIR R4 Patient CompartmentDefinition
 * (not from `subject`/`patient` alone: an ExplanationOfBenefit, Provenance, Group or `Patient.link`
 * links a patient through other elements).
 */
import { PATIENT_COMPARTMENT } from './generated/r4.js';
import { localReferencesIn, parseLocalReference, type LocalReference } from './references.js';

type Json = unknown;

/**
 * Ids of the patients whose data `resource` is. For the types of the Patient compartment, the
 * patients its CompartmentDefinition links; for every other type, any patient it references at all:
 * R4 leaves `Device.patient`, `Contract.subject`, `Linkage.item` and the like outside the
 * compartment, but a device implanted in a patient is that patient's data.
 */
export function patientIdsOf(resource: { resourceType?: unknown; id?: unknown }, bases: readonly string[]): string[] {
  return compartmentPatientIds(resource, bases) ?? patientsReferencedAnywhere(resource, bases);
}

/** The patients the Patient CompartmentDefinition links `resource` to; null for a type outside the compartment. */
export function compartmentPatientIds(resource: { resourceType?: unknown; id?: unknown }, bases: readonly string[]): string[] | null {
  const type = typeof resource.resourceType === 'string' ? resource.resourceType : '';
  const entry = PATIENT_COMPARTMENT[type];
  if (!entry) return null;
  const ids = new Set<string>();
  for (const path of splitPaths(type, entry.paths)) {
    if (path === null) {
      if (typeof resource.id === 'string') ids.add(resource.id);
      continue;
    }
    const refs: string[] = [];
    referencesAt(resource, path, 0, refs);
    for (const ref of refs) {
      const local = parseLocalReference(ref, bases);
      if (local?.type === 'Patient') ids.add(local.id);
    }
  }
  return [...ids];
}

/** A type's compartment paths split once (null for `$this`): this runs for every resource decided. */
const SPLIT_PATHS = new Map<string, ReadonlyArray<readonly string[] | null>>();

function splitPaths(type: string, paths: readonly string[]): ReadonlyArray<readonly string[] | null> {
  let split = SPLIT_PATHS.get(type);
  if (split === undefined) {
    split = paths.map((p) => (p === '$this' ? null : p.split('.')));
    SPLIT_PATHS.set(type, split);
  }
  return split;
}

/** True when the type belongs to the Patient compartment (its resources are always patient data). */
export function isPatientCompartmentType(type: string): boolean {
  return PATIENT_COMPARTMENT[type] !== undefined;
}

/**
 * The search parameter that restricts a search on `type` to one patient's compartment: the first one
 * the definition lists (a subset of the compartment, never a superset); for Patient, the patient itself.
 */
export function compartmentSearchParam(type: string): string | null {
  if (type === 'Patient') return '_id';
  return PATIENT_COMPARTMENT[type]?.params[0] ?? null;
}

function referencesAt(value: Json, path: readonly string[], i: number, out: string[]): void {
  if (Array.isArray(value)) {
    for (const item of value as Json[]) referencesAt(item, path, i, out);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (i === path.length) {
    const ref = (value as { reference?: unknown }).reference;
    if (typeof ref === 'string') out.push(ref);
    return;
  }
  referencesAt((value as Record<string, Json>)[path[i] as string], path, i + 1, out);
}

/** Ids of every patient the resource references (local references), wherever the reference is. */
export function patientsReferencedAnywhere(resource: unknown, bases: readonly string[]): string[] {
  return patientIdsIn(localReferencesIn(resource, bases));
}

/** The distinct patient ids among local references, in order of first appearance. */
export function patientIdsIn(references: readonly LocalReference[]): string[] {
  const ids = new Set<string>();
  for (const local of references) if (local.type === 'Patient') ids.add(local.id);
  return [...ids];
}
