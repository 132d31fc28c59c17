// Finds what must never be in a log line: the seeded synthetic patients' names, MRNs, phone numbers
// and birth dates, the practitioner's name, and anything shaped like a token (a JWT, a bearer or
// DPoP credential). Used by scripts/check-logs.mjs over the logs of a whole test run.

/** Patterns that look like credentials, whatever their value. */
export const TOKEN_PATTERNS = [
  { name: 'jwt', pattern: /eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/ },
  { name: 'bearer credential', pattern: /\b(?:Bearer|DPoP)\s+[A-Za-z0-9._~+/-]{16,}=*/ },
];

/** The seeded values that identify a person, as literal needles (case-sensitive, whole words). */
export function seededNeedles(patients, practitioner) {
  const needles = [];
  for (const p of patients) {
    needles.push({ name: `${p.id} given name`, value: p.given }, { name: `${p.id} family name`, value: p.family }, { name: `${p.id} MRN`, value: p.mrn });
    needles.push({ name: `${p.id} phone`, value: p.phone }, { name: `${p.id} birth date`, value: p.birthDate });
  }
  needles.push({ name: 'practitioner given name', value: practitioner.given }, { name: 'practitioner family name', value: practitioner.family });
  return needles;
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every finding in `text`: `{ line, what }`, with line numbers from 1. The value itself is not echoed. */
export function scanText(text, needles) {
  const literal = needles.map((n) => ({ name: n.name, pattern: new RegExp(`(?<![A-Za-z0-9])${escape(n.value)}(?![A-Za-z0-9])`) }));
  const findings = [];
  text.split('\n').forEach((line, i) => {
    for (const { name, pattern } of [...literal, ...TOKEN_PATTERNS]) if (pattern.test(line)) findings.push({ line: i + 1, what: name });
  });
  return findings;
}
