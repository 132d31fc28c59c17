/**
 * Patient compartment membership of a resource, from the FHIR R4 Patient CompartmentDefinition
 * (not from `subject`/`patient` alone: an ExplanationOfBenefit, Provenance, Group or `Patient.link`
 * links a patient through other elements).
 */
import { PATIENT_COMPARTMENT } from './generated/r4.js';
import { localReferencesIn, parseLocalReference } from './references.js';

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
  for (const path of entry.paths) {
    if (path === '$this') {
      if (typeof resource.id === 'string') ids.add(resource.id);
      continue;
    }
    for (const ref of referencesAt(resource, path.split('.'))) {
      const local = parseLocalReference(ref, bases);
      if (local?.type === 'Patient') ids.add(local.id);
    }
  }
  return [...ids];
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

function referencesAt(node: Json, path: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (value: Json, i: number): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item, i);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    if (i === path.length) {
      const ref = (value as { reference?: unknown }).reference;
      if (typeof ref === 'string') out.push(ref);
      return;
    }
    walk((value as Record<string, Json>)[path[i] as string], i + 1);
  };
  walk(node, 0);
  return out;
}

/** Ids of every patient the resource references (local references), wherever the reference is. */
export function patientsReferencedAnywhere(resource: unknown, bases: readonly string[]): string[] {
  const ids = new Set<string>();
  for (const local of localReferencesIn(resource, bases)) if (local.type === 'Patient') ids.add(local.id);
  return [...ids];
}
