#!/usr/bin/env node
// Writes what the policy reason catalogue (src/policy/reasons.json) feeds: the Rego package of
// constants policies use (policies/fhirgw/lib/reasons.rego), the TypeScript module
// (src/policy/generated/reasons.ts) and the policy table of docs/errors.md (between its markers).
//   node scripts/generate-reasons.mjs           write them
//   node scripts/generate-reasons.mjs --check   exit 1 naming each one that differs (check:generated)
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A TypeScript single-quoted string literal. */
const q = (s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CATALOGUE = 'src/policy/reasons.json';
const REGO = 'policies/fhirgw/lib/reasons.rego';
const TS = 'src/policy/generated/reasons.ts';
const DOC = 'docs/errors.md';
export const DOC_START = '<!-- policy-reasons:start (generated from src/policy/reasons.json by `npm run generate`) -->';
export const DOC_END = '<!-- policy-reasons:end -->';

/** `consent.deny.base` -> `consent_deny_base`, `break-glass` -> `break_glass`: the Rego and TypeScript name of a code. */
export function constantName(code) {
  return code.replace(/[.-]/g, '_');
}

export function render(catalogue) {
  const codes = catalogue.groups.flatMap((g) => g.codes);
  const seen = new Set();
  for (const code of codes) {
    if (!/^[a-z0-9][a-z0-9_.-]{0,99}$/.test(code)) throw new Error(`${CATALOGUE}: ${code} is not a valid reason code`);
    if (seen.has(constantName(code))) throw new Error(`${CATALOGUE}: ${code} is listed twice (or collides with another code's name)`);
    seen.add(constantName(code));
  }
  const sorted = [...codes].sort();
  const rego = [
    '# METADATA',
    '# title: Reason codes',
    '# description: |',
    '#   The reason codes the shipped policy gives, as constants: a misspelt name is a compile error',
    '#   (opa check --strict), where a misspelt string would be a new code nobody documented.',
    `#   Generated from ${CATALOGUE} by scripts/generate-reasons.mjs (npm run generate): edit the`,
    '#   catalogue, not this file.',
    'package fhirgw.lib.reasons',
    '',
    ...sorted.flatMap((c) => [`${constantName(c)} := ${JSON.stringify(c)}`, '']),
  ].join('\n');
  const ts = [
    `// Generated from ${CATALOGUE} by scripts/generate-reasons.mjs (npm run generate). Do not edit.`,
    '/** The reason codes the shipped policy gives (their meaning: docs/errors.md, or the catalogue). */',
    'export const POLICY_REASON_CODES = [',
    ...codes.map((c) => `  ${q(c)},`),
    '] as const;',
    '',
    'export type PolicyReason = (typeof POLICY_REASON_CODES)[number];',
    '',
    '/** The same codes by the name the Rego package fhirgw.lib.reasons gives them. */',
    'export const POLICY_REASON = {',
    ...sorted.map((c) => `  ${constantName(c)}: ${q(c)},`),
    '} as const satisfies Record<string, PolicyReason>;',
    '',
  ].join('\n');
  const table = [
    DOC_START,
    '| Reason | Stage | Meaning |',
    '| --- | --- | --- |',
    ...catalogue.groups.map((g) => `| ${g.codes.map((c) => `\`${c}\``).join(', ')} | ${g.stage} | ${g.meaning} |`),
    DOC_END,
  ].join('\n');
  return { rego, ts, table };
}

function withTable(doc, table) {
  const start = doc.indexOf(DOC_START);
  const end = doc.indexOf(DOC_END);
  if (start < 0 || end < start) throw new Error(`${DOC}: the markers ${DOC_START} ... ${DOC_END} are missing`);
  return doc.slice(0, start) + table + doc.slice(end + DOC_END.length);
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { rego, ts, table } = render(JSON.parse(readFileSync(path.join(root, CATALOGUE), 'utf8')));
  const doc = readFileSync(path.join(root, DOC), 'utf8');
  const wanted = { [REGO]: rego, [TS]: ts, [DOC]: withTable(doc, table) };
  if (process.argv.includes('--check')) {
    const stale = Object.entries(wanted).filter(([file, text]) => {
      try {
        return readFileSync(path.join(root, file), 'utf8') !== text;
      } catch {
        return true;
      }
    });
    for (const [file] of stale) console.error(`${file} is stale: it differs from what ${CATALOGUE} generates`);
    process.exit(stale.length > 0 ? 1 : 0);
  }
  for (const [file, text] of Object.entries(wanted)) writeFileSync(path.join(root, file), text);
  console.log(`wrote ${Object.keys(wanted).join(', ')} from ${CATALOGUE}`);
}
