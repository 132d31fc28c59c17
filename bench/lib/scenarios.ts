/** The scenarios of issue 7: what is asked, by whom, of every target in turn. */

export type Role = 'clinician' | 'clinicianLab' | 'researcher';

export interface Scenario {
  readonly id: string;
  readonly label: string;
  readonly method: 'GET' | 'POST';
  /** Relative to the FHIR base ('' is the base itself). */
  readonly path: string;
  readonly role: Role;
  readonly body?: string;
  /** Concurrent clients, when not the run's: one client measures latency without queueing. */
  readonly connections?: number;
}

/** A batch Bundle of `n` reads of generated patients (pat-gen-1 ...). */
export function batchOfReads(n: number): string {
  return JSON.stringify({
    resourceType: 'Bundle',
    type: 'batch',
    entry: Array.from({ length: n }, (_, i) => ({ request: { method: 'GET', url: `Patient/pat-gen-${i + 1}` } })),
  });
}

export const SCENARIOS: readonly Scenario[] = [
  { id: 'read', label: 'Single read (Patient)', method: 'GET', path: 'Patient/pat-alba', role: 'clinician' },
  { id: 'read-1c', label: 'Single read, one client (latency)', method: 'GET', path: 'Patient/pat-alba', role: 'clinician', connections: 1 },
  { id: 'search-10', label: 'Search, 10 entries', method: 'GET', path: 'Observation?_count=10', role: 'clinician' },
  { id: 'search-100', label: 'Search, 100 entries', method: 'GET', path: 'Observation?_count=100', role: 'clinician' },
  // The gateway pages filtered searches itself: every other entry is withheld, so each page of 100 reads about 200 upstream.
  { id: 'search-100-half-withheld', label: 'Search, 100 entries, half of the matches withheld', method: 'GET', path: 'Observation?_count=100', role: 'clinicianLab' },
  { id: 'search-1000', label: 'Search, 1,000 entries', method: 'GET', path: 'Observation?_count=1000', role: 'clinician' },
  { id: 'search-1000-researcher', label: 'Search, 1,000 entries, researcher (Safe Harbor)', method: 'GET', path: 'Observation?_count=1000', role: 'researcher' },
  { id: 'batch-20', label: 'Batch of 20 reads', method: 'POST', path: '', role: 'clinician', body: batchOfReads(20) },
];

export function scenarioLabel(id: string): string {
  return SCENARIOS.find((s) => s.id === id)?.label ?? id;
}
