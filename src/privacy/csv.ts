import type { Released } from '../cases/case.js';

/** CSV (RFC 4180) of the privacy office's reports: a header line, then one line per row, each ending in LF. */
export const csvCell = (value: string): string => (/[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

export function csvOf(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return `${[header.join(','), ...rows.map((r) => r.map(csvCell).join(','))].join('\n')}\n`;
}

/** What was released, in words: `Observation 3; Patient 1`. */
export const releasedText = (released: readonly Released[]): string => released.map((r) => `${r.type} ${r.count}`).join('; ');
