/**
 * The privacy office's reports read from the audit store: the accounting of disclosures of a
 * patient and the breach scope of a subject, client, token or address, with the hash chain of
 * every record read checked (an edited record, or one missing between two that were read, is
 * reported). The I/O edge of disclosures.ts and breach-scope.ts; the CLI and the admin API share it.
 */
import { verifyChain, type ChainKey, type RawEntry } from '../audit/chain.js';
import type { ReadableRecord } from '../audit/record.js';
import type { AuditStoreReader, RecordFilter } from '../audit/store/query.js';
import { breachScopeOf, type BreachScope } from './breach-scope.js';
import { disclosuresOf, type Disclosure, type DisclosureOptions } from './disclosures.js';

export type BreachSelector =
  | { readonly subject: { readonly iss: string; readonly sub: string } }
  | { readonly client: string }
  | { readonly jti: string }
  | { readonly address: string };

export interface Window {
  readonly from: Date;
  /** Exclusive. */
  readonly to: Date;
}

async function collect(reader: AuditStoreReader, filter: RecordFilter): Promise<ReadableRecord[]> {
  const out: ReadableRecord[] = [];
  for await (const s of reader.scan(filter)) out.push(s.record);
  return out;
}

/** The chain of each instance the records belong to, from the first to the last record read. */
export async function checkChains(reader: AuditStoreReader, records: readonly ReadableRecord[], key: ChainKey): Promise<NonNullable<BreachScope['chain']>> {
  const ranges = new Map<string, { min: number; max: number }>();
  for (const r of records) {
    const range = ranges.get(r.chain.instance);
    if (!range) ranges.set(r.chain.instance, { min: r.chain.seq, max: r.chain.seq });
    else {
      range.min = Math.min(range.min, r.chain.seq);
      range.max = Math.max(range.max, r.chain.seq);
    }
  }
  let checked = 0;
  for (const [instance, { min, max }] of [...ranges].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const entries: RawEntry[] = [];
    for await (const e of reader.chainEntries(instance)) {
      const seq = Number(e.position.slice(e.position.lastIndexOf('#') + 1));
      if (seq >= min && seq <= max) entries.push(e);
    }
    const report = verifyChain(entries, key);
    checked += report.records;
    if (report.problem !== null) return { ok: false, checked, problem: report.problem };
    // A record read whose sequence number is past what the chain holds was never in it.
    const seen = report.instances[instance];
    if (seen === undefined || seen.first !== min || seen.last !== max) {
      return { ok: false, checked, problem: { kind: 'missing', position: `${instance}#${min}`, instance, seq: min, detail: `the chain of ${instance} does not hold seq ${min}..${max} as read` } };
    }
  }
  return { ok: true, checked, problem: null };
}

export async function breachScope(reader: AuditStoreReader, selector: BreachSelector, window: Window, key: ChainKey): Promise<BreachScope> {
  const records = await collect(reader, { kind: 'request', ...selector, from: window.from, before: window.to });
  return { ...breachScopeOf(records), chain: await checkChains(reader, records, key) };
}

export async function disclosures(reader: AuditStoreReader, patient: string, window: Window, options: DisclosureOptions): Promise<{ records: ReadableRecord[]; disclosures: Disclosure[] }> {
  const records = await collect(reader, { kind: 'request', patient, from: window.from, before: window.to });
  return { records, disclosures: disclosuresOf(records, patient, options) };
}
