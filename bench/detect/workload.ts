/**
 * A generated hospital with known ground truth, for measuring the detector (bench:detect and the
 * smaller run in the test suite).
 *
 * The world: care teams (wards) of staff with working hours per role, each team caring for its
 * patients. Care relationships are real FHIR resources (CareTeam, Encounter, Appointment,
 * EpisodeOfCare, Patient.generalPractitioner), some patients carry a restricted label or are on the
 * restricted list, and some staff have their own Patient record or are a patient's RelatedPerson.
 *
 * The traffic: `explained` accesses (sealed audit records) of staff to their own team's patients in
 * their working hours, clustered per hour at a per-user rate (what makes a baseline), plus
 * `injected` snooping of each kind. Ground truth is what the generator did, per signal, in the
 * detector's units (user, patient, day; user and hour for volume):
 *   unexplained     a patient of another team;
 *   restricted      a restricted patient of another team (so also unexplained);
 *   volume          one hour in which a user opens 20-35 of their own team's patients;
 *   after-hours     a day-shift user opening their own team's patient at night;
 *   self-or-family  the user's own record or a relative's, cared for by another team (so also unexplained).
 */
import { seal, GENESIS, type ChainTip } from '../../src/audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditRecord, type UnsealedRequestRecord } from '../../src/audit/record.js';
import { SIGNALS, type ReviewCase, type Signal } from '../../src/cases/case.js';
import { accessKey, volumeKey } from '../../src/detect/detector.js';
import { DEFAULT_VOLUME } from '../../src/detect/volume.js';
import type { WorkingHours } from '../../src/detect/hours.js';
import type { StaffLink } from '../../src/detect/staff-links.js';
import { careFactsFrom, type PatientFactsSource } from '../../src/detect/patient-facts.js';
import type { FhirResourceJson } from '../../src/policy/contract.js';

export interface WorkloadOptions {
  readonly seed: number;
  readonly explained: number;
  /** Injected accesses (volume: spike hours) per signal. */
  readonly injected: number;
  readonly teams: number;
  readonly staffPerTeam: number;
  readonly patientsPerTeam: number;
}

export const BENCH_WORKLOAD: WorkloadOptions = { seed: 19, explained: 10_000, injected: 50, teams: 8, staffPerTeam: 6, patientsPerTeam: 60 };

export const ISSUER = 'https://idp.hospital.example';
export const TIME_ZONE = 'Europe/Copenhagen';
export const RESTRICTED_LABELS = ['http://terminology.hl7.org/CodeSystem/v3-ActCode|CEL', 'http://terminology.hl7.org/CodeSystem/v3-ActCode|EMP'];
export const HOURS: Readonly<Record<string, WorkingHours>> = {
  physician: { start: '07:00', end: '19:00', timeZone: TIME_ZONE },
  'nurse-day': { start: '07:00', end: '15:00', timeZone: TIME_ZONE },
  'nurse-night': { start: '19:00', end: '07:00', timeZone: TIME_ZONE },
};

interface Staff {
  readonly id: string;
  readonly sub: string;
  readonly team: number;
  readonly role: keyof typeof HOURS;
  /** Mean distinct patients per active hour. */
  readonly rate: number;
}

export interface Workload {
  readonly records: AuditRecord[];
  /** The upstream's FHIR data: patients and the resources that state care relationships. */
  readonly resources: FhirResourceJson[];
  readonly restrictedPatients: string[];
  readonly links: StaffLink[];
  /** RelatedPerson id -> patient id (what the upstream states). */
  readonly relatedPersons: ReadonlyMap<string, string>;
  readonly truth: ReadonlyMap<Signal, ReadonlySet<string>>;
}

/** mulberry32: a small seeded generator, so every run sees the same hospital. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Monday 2026-11-02 00:00 Europe/Copenhagen (CET, UTC+1): four weeks without a daylight-saving change. */
const START = Date.parse('2026-11-01T23:00:00Z');
const HOUR = 3_600_000;

export function generateWorkload(options: WorkloadOptions): Workload {
  const rnd = prng(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
  const poisson = (lambda: number): number => {
    const l = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= rnd();
    } while (p > l);
    return k - 1;
  };

  // ---------- the world ----------
  const staff: Staff[] = [];
  const patientsOf: string[][] = [];
  const resources: FhirResourceJson[] = [];
  const restricted = new Set<string>();
  const restrictedPatients: string[] = [];
  const roles: Array<keyof typeof HOURS> = ['physician', 'physician', 'nurse-day', 'nurse-day', 'nurse-night', 'physician'];
  for (let t = 0; t < options.teams; t++) {
    const members: Staff[] = [];
    for (let s = 0; s < options.staffPerTeam; s++) members.push({ id: `pr-${t}-${s}`, sub: `staff-${t}-${s}`, team: t, role: roles[s % roles.length] as keyof typeof HOURS, rate: 2 + rnd() * 3 });
    staff.push(...members);
    const patients: string[] = [];
    for (let p = 0; p < options.patientsPerTeam; p++) {
      const id = `pt-${t}-${p}`;
      patients.push(id);
      const refs = members.map((m) => ({ reference: `Practitioner/${m.id}` }));
      const labelled = p % 20 === 7;
      const listed = p % 20 === 13;
      if (labelled || listed) restricted.add(id);
      if (listed) restrictedPatients.push(id);
      const patient: FhirResourceJson = {
        resourceType: 'Patient',
        id,
        ...(labelled ? { meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: p % 40 === 7 ? 'CEL' : 'EMP' }] } } : {}),
        name: [{ family: `Family${t}`, given: [`P${p}`] }],
      };
      // Each source of care relationships explains some of the patients, so all of them are exercised.
      switch (p % 5) {
        case 0:
          resources.push({ resourceType: 'CareTeam', id: `ct-${id}`, status: 'active', subject: { reference: `Patient/${id}` }, participant: refs.map((member) => ({ member })) });
          break;
        case 1:
          resources.push({ resourceType: 'Encounter', id: `enc-${id}`, status: 'in-progress', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' }, subject: { reference: `Patient/${id}` }, participant: refs.map((individual) => ({ individual })) });
          break;
        case 2:
          resources.push({ resourceType: 'Appointment', id: `apt-${id}`, status: 'booked', participant: [{ actor: { reference: `Patient/${id}` }, status: 'accepted' }, ...refs.map((actor) => ({ actor, status: 'accepted' }))] });
          break;
        case 3:
          // One care manager, the rest of the team by an encounter.
          resources.push({ resourceType: 'EpisodeOfCare', id: `eoc-${id}`, status: 'active', patient: { reference: `Patient/${id}` }, careManager: refs[0] });
          resources.push({ resourceType: 'Encounter', id: `enc-${id}`, status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject: { reference: `Patient/${id}` }, participant: refs.slice(1).map((individual) => ({ individual })) });
          break;
        case 4:
          (patient as Record<string, unknown>)['generalPractitioner'] = refs;
          break;
      }
      resources.push(patient);
    }
    patientsOf.push(patients);
  }
  const teamOf = (patient: string): number => Number(patient.split('-')[1]);
  const ordinary = (t: number): string[] => (patientsOf[t] as string[]).filter((p) => !restricted.has(p));

  // Staff with a record of their own (self) or registered as a relative (family): a patient of another team.
  const links: StaffLink[] = [];
  const relatedPersons = new Map<string, string>();
  const linkedPatient = new Map<string, { patient: string; kind: 'self' | 'family' }>();
  const linkable = [...staff].sort(() => rnd() - 0.5).slice(0, Math.min(staff.length, Math.max(2, options.injected)));
  for (const [i, s] of linkable.entries()) {
    const otherTeam = (s.team + 1 + Math.floor(rnd() * (options.teams - 1))) % options.teams;
    const patient = pick(ordinary(otherTeam));
    if (i % 2 === 0) {
      links.push({ staff: `Practitioner/${s.id}`, patients: [patient], relatedPersons: [] });
      linkedPatient.set(s.id, { patient, kind: 'self' });
    } else {
      const rp = `rp-${s.id}`;
      relatedPersons.set(rp, patient);
      resources.push({ resourceType: 'RelatedPerson', id: rp, patient: { reference: `Patient/${patient}` }, relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'SIS' }] }] });
      links.push({ staff: `Practitioner/${s.id}`, patients: [], relatedPersons: [rp] });
      linkedPatient.set(s.id, { patient, kind: 'family' });
    }
  }

  // ---------- the traffic ----------
  const accesses: Array<{ staff: Staff; patient: string; time: number }> = [];
  const shiftHours = (s: Staff, day: number): number[] => {
    const h = HOURS[s.role] as WorkingHours;
    const start = Number(h.start.slice(0, 2));
    const end = Number(h.end.slice(0, 2));
    const len = (end - start + 24) % 24;
    return Array.from({ length: len }, (_, i) => day * 24 + start + i);
  };
  const days = 28;
  const explained: typeof accesses = [];
  for (let day = 0; day < days && explained.length < options.explained * 3; day++) {
    for (const s of staff) {
      if (rnd() < 2 / 7) continue; // a day off
      for (const hour of shiftHours(s, day)) {
        if (rnd() < 0.65) continue; // in theatre, on rounds, in meetings
        const n = Math.max(1, poisson(s.rate));
        const panel = patientsOf[s.team] as string[];
        const seen = new Set<string>();
        while (seen.size < Math.min(n, panel.length)) seen.add(pick(panel));
        for (const patient of seen) {
          const reads = rnd() < 0.3 ? 2 : 1;
          for (let r = 0; r < reads; r++) explained.push({ staff: s, patient, time: START + hour * HOUR + Math.floor(rnd() * HOUR) });
        }
      }
    }
  }
  explained.sort((a, b) => a.time - b.time);
  accesses.push(...explained.slice(0, options.explained));
  const lastTime = (accesses.at(-1) as { time: number }).time;
  const spanHours = Math.floor((lastTime - START) / HOUR);

  const truth = new Map<Signal, Set<string>>(SIGNALS.map((s) => [s, new Set()]));
  const user = (s: Staff): string => `${ISSUER}|${s.sub}`;
  const mark = (signal: Signal, key: string): void => void truth.get(signal)?.add(key);
  // Injections go into the second half of the window, once every user has a baseline.
  const inSecondHalf = (s: Staff): number => {
    const hours = Array.from({ length: days }, (_, d) => d)
      .flatMap((d) => shiftHours(s, d))
      .filter((h) => h > spanHours / 2 && h < spanHours - 1);
    return pick(hours);
  };
  const dayStaff = staff.filter((s) => s.role !== 'nurse-night');
  const injected: typeof accesses = [];
  const freshKey = (s: Staff, patient: string, time: number): boolean => !accesses.some((a) => a.staff === s && a.patient === patient && isoOf(a.time).slice(0, 10) === isoOf(time).slice(0, 10));

  const isoOf = (time: number): string => new Date(time).toISOString();
  const taken = new Set<string>();
  /** Injects one access whose key nothing else has (a repeat would score as one); retries otherwise. */
  const injectFresh = (choose: () => { s: Staff; patient: string; hour: number }, signals: readonly Signal[]): void => {
    for (;;) {
      const { s, patient, hour } = choose();
      const time = START + hour * HOUR + Math.floor(rnd() * HOUR);
      const key = accessKey(user(s), patient, isoOf(time));
      if (taken.has(key) || !freshKey(s, patient, time)) continue;
      taken.add(key);
      injected.push({ staff: s, patient, time });
      for (const signal of signals) mark(signal, key);
      return;
    }
  };
  const otherTeam = (s: Staff): number => (s.team + 1 + Math.floor(rnd() * (options.teams - 1))) % options.teams;
  const halfDays = Math.floor(spanHours / 24 / 2);
  for (let i = 0; i < options.injected; i++) {
    // unexplained: another team's ordinary patient
    injectFresh(() => {
      const s = pick(staff);
      // Not the user's own or a relative's record: that would be a self or family access too.
      const own = linkedPatient.get(s.id)?.patient;
      return { s, patient: pick(ordinary(otherTeam(s)).filter((p) => p !== own)), hour: inSecondHalf(s) };
    }, ['unexplained']);
    // restricted: another team's restricted patient
    injectFresh(() => {
      const s = pick(staff);
      return { s, patient: pick([...restricted].filter((p) => teamOf(p) !== s.team)), hour: inSecondHalf(s) };
    }, ['restricted', 'unexplained']);
    // after-hours: a day-shift user, their own team's patient, between 23:00 and 04:00 local
    injectFresh(() => {
      const s = pick(dayStaff);
      const day = halfDays + Math.floor(rnd() * Math.max(1, halfDays - 1));
      return { s, patient: pick(ordinary(s.team)), hour: day * 24 + 23 + Math.floor(rnd() * 5) };
    }, ['after-hours']);
    // self or family: each linked staff member once (then again, on another day, if more are asked for)
    injectFresh(() => {
      const s = linkable[i % linkable.length] as Staff;
      return { s, patient: (linkedPatient.get(s.id) as { patient: string }).patient, hour: inSecondHalf(s) };
    }, ['self-or-family', 'unexplained']);
  }
  // volume: spike hours of 20-35 of the user's own team's patients, one per (user, hour)
  const spikeHours = new Set<string>();
  // Only where the user has a baseline: with less history the detector knows only the ceiling.
  const activeHoursBefore = (s: Staff, hour: number): number => new Set(accesses.filter((a) => a.staff === s && a.time < START + hour * HOUR).map((a) => Math.floor(a.time / HOUR))).size;
  while (spikeHours.size < options.injected) {
    const s = pick(staff);
    const hour = inSecondHalf(s);
    const key = volumeKey(user(s), START / HOUR + hour);
    if (spikeHours.has(key) || activeHoursBefore(s, hour) < DEFAULT_VOLUME.minHistoryHours) continue;
    spikeHours.add(key);
    const panel = [...(patientsOf[s.team] as string[])].sort(() => rnd() - 0.5).slice(0, 20 + Math.floor(rnd() * 16));
    for (const patient of panel) injected.push({ staff: s, patient, time: START + hour * HOUR + Math.floor(rnd() * HOUR) });
    mark('volume', key);
  }
  accesses.push(...injected);
  accesses.sort((a, b) => a.time - b.time);

  // ---------- as sealed audit records ----------
  const records: AuditRecord[] = [];
  let tip: ChainTip = { seq: 0, hash: GENESIS };
  const instance = `bench-${options.seed}`;
  for (const a of accesses) {
    const compartmentSearch = rnd() < 0.5;
    const returned = 1 + Math.floor(rnd() * 8);
    const record: UnsealedRequestRecord = {
      schemaVersion: AUDIT_SCHEMA_VERSION,
      kind: 'request',
      decisionId: randomUuid(rnd),
      requestId: randomUuid(rnd),
      time: new Date(a.time).toISOString(),
      client: { address: '10.0.0.1' },
      principal: {
        iss: ISSUER,
        sub: a.staff.sub,
        client_id: 'ehr',
        jti: randomUuid(rnd),
        roles: [a.staff.role],
        purpose_of_use: ['TREAT'],
        patient: null,
        fhir_user: `Practitioner/${a.staff.id}`,
        scopes: ['user/*.rs'],
      },
      request: compartmentSearch
        ? { method: 'GET', interaction: 'search-compartment', type: 'Observation', id: null, version: null, compartment: `Patient/${a.patient}`, operation: null, params: [] }
        : { method: 'GET', interaction: 'read', type: 'Patient', id: a.patient, version: null, compartment: null, operation: null, params: [] },
      outcome: { decision: 'allow', reasons: ['scope.ok'], error: null, status: 200, breakGlass: false, breakGlassReason: null },
      entries: { returned: compartmentSearch ? returned : 1, withheld: 0, redacted: 0, withheldRefs: [], redactedRefs: [] },
      patients: { released: [{ id: a.patient, types: compartmentSearch ? { Observation: returned } : { Patient: 1 } }], releasedCount: 1, withheld: [], withheldCount: 0, changed: [], changedCount: 0 },
      policyRevision: 'bench',
      durationMs: 3,
    };
    const sealed = seal(record, instance, tip, null);
    tip = { seq: sealed.chain.seq, hash: sealed.chain.hash };
    records.push(sealed);
  }
  return { records, resources, restrictedPatients, links, relatedPersons, truth };
}

function randomUuid(rnd: () => number): string {
  // Deterministic uuids (v4 layout) so two runs of one seed produce the same records.
  const hex = Array.from({ length: 32 }, () => Math.floor(rnd() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface SignalScore {
  readonly signal: Signal;
  readonly truth: number;
  readonly flagged: number;
  readonly truePositives: number;
  readonly precision: number;
  readonly recall: number;
}

/** Precision and recall per signal: the cases' findings, in the detector's units, against the truth. */
export function score(cases: readonly ReviewCase[], truth: ReadonlyMap<Signal, ReadonlySet<string>>): SignalScore[] {
  const flagged = new Map<Signal, Set<string>>(SIGNALS.map((s) => [s, new Set()]));
  for (const c of cases) {
    if (c.kind !== 'detection') continue;
    const unit = c.key.slice(c.key.indexOf('|') + 1);
    for (const f of c.findings) if ((SIGNALS as readonly string[]).includes(f.signal)) flagged.get(f.signal as Signal)?.add(unit);
  }
  return SIGNALS.map((signal) => {
    const t = truth.get(signal) ?? new Set<string>();
    const f = flagged.get(signal) ?? new Set<string>();
    const tp = [...f].filter((k) => t.has(k)).length;
    return { signal, truth: t.size, flagged: f.size, truePositives: tp, precision: f.size === 0 ? 0 : tp / f.size, recall: t.size === 0 ? 0 : tp / t.size };
  });
}

/** The patient each resource is about (the detector's upstream searches by `patient=`). */
export function patientOfResource(r: FhirResourceJson): string | null {
  const ref = (v: unknown): string | null => {
    const s = (v as { reference?: unknown } | undefined)?.reference;
    return typeof s === 'string' && s.startsWith('Patient/') ? s.slice('Patient/'.length) : null;
  };
  switch (r.resourceType) {
    case 'Patient':
      return typeof r['id'] === 'string' ? r['id'] : null;
    case 'CareTeam':
    case 'Encounter':
      return ref(r['subject']);
    case 'EpisodeOfCare':
    case 'RelatedPerson':
      return ref(r['patient']);
    case 'Appointment':
      for (const p of (r['participant'] as Array<{ actor?: unknown }> | undefined) ?? []) {
        const id = ref(p.actor);
        if (id !== null) return id;
      }
      return null;
    default:
      return null;
  }
}

/** The world's facts held in memory, read through the detector's own reading of FHIR resources. */
export function memoryPatientFacts(resources: readonly FhirResourceJson[]): PatientFactsSource {
  const byPatient = new Map<string, { patient: FhirResourceJson | null; related: FhirResourceJson[] }>();
  for (const r of resources) {
    if (r.resourceType === 'RelatedPerson') continue;
    const id = patientOfResource(r);
    if (id === null) continue;
    const entry = byPatient.get(id) ?? { patient: null, related: [] };
    if (r.resourceType === 'Patient') entry.patient = r;
    else entry.related.push(r);
    byPatient.set(id, entry);
  }
  return {
    async factsOf(patient) {
      const entry = byPatient.get(patient);
      return careFactsFrom(entry?.patient ?? null, entry?.related ?? []);
    },
  };
}
