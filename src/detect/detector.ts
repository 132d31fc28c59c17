/**
 * The inappropriate-access detector and the review cases every record may call for. For each
 * record, in order:
 *
 * - break-the-glass: a case per patient reached (who, which patient, the stated reason, what was released);
 * - a protection change (labels lowered, Consents changed): a case;
 * - each staff access to a patient is judged by five signals:
 *   (a) unexplained: the user's fhirUser has no care relationship with the patient;
 *   (b) restricted: the patient carries a restricted label (VIP, employee...) or is on the list, and
 *       the access is not explained by a care relationship;
 *   (c) volume: the user's distinct patients this hour are a spike against their own baseline;
 *   (d) after hours for every role of the user that has hours;
 *   (e) self or family: the patient is the user's own record or a relative's.
 *
 * Findings open cases in the CaseStore, deduplicated per user, patient and day (per user and hour
 * for volume), so a record processed twice, or by two replicas, opens nothing twice.
 */
import type { ReadableRecord } from '../audit/record.js';
import type { CaseDraft, CaseKind, CaseStore, CaseUser, Finding, OpenResult, Severity, Signal } from '../cases/case.js';
import { releasedPatients, type AnyRequestRecord } from '../privacy/released.js';
import { accessesOf, type Access } from './access.js';
import { hoursOf, withinHours, type WorkingHours } from './hours.js';
import type { PatientFactsSource } from './patient-facts.js';
import type { LinkedPatients } from './staff-links.js';
import { hourOf, judgeVolume, type VolumeOptions, type VolumeState } from './volume.js';

export interface DetectorOptions {
  readonly facts: PatientFactsSource;
  readonly links: LinkedPatients;
  readonly volumeState: VolumeState;
  readonly volume: VolumeOptions;
  /** Security labels that make a patient restricted, `system|code` or bare `code`. */
  readonly restrictedLabels: readonly string[];
  /** Patient ids restricted whatever their labels. */
  readonly restrictedPatients: readonly string[];
  readonly hours: Readonly<Record<string, WorkingHours>>;
  /** Signals switched on (all by default). */
  readonly signals?: readonly Signal[];
}

export interface DetectionResult {
  readonly outcomes: ReadonlyArray<{ readonly kind: CaseKind; readonly signal: Finding['signal']; readonly severity: Severity; readonly outcome: OpenResult['outcome'] }>;
}

export interface Detector {
  /** Judges one record and opens or amends its cases; rejects (to be retried) when facts cannot be read. */
  process(record: ReadableRecord): Promise<DetectionResult>;
}

/** The unit a per-access finding is deduplicated on, and what the bench scores. */
export const accessKey = (user: string, patient: string, time: string): string => `${user}|${patient}|${time.slice(0, 10)}`;
export const volumeKey = (user: string, hour: number): string => `${user}|h${hour}`;

export function userOf(record: AnyRequestRecord): CaseUser | null {
  const p = record.principal;
  if (p === null) return null;
  return { iss: p.iss, sub: p.sub, fhirUser: p.fhir_user, clientId: p.client_id, roles: p.roles };
}

export function createDetector(options: DetectorOptions, cases: CaseStore): Detector {
  const on = new Set<Signal>(options.signals ?? ['unexplained', 'restricted', 'volume', 'after-hours', 'self-or-family']);
  const restrictedLabels = new Set(options.restrictedLabels);
  const restrictedPatients = new Set(options.restrictedPatients);

  const judge = async (a: Access): Promise<Finding[]> => {
    const found: Finding[] = [];
    const finding = (signal: Signal, severity: Severity, reason: string): void => void found.push({ signal, severity, reason, record: a.record, time: a.time });
    const needFacts = on.has('unexplained') || on.has('restricted');
    const facts = needFacts ? await options.facts.factsOf(a.patient) : null;
    const explained = facts !== null && facts.careActors.has(a.fhirUser);
    if (on.has('unexplained') && !explained) {
      finding('unexplained', 'medium', `${a.fhirUser} has no care relationship with this patient in the FHIR data (no encounter, care team, appointment, episode of care or general practitioner names them)`);
    }
    if (on.has('restricted') && facts !== null && !explained) {
      const label = [...facts.labels].find((l) => restrictedLabels.has(l));
      const listed = restrictedPatients.has(a.patient);
      if (label !== undefined || listed) {
        finding('restricted', 'high', `this patient is restricted (${label !== undefined ? `security label ${label}` : 'on the restricted list'}) and ${a.fhirUser} has no care relationship with them`);
      }
    }
    if (on.has('after-hours')) {
      const windows = hoursOf(a.roles, options.hours);
      if (windows.length > 0 && !windows.some((w) => withinHours(a.time, w))) {
        const w = windows[0] as WorkingHours;
        finding('after-hours', 'low', `accessed outside the working hours of the user's roles (${a.roles.filter((r) => Object.hasOwn(options.hours, r)).join(', ')}: ${w.start}-${w.end} ${w.timeZone})`);
      }
    }
    if (on.has('self-or-family')) {
      const link = (await options.links.linkedTo(a.fhirUser)).get(a.patient);
      if (link !== undefined) finding('self-or-family', 'high', link === 'self' ? `${a.fhirUser} opened their own patient record` : `${a.fhirUser} opened the record of a patient they are registered as related to (RelatedPerson)`);
    }
    return found;
  };

  const draftOf = (key: string, kind: CaseKind, user: CaseUser, patient: string | null, a: { released: Access['released']; breakGlassReason: string | null }, finding: Finding): CaseDraft => ({
    key,
    kind,
    user,
    patient,
    statedReason: a.breakGlassReason,
    released: a.released,
    finding,
  });

  return {
    async process(record) {
      const outcomes: Array<DetectionResult['outcomes'][number]> = [];
      if (record.kind !== 'request') return { outcomes };
      const open = async (draft: CaseDraft): Promise<void> => {
        const result = await cases.openOrAmend(draft);
        outcomes.push({ kind: draft.kind, signal: draft.finding.signal, severity: draft.finding.severity, outcome: result.outcome });
      };
      const user = userOf(record);
      const base = { record: record.deliveryId, time: record.time };
      if (user !== null && record.outcome.decision === 'allow' && record.outcome.breakGlass) {
        for (const p of releasedPatients(record)) {
          const finding: Finding = { ...base, signal: 'break-glass', severity: 'medium', reason: `break-the-glass access${record.outcome.breakGlassReason ? '' : ' without a stated reason'}` };
          await open(draftOf(`break-glass|${record.deliveryId}|${p.patient}`, 'break-glass', user, p.patient, { released: p.released, breakGlassReason: record.outcome.breakGlassReason ?? null }, finding));
        }
      }
      if (user !== null && record.outcome.protectionChange === true) {
        const patients = releasedPatients(record);
        const finding: Finding = { ...base, signal: 'protection-change', severity: 'medium', reason: 'a write changed protections (a security label lowered or removed, or a Consent created, changed or deleted)' };
        await open(draftOf(`protection-change|${record.deliveryId}`, 'protection-change', user, patients[0]?.patient ?? null, { released: patients.flatMap((p) => p.released), breakGlassReason: null }, finding));
      }
      const accesses = accessesOf(record);
      for (const a of accesses) {
        const caseUser: CaseUser = { iss: a.iss, sub: a.sub, fhirUser: a.fhirUser, clientId: a.clientId, roles: a.roles };
        for (const finding of await judge(a)) await open(draftOf(`detect|${accessKey(a.user, a.patient, a.time)}`, 'detection', caseUser, a.patient, a, finding));
      }
      if (on.has('volume')) {
        // Per user and hour: every patient of the record is counted before the hour is judged.
        const first = accesses[0];
        if (first !== undefined) {
          const hour = hourOf(first.time);
          let count = 0;
          for (const a of accesses) count = await options.volumeState.add(a.user, hour, a.patient);
          const history = await options.volumeState.history(first.user, hour - options.volume.windowHours, hour);
          const verdict = judgeVolume(count, history, options.volume);
          if (verdict.spike) {
            const severity: Severity = verdict.why === 'ceiling' || (verdict.z ?? 0) > 2 * options.volume.zThreshold ? 'high' : 'medium';
            const reason =
              verdict.why === 'ceiling'
                ? `${count} distinct patients within one hour, above the ceiling of ${options.volume.ceiling}`
                : `${count} distinct patients within one hour where this user's usual hour has ${verdict.median} (robust z-score ${(verdict.z as number).toFixed(1)})`;
            const caseUser: CaseUser = { iss: first.iss, sub: first.sub, fhirUser: first.fhirUser, clientId: first.clientId, roles: first.roles };
            await open(draftOf(`volume|${volumeKey(first.user, hour)}`, 'detection', caseUser, null, { released: [], breakGlassReason: null }, { ...base, signal: 'volume', severity, reason }));
          }
        }
      }
      return { outcomes };
    },
  };
}
