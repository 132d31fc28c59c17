/**
 * What the detector needs to know about a patient, read from the FHIR data itself (explanation-based
 * auditing: most legitimate accesses are explained by a treatment relationship in the record):
 *
 * - the actors with a care relationship: `Encounter.participant.individual`,
 *   `CareTeam.participant.member`, `Appointment.participant.actor`, `EpisodeOfCare.careManager`,
 *   `Patient.generalPractitioner`;
 * - the Patient's security labels (VIP, employee, ... restricted patients).
 *
 * `careFactsFrom` is the pure reading; `createUpstreamPatientFacts` reads the resources from the
 * upstream with the gateway's own credentials and caches them for `ttlSeconds`. A patient whose
 * facts cannot be read makes the detector fail the batch (it is retried), never judge it as
 * "no relationship".
 */
import { BoundedCache } from '../bounded-cache.js';
import type { FhirResourceJson } from '../policy/contract.js';
import type { UpstreamClient } from '../proxy/upstream-client.js';

export interface PatientFacts {
  /** References (`Practitioner/9`, `PractitionerRole/4`) of actors with a care relationship. */
  readonly careActors: ReadonlySet<string>;
  /** Security labels of the Patient resource, as `system|code` and as bare `code`. */
  readonly labels: ReadonlySet<string>;
  /** Whether the Patient resource exists (an unknown patient has no relationships to explain an access). */
  readonly found: boolean;
}

export interface PatientFactsSource {
  factsOf(patient: string): Promise<PatientFacts>;
}

type Json = Record<string, unknown>;

const refOf = (value: unknown): string | null => {
  const ref = (value as { reference?: unknown } | undefined)?.reference;
  return typeof ref === 'string' ? ref : null;
};
const arrayOf = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);

/** The relationships and labels that `resources` (the patient's Patient, Encounters, CareTeams, ...) state. */
export function careFactsFrom(patient: FhirResourceJson | null, related: readonly FhirResourceJson[]): PatientFacts {
  const actors = new Set<string>();
  const add = (ref: string | null): void => {
    if (ref !== null) actors.add(ref);
  };
  for (const gp of arrayOf(patient?.['generalPractitioner'])) add(refOf(gp));
  for (const r of related) {
    switch (r.resourceType) {
      case 'Encounter':
        for (const p of arrayOf(r['participant'])) add(refOf(p['individual']));
        break;
      case 'CareTeam':
        // An inactive or ended team no longer explains an access.
        if (r['status'] === 'inactive' || r['status'] === 'entered-in-error') break;
        for (const p of arrayOf(r['participant'])) add(refOf(p['member']));
        break;
      case 'Appointment':
        for (const p of arrayOf(r['participant'])) add(refOf(p['actor']));
        break;
      case 'EpisodeOfCare':
        add(refOf(r['careManager']));
        break;
    }
  }
  const labels = new Set<string>();
  for (const label of arrayOf((patient?.['meta'] as Json | undefined)?.['security'])) {
    const code = label['code'];
    if (typeof code !== 'string') continue;
    labels.add(code);
    if (typeof label['system'] === 'string') labels.add(`${label['system']}|${code}`);
  }
  return { careActors: actors, labels, found: patient !== null };
}

export interface UpstreamPatientFactsOptions {
  readonly client: UpstreamClient;
  readonly ttlSeconds: number;
  readonly maxPatients: number;
  /** Resources per relationship search, at most (more is an error: the facts would be partial). */
  readonly maxResources?: number;
  readonly now?: () => number;
}

const SEARCHES: ReadonlyArray<readonly [string, string]> = [
  ['Encounter', '_elements=participant'],
  ['CareTeam', '_elements=participant,status'],
  ['Appointment', '_elements=participant'],
  ['EpisodeOfCare', '_elements=careManager'],
];

export function createUpstreamPatientFacts(options: UpstreamPatientFactsOptions): PatientFactsSource {
  const now = options.now ?? Date.now;
  const cache = new BoundedCache<string, { expires: number; facts: Promise<PatientFacts> }>(options.maxPatients);
  const load = async (patient: string): Promise<PatientFacts> => {
    const origin = { requestId: `detector-${patient.slice(0, 16)}`, trace: null };
    const read = await options.client.read('Patient', patient, origin);
    const ref = encodeURIComponent(`Patient/${patient}`);
    const related = await Promise.all(SEARCHES.map(([type, elements]) => options.client.search(type, `patient=${ref}&${elements}&_count=200`, origin, options.maxResources ?? 2000)));
    return careFactsFrom(read.found ? read.resource : null, related.flat());
  };
  return {
    factsOf(patient) {
      const hit = cache.get(patient);
      if (hit && hit.expires > now()) return hit.facts;
      // Concurrent accesses to one patient share one read; a failed read is not remembered.
      const facts = load(patient);
      cache.set(patient, { expires: now() + options.ttlSeconds * 1000, facts });
      facts.catch(() => cache.delete(patient));
      return facts;
    },
  };
}
