/**
 * The accounting of disclosures (HIPAA 45 CFR 164.528) of one patient, from the audit records that
 * released their data: for each, the date, the recipient (user, organisation, client application),
 * a description (resource types and counts of this patient's data) and the purpose of use. Pure.
 *
 * Disclosures for treatment, payment and health care operations (TPO) are left out by default, as
 * 164.528(a)(1)(i) allows; `includeTpo` gives the "access report" form, every access. A record
 * without a purpose of use is not known to be TPO and is always listed. The patient's own accesses
 * (a disclosure to the individual, 164.528(a)(1)(ii)) are never listed. Output is deterministic:
 * records in time order (ties by delivery id), types sorted by name.
 */
import type { ReadableRecord, RequestRecord } from '../audit/record.js';
import { toAuditEvent } from '../audit/formats/audit-event.js';
import { projectOnto } from '../audit/history/view.js';
import type { Released } from '../cases/case.js';
import { csvOf, releasedText } from './csv.js';
import { releasedPatients, type AnyRequestRecord } from './released.js';

/** v3-ActReason codes of treatment, payment and operations (and their specialisations). */
export const TPO_PURPOSES: ReadonlySet<string> = new Set([
  // treatment
  'TREAT', 'ETREAT', 'CAREMGT', 'CLINTRCHPC', 'DONAT', 'POPHLTH', 'PATRQT', 'FAMRQT', 'PWATRNY', 'SUPNWK',
  // payment
  'HPAYMT', 'CLMATTCH', 'COVAUTH', 'COVERAGE', 'ELIGDTRM', 'ELIGVER', 'ENROLLM', 'REMITADV',
  // operations
  'HOPERAT', 'HACCRED', 'HCOMPL', 'HDECD', 'HDIRECT', 'HLEGAL', 'HOUTCOMS', 'HPRGRP', 'HQUALIMP', 'HSYSADMIN', 'LABELING', 'METAMGT', 'MEMADMIN', 'MILCDM', 'PATADMIN', 'PATSFTY', 'PERFMSR', 'RECORDMGT', 'SYSDEV', 'HTEST', 'TRAIN', 'FRAUD',
]);

export interface Disclosure {
  readonly date: string;
  readonly recipient: {
    /** The user: their fhirUser reference, else issuer and subject. */
    readonly user: string | null;
    readonly organisation: string | null;
    readonly client: string | null;
  };
  readonly description: readonly Released[];
  readonly purposeOfUse: readonly string[];
  readonly tpo: boolean;
  readonly breakGlass: boolean;
  /** The record it comes from (its delivery id). */
  readonly record: string;
}

export interface DisclosureOptions {
  readonly includeTpo: boolean;
  /** The organisation that operates the gateway (records carry no organisation of their own). */
  readonly organisation: string | null;
}

const codeOf = (purpose: string): string => purpose.slice(purpose.lastIndexOf('|') + 1);
export const isTpo = (purposes: readonly string[]): boolean => purposes.length > 0 && purposes.every((p) => TPO_PURPOSES.has(codeOf(p)));

function byTime(a: { time: string; deliveryId: string }, b: { time: string; deliveryId: string }): number {
  return a.time < b.time ? -1 : a.time > b.time ? 1 : a.deliveryId < b.deliveryId ? -1 : a.deliveryId > b.deliveryId ? 1 : 0;
}

export function disclosuresOf(records: Iterable<ReadableRecord>, patient: string, options: DisclosureOptions): Disclosure[] {
  const out: Array<Disclosure & { key: { time: string; deliveryId: string } }> = [];
  for (const record of records) {
    if (record.kind !== 'request') continue;
    const mine = releasedPatients(record).find((p) => p.patient === patient);
    if (mine === undefined) continue;
    const principal = record.principal;
    if (principal?.fhir_user === `Patient/${patient}`) continue;
    const purposes = [...(principal?.purpose_of_use ?? [])].sort();
    const tpo = isTpo(purposes);
    if (tpo && !options.includeTpo) continue;
    out.push({
      key: { time: record.time, deliveryId: record.deliveryId },
      date: record.time,
      recipient: { user: principal === null ? null : (principal.fhir_user ?? (principal.sub === null ? null : `${principal.iss}|${principal.sub}`)), organisation: options.organisation, client: principal?.client_id ?? null },
      description: [...mine.released].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0)),
      purposeOfUse: purposes,
      tpo,
      breakGlass: record.outcome.breakGlass,
      record: record.deliveryId,
    });
  }
  return out.sort((a, b) => byTime(a.key, b.key)).map(({ key: _key, ...d }) => d);
}

export function disclosuresCsv(list: readonly Disclosure[]): string {
  return csvOf(
    ['date', 'user', 'organisation', 'client', 'description', 'purpose_of_use', 'tpo', 'break_glass', 'record'],
    list.map((d) => [d.date, d.recipient.user ?? '', d.recipient.organisation ?? '', d.recipient.client ?? '', releasedText(d.description), d.purposeOfUse.join(' '), String(d.tpo), String(d.breakGlass), d.record]),
  );
}

/**
 * The FHIR form: a `collection` Bundle of BALP AuditEvents, each projected onto the patient (as the
 * access history shows them: nothing in it about another patient). Schema-2 records have no
 * patient list; their projection keeps only what concerns this patient.
 */
export function disclosuresFhir(records: readonly ReadableRecord[], list: readonly Disclosure[], patient: string, publicBaseUrl: string): Record<string, unknown> {
  const byId = new Map(records.filter((r): r is AnyRequestRecord => r.kind === 'request').map((r) => [r.deliveryId, r]));
  const entry = list.map((d) => {
    const record = byId.get(d.record) as AnyRequestRecord;
    const current: RequestRecord = 'patients' in record ? record : { ...record, schemaVersion: 3, patients: { released: [{ id: patient, types: Object.fromEntries(d.description.map((r) => [r.type, r.count])) }], releasedCount: 1, withheld: [], withheldCount: 0, changed: [], changedCount: 0 } };
    return { resource: toAuditEvent(projectOnto(current, patient), { publicBaseUrl }, `Patient/${patient}`) };
  });
  return { resourceType: 'Bundle', type: 'collection', total: entry.length, entry };
}
