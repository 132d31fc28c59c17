/**
 * The accounting of disclosures (disclosures.ts) as a PDF for the patient who asked for it (HIPAA
 * 45 CFR 164.528 wants it in writing): A4 landscape pages with a title, the patient, the period,
 * when it was generated, and a table of the disclosures (date, recipient, client application,
 * what was disclosed, purpose), its header repeated on every page, pages numbered "n of m".
 * Drawn with pdf-lib in the standard Helvetica fonts (WinAnsi: characters outside it print as `?`).
 */
import { PDFDocument, rgb, StandardFonts, type PDFFont, type PDFPage } from 'pdf-lib';
import { releasedText } from './csv.js';
import type { Disclosure } from './disclosures.js';

export interface DisclosuresPdfOptions {
  readonly patient: string;
  readonly window: { readonly from: Date; readonly to: Date };
  readonly includeTpo: boolean;
  readonly generatedAt: Date;
  /** The organisation that operates the gateway, named under the title (records carry none). */
  readonly organisation?: string | null;
}

const PAGE: [number, number] = [841.89, 595.28]; // A4 landscape, points
const MARGIN = 40;
const SIZE = 9;
const LINE = 12;
const COLUMNS: ReadonlyArray<{ title: string; width: number; cell: (d: Disclosure) => string }> = [
  { title: 'Date (UTC)', width: 110, cell: (d) => d.date.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') },
  { title: 'Recipient', width: 190, cell: (d) => [d.recipient.user ?? 'unidentified user', d.recipient.organisation].filter(Boolean).join(', ') },
  { title: 'Client application', width: 120, cell: (d) => d.recipient.client ?? '' },
  { title: 'What was disclosed', width: 180, cell: (d) => releasedText(d.description) },
  { title: 'Purpose', width: 90, cell: (d) => d.purposeOfUse.join(' ') || 'not stated' },
  { title: 'Break-glass', width: 70, cell: (d) => (d.breakGlass ? 'yes' : '') },
];

/** Only what the standard fonts can encode (WinAnsi), the rest as `?`. */
const printable = (text: string): string => text.replace(/[^\x20-\x7e\xa0-\xff]/g, '?');

/** The text cut into lines no wider than `width` (long words broken by character). */
function wrap(text: string, font: PDFFont, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  const fits = (t: string): boolean => font.widthOfTextAtSize(t, SIZE) <= width;
  for (const word of printable(text).split(/\s+/).filter(Boolean)) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (fits(candidate)) {
      line = candidate;
      continue;
    }
    if (line !== '') lines.push(line);
    line = '';
    let rest = word;
    while (!fits(rest)) {
      let n = rest.length - 1;
      while (n > 1 && !fits(rest.slice(0, n))) n--;
      lines.push(rest.slice(0, n));
      rest = rest.slice(n);
    }
    line = rest;
  }
  if (line !== '') lines.push(line);
  return lines.length > 0 ? lines : [''];
}

export async function disclosuresPdf(list: readonly Disclosure[], options: DisclosuresPdfOptions): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  doc.setTitle(`Accounting of disclosures: patient ${options.patient}`);
  doc.setSubject(`Disclosures from ${options.window.from.toISOString()} to ${options.window.to.toISOString()}`);
  doc.setProducer('fhir-privacy-gateway');
  doc.setCreationDate(options.generatedAt);
  const regular = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  const grey = rgb(0.35, 0.35, 0.35);

  let page: PDFPage;
  let y = 0;
  const text = (t: string, x: number, at: number, font: PDFFont = regular, size = SIZE): void => page.drawText(printable(t), { x, y: at, size, font, color: rgb(0, 0, 0) });
  const tableHeader = (): void => {
    let x = MARGIN;
    for (const c of COLUMNS) {
      text(c.title, x, y, bold);
      x += c.width;
    }
    y -= 4;
    page.drawLine({ start: { x: MARGIN, y }, end: { x: PAGE[0] - MARGIN, y }, thickness: 0.7, color: grey });
    y -= LINE;
  };
  const newPage = (first: boolean): void => {
    page = doc.addPage(PAGE);
    y = PAGE[1] - MARGIN;
    if (first) {
      text('Accounting of disclosures', MARGIN, y - 8, bold, 18);
      y -= 34;
      const facts: Array<[string, string]> = [
        ['Patient', options.patient],
        ...(options.organisation ? [['Organisation', options.organisation] as [string, string]] : []),
        ['Period', `${options.window.from.toISOString()} to ${options.window.to.toISOString()} (end exclusive)`],
        ['Generated at', options.generatedAt.toISOString()],
        ['Disclosures', `${list.length}${options.includeTpo ? ' (including treatment, payment and health care operations)' : ' (treatment, payment and health care operations left out, 45 CFR 164.528(a)(1)(i))'}`],
      ];
      for (const [k, v] of facts) {
        text(`${k}:`, MARGIN, y, bold, 10);
        text(v, MARGIN + 80, y, regular, 10);
        y -= 14;
      }
      y -= 10;
    } else {
      text(`Accounting of disclosures: patient ${options.patient} (continued)`, MARGIN, y, bold, 10);
      y -= 20;
    }
    tableHeader();
  };

  newPage(true);
  if (list.length === 0) text('No disclosures in this period.', MARGIN, y);
  for (const d of list) {
    const cells = COLUMNS.map((c) => wrap(c.cell(d), regular, c.width - 8));
    const height = Math.max(...cells.map((c) => c.length)) * LINE;
    if (y - height < MARGIN + LINE) newPage(false);
    let x = MARGIN;
    cells.forEach((lines, i) => {
      lines.forEach((l, n) => text(l, x, y - n * LINE));
      x += (COLUMNS[i] as (typeof COLUMNS)[number]).width;
    });
    y -= height + 4;
  }

  const pages = doc.getPages();
  pages.forEach((p, i) => {
    p.drawText(`Page ${i + 1} of ${pages.length}`, { x: PAGE[0] - MARGIN - 60, y: MARGIN / 2, size: 8, font: regular, color: grey });
    p.drawText(`fhir-privacy-gateway, generated ${options.generatedAt.toISOString()}`, { x: MARGIN, y: MARGIN / 2, size: 8, font: regular, color: grey });
  });
  return doc.save();
}
