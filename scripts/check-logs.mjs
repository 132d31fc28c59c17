#!/usr/bin/env node
// `npm test` ends here: every test gateway logged at trace level into .tmp/test-logs (test/support/logs.ts);
// no line of them may carry a seeded patient's name, MRN, phone or birth date, or anything token-shaped.
//   node scripts/check-logs.mjs --clean   empties the directory (before the suites run)
//   node scripts/check-logs.mjs           scans it; exit 1 with file:line and what was found
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanText, seededNeedles } from './lib/log-scan.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, '.tmp/test-logs');

if (process.argv.includes('--clean')) {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

// The compiled package (check:generated builds it before the suites run).
const { SYNTHETIC_PATIENTS, SYNTHETIC_PRACTITIONER } = await import(path.join(root, 'dist/devkit/synthetic-data.js'));
const needles = seededNeedles(SYNTHETIC_PATIENTS, SYNTHETIC_PRACTITIONER);
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.log')) : [];
if (files.length === 0) {
  console.error('check:logs: no test logs in .tmp/test-logs (run the suites first)');
  process.exit(1);
}
let lines = 0;
const findings = [];
for (const file of files) {
  const text = readFileSync(path.join(dir, file), 'utf8');
  lines += text.split('\n').length - 1;
  for (const f of scanText(text, needles)) findings.push(`${path.join('.tmp/test-logs', file)}:${f.line}: ${f.what}`);
}
if (findings.length > 0) {
  console.error(`check:logs: ${findings.length} log line(s) carry patient data or credentials:\n${findings.slice(0, 50).join('\n')}`);
  process.exit(1);
}
console.log(`check:logs: ${lines} lines in ${files.length} test logs, no patient data and no tokens`);
