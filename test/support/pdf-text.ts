/**
 * What a PDF says, read without the library that wrote it: every stream is inflated (zlib, the
 * FlateDecode filter), the text-showing operators (`<hex> Tj`, `(literal) Tj`) of the content
 * streams decoded as the standard fonts' single-byte encoding, and the page objects counted in the
 * (compressed) object streams. Enough for a test to check what a generated report prints.
 */
import { inflateSync } from 'node:zlib';

export interface PdfText {
  /** Each shown string, in drawing order. */
  readonly strings: readonly string[];
  readonly pages: number;
}

function streamsOf(pdf: Buffer): string[] {
  const out: string[] = [];
  const text = pdf.toString('latin1');
  const dict = /<<((?:(?!>>)[\s\S])*?\/Length (\d+)(?:(?!>>)[\s\S])*?)>>\s*stream\r?\n/g;
  for (let m = dict.exec(text); m; m = dict.exec(text)) {
    const start = m.index + m[0].length;
    const body = pdf.subarray(start, start + Number(m[2]));
    out.push(/\/FlateDecode/.test(m[1] as string) ? inflateSync(body).toString('latin1') : body.toString('latin1'));
  }
  return out;
}

const literal = (s: string): string => s.replace(/\\([nrtbf()\\]|\d{1,3})/g, (_, e: string) => (/\d/.test(e) ? String.fromCharCode(parseInt(e, 8)) : ({ n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' } as Record<string, string>)[e] ?? e));

export function pdfText(pdf: Buffer): PdfText {
  const strings: string[] = [];
  let pages = 0;
  for (const s of streamsOf(pdf)) {
    pages += (s.match(/\/Type \/Page(?![s\w])/g) ?? []).length;
    for (const m of s.matchAll(/(?:<([0-9A-Fa-f\s]*)>|\(((?:\\.|[^\\)])*)\))\s*Tj/g)) {
      strings.push(m[1] !== undefined ? Buffer.from(m[1].replace(/\s/g, ''), 'hex').toString('latin1') : literal(m[2] ?? ''));
    }
  }
  return { strings, pages };
}
