/**
 * Deployment data linking staff identities to FHIR records of their own: the staff member's own
 * Patient record, and RelatedPerson records that make them a relative (or carer) of a patient.
 * A staff member reading one of those patients is a self or family access.
 *
 * A RelatedPerson is resolved to its patient (`RelatedPerson.patient`) from the upstream, with the
 * gateway's credentials, once per process (the link is deployment data; it does not move).
 */
import type { UpstreamClient } from '../proxy/upstream-client.js';

export interface StaffLink {
  /** The staff member's fhirUser, e.g. Practitioner/9. */
  readonly staff: string;
  /** Patient ids that are the staff member's own records. */
  readonly patients: readonly string[];
  /** RelatedPerson ids standing for the staff member. */
  readonly relatedPersons: readonly string[];
}

export interface LinkedPatients {
  /** Patient ids that are the staff member's own records or relatives, with which of the two. */
  linkedTo(staff: string): Promise<ReadonlyMap<string, 'self' | 'family'>>;
}

export type RelatedPersonResolver = (relatedPerson: string) => Promise<string | null>;

export function createLinkedPatients(links: readonly StaffLink[], resolve: RelatedPersonResolver): LinkedPatients {
  const byStaff = new Map<string, StaffLink[]>();
  for (const link of links) byStaff.set(link.staff, [...(byStaff.get(link.staff) ?? []), link]);
  const resolved = new Map<string, Promise<ReadonlyMap<string, 'self' | 'family'>>>();
  const load = async (staff: string): Promise<ReadonlyMap<string, 'self' | 'family'>> => {
    const out = new Map<string, 'self' | 'family'>();
    for (const link of byStaff.get(staff) ?? []) {
      for (const rp of link.relatedPersons) {
        const patient = await resolve(rp);
        if (patient !== null) out.set(patient, 'family');
      }
      for (const p of link.patients) out.set(p, 'self');
    }
    return out;
  };
  const none: ReadonlyMap<string, 'self' | 'family'> = new Map();
  return {
    linkedTo(staff) {
      if (!byStaff.has(staff)) return Promise.resolve(none);
      let hit = resolved.get(staff);
      if (!hit) {
        resolved.set(staff, (hit = load(staff)));
        hit.catch(() => resolved.delete(staff));
      }
      return hit;
    },
  };
}

/** RelatedPerson ids resolved from the upstream (`RelatedPerson.patient`). */
export function upstreamRelatedPersons(client: UpstreamClient): RelatedPersonResolver {
  return async (id) => {
    const read = await client.read('RelatedPerson', id, { requestId: `detector-rp-${id.slice(0, 16)}`, trace: null });
    if (!read.found) return null;
    const ref = (read.resource['patient'] as { reference?: unknown } | undefined)?.reference;
    const m = typeof ref === 'string' ? /^Patient\/([^/]+)$/.exec(ref) : null;
    return m ? (m[1] as string) : null;
  };
}
