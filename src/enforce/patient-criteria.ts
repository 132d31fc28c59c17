/**
 * Search criteria that would let a patient-context client learn about another patient without any
 * of that patient's data being released: the answer is the client's own resources, but *which* of
 * them match tells something about someone else. `Group?member=Patient/other` returns the client's
 * own Group (with the other member removed) exactly when the two share it; `Observation?performer
 * .name=Smith` asks about whoever performed the client's observations, who may be another patient;
 * `Practitioner?_has:Observation:performer:subject=Patient/other` lists the practitioners of someone
 * else's observations. Narrowing and the per-resource decisions cannot see this; only the criteria
 * can. So, for a principal restricted to one patient, criteria may only reach that patient or
 * resources that are nobody's (practitioners, organizations, locations, medications):
 *
 * - a reference to a Patient other than the principal's is refused, whatever parameter carries it;
 * - a bare id or `:identifier` on a parameter that may point at a Patient is refused (the server
 *   would match it against any patient): the client names the type (`performer=Practitioner/1`);
 * - a chain may start from the parameter the gateway pins to the patient (`subject.name`), or from
 *   a parameter that can only point at types outside the Patient compartment (`performer:
 *   Practitioner.name`, `medication.code`); one link only;
 * - `_has` only on Patient (pinned to the principal) through a parameter that puts the referring
 *   resource in that patient's compartment (`Patient?_has:Observation:patient:code=...`).
 *
 * Refusals are 403 with a `narrow.*` reason; the audit record says which.
 */
import { GatewayError } from '../errors.js';
import { isResultParam } from '../fhir/classify.js';
import { isPatientCompartmentType } from '../fhir/compartment.js';
import { PATIENT_COMPARTMENT, REFERENCE_TARGETS } from '../fhir/generated/r4.js';
import type { SearchParam } from '../fhir/request.js';
import { paramFullName } from '../fhir/search-params.js';


// Case-insensitive: a lenient server may read `patient/123` as a Patient reference.
const PATIENT_REFERENCE = /(?:^|\/)Patient\/([^/]+)(?:\/_history\/[^/]+)?$/i;

interface Scope {
  /** The patient the principal is restricted to. */
  readonly patientId: string;
  /** The parameter of `type` the gateway pins to that patient, if any (`subject`, `patient`, `_id`). */
  readonly pinned: string | null;
}

/**
 * Throws `forbidden` when a criterion could select by another patient. `type` is the searched type
 * (null for a search over all types of a compartment); `pinned`, the parameter narrowing ANDs with
 * `Patient/<patientId>` (null when the search is not narrowed that way).
 */
export function checkPatientCriteria(type: string | null, params: readonly SearchParam[], patientId: string, pinned: string | null): void {
  const scope: Scope = { patientId, pinned };
  for (const p of params) {
    // Result parameters select nothing; resources they include are decided one by one.
    if (isResultParam(p.name)) continue;
    const full = paramFullName(p);
    if (full.startsWith('_has:')) checkReverseChain(type, full, p.values, scope);
    else if (type !== null) checkChainOrParam(type, full, p.values, scope);
  }
}

function refuse(reason: string): never {
  throw new GatewayError('forbidden', { reasons: [reason] });
}

function checkChainOrParam(type: string, full: string, values: readonly string[], scope: Scope): void {
  const links = full.split('.');
  if (links.length === 1) return checkValues(type, full, values, scope.patientId);
  if (links.length > 2) refuse('narrow.chain');
  const [head, tail] = links as [string, string];
  const { code, modifier } = splitModifier(head);
  const targets = modifier !== null ? [modifier] : (REFERENCE_TARGETS[type]?.[code] ?? ['*']);
  // Pinned: the chain reads the principal's own Patient resource.
  const pinnedToSelf = code === scope.pinned && (modifier === null || modifier === 'Patient');
  if (!pinnedToSelf && targets.some(reachesPatients)) refuse('narrow.chain');
  for (const target of pinnedToSelf ? ['Patient'] : targets) checkValues(target, tail, values, scope.patientId);
}

function checkReverseChain(type: string | null, full: string, values: readonly string[], scope: Scope): void {
  // _has:<Type>:<reference param>:<criterion>
  const [, referring, via, criterion, ...rest] = full.split(':');
  if (type !== 'Patient' || scope.pinned !== '_id' || referring === undefined || via === undefined || criterion === undefined) refuse('narrow.reverse-chain');
  if (rest.length > 0 || criterion.includes('.') || !putsInCompartment(referring, via)) refuse('narrow.reverse-chain');
  checkValues(referring, criterion, values, scope.patientId);
}

/**
 * A resource of `type` whose `param` names the patient is in that patient's compartment: the
 * parameter is one the CompartmentDefinition lists, or the `patient` parameter R4 defines as the
 * patient-typed subset of one (`Observation.patient` is `subject.where(resolve() is Patient)`).
 */
function putsInCompartment(type: string, param: string): boolean {
  const entry = PATIENT_COMPARTMENT[type];
  if (entry === undefined) return false;
  return entry.params.includes(param) || (param === 'patient' && REFERENCE_TARGETS[type]?.[param]?.join() === 'Patient');
}

/** The values of `code[:modifier]` on `type`: references to other patients, or that may be, are refused. */
function checkValues(type: string, nameWithModifier: string, values: readonly string[], patientId: string): void {
  const { code, modifier } = splitModifier(nameWithModifier);
  const targets = REFERENCE_TARGETS[type]?.[code];
  for (const value of values) {
    const match = PATIENT_REFERENCE.exec(value);
    if (match !== null) {
      if (match[1] !== patientId) refuse('narrow.other-patient-criterion');
      continue;
    }
    if (targets === undefined || modifier === 'missing') continue;
    const mayBePatient = modifier === null || modifier === 'identifier' ? targets.some(isPatientTarget) : modifier === 'Patient';
    // `performer=123` is matched against every type performer may name, patients included.
    if (mayBePatient && (modifier === 'identifier' || (!value.includes('/') && value !== patientId))) refuse('narrow.untyped-reference');
  }
}

function splitModifier(name: string): { code: string; modifier: string | null } {
  const colon = name.indexOf(':');
  return colon === -1 ? { code: name, modifier: null } : { code: name.slice(0, colon), modifier: name.slice(colon + 1) };
}

const isPatientTarget = (t: string): boolean => t === 'Patient' || t === '*';
/** A target whose resources may be a patient or belong to one. */
const reachesPatients = (t: string): boolean => t === '*' || t === 'Patient' || isPatientCompartmentType(t);
