/**
 * Breach scope (HIPAA 45 CFR 164.404 needs every affected individual named): from the records of a
 * leaked token, a subject, a client or an address in a time window, every patient whose data was
 * released, with what (types, counts), first and last access and the number of records; totals.
 * Pure. Deterministic: patients by first access, then id.
 *
 * A record whose patient list is capped names fewer patients than it released: the report counts
 * those records and the patients they leave unnamed, so nobody reads a short list as complete.
 */
import type { ReadableRecord } from '../audit/record.js';
import type { ChainProblem } from '../audit/chain.js';
import type { Released } from '../cases/case.js';
import { csvOf, releasedText } from './csv.js';
import { releasedPatients } from './released.js';

export interface AffectedPatient {
  readonly patient: string;
  readonly released: readonly Released[];
  readonly firstAccess: string;
  readonly lastAccess: string;
  readonly records: number;
}

export interface BreachScope {
  readonly patients: readonly AffectedPatient[];
  readonly totals: {
    readonly patients: number;
    readonly records: number;
    /** Records that released data (the others were refused or released nothing). */
    readonly releasingRecords: number;
    readonly resources: number;
    /** Records whose patient list is capped, and the patients they released without naming them. */
    readonly cappedRecords: number;
    readonly unnamedPatients: number;
  };
  /** The chain check of the records read: null when intact. */
  readonly chain: { readonly ok: boolean; readonly checked: number; readonly problem: ChainProblem | null } | null;
}

export function breachScopeOf(records: Iterable<ReadableRecord>): Omit<BreachScope, 'chain'> {
  const byPatient = new Map<string, { types: Map<string, number>; first: string; last: string; records: number }>();
  let total = 0;
  let releasing = 0;
  let resources = 0;
  let capped = 0;
  let unnamed = 0;
  for (const record of records) {
    if (record.kind !== 'request') continue;
    total++;
    const released = releasedPatients(record);
    if (released.length > 0) releasing++;
    if ('patients' in record && record.patients?.capped === true) {
      capped++;
      unnamed += Math.max(0, record.patients.releasedCount - record.patients.released.length);
    }
    for (const p of released) {
      let entry = byPatient.get(p.patient);
      if (!entry) byPatient.set(p.patient, (entry = { types: new Map(), first: record.time, last: record.time, records: 0 }));
      entry.records++;
      if (record.time < entry.first) entry.first = record.time;
      if (record.time > entry.last) entry.last = record.time;
      for (const r of p.released) {
        entry.types.set(r.type, (entry.types.get(r.type) ?? 0) + r.count);
        resources += r.count;
      }
    }
  }
  const patients = [...byPatient]
    .map(([patient, e]) => ({ patient, released: [...e.types].sort(([a], [b]) => (a < b ? -1 : 1)).map(([type, count]) => ({ type, count })), firstAccess: e.first, lastAccess: e.last, records: e.records }))
    .sort((a, b) => (a.firstAccess < b.firstAccess ? -1 : a.firstAccess > b.firstAccess ? 1 : a.patient < b.patient ? -1 : 1));
  return { patients, totals: { patients: patients.length, records: total, releasingRecords: releasing, resources, cappedRecords: capped, unnamedPatients: unnamed } };
}

export function breachScopeCsv(scope: BreachScope): string {
  return csvOf(['patient', 'released', 'first_access', 'last_access', 'records'], scope.patients.map((p) => [p.patient, releasedText(p.released), p.firstAccess, p.lastAccess, String(p.records)]));
}
