#!/usr/bin/env node
// Writes src/auth/generated/smart-permissions.ts from the shipped policy's data
// (policies/fhirgw/config/data.json): the SMART permission each interaction needs and the
// permission and scope contexts of each allowed operation. Policy decides with that data; the
// gateway names the scope a refused request would need (insufficient_scope) from the same table,
// so the two cannot drift apart.
//   node scripts/generate-scope-table.mjs [out.ts]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A TypeScript single-quoted string literal. */
const q = (s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = 'policies/fhirgw/config/data.json';
const out = process.argv[2] ?? path.join(root, 'src/auth/generated/smart-permissions.ts');
const config = JSON.parse(readFileSync(path.join(root, SOURCE), 'utf8'));

const PERMS = new Set(['c', 'r', 'u', 'd', 's']);
const CONTEXTS = new Set(['patient', 'user', 'system']);
for (const [name, perm] of Object.entries(config.interaction_permissions)) {
  if (!PERMS.has(perm)) throw new Error(`${SOURCE}: interaction_permissions.${name} is ${perm}, not one of c r u d s`);
}
for (const [name, op] of Object.entries(config.operations)) {
  if (!PERMS.has(op.perm)) throw new Error(`${SOURCE}: operations.${name}.perm is ${op.perm}, not one of c r u d s`);
  for (const c of op.contexts) if (!CONTEXTS.has(c)) throw new Error(`${SOURCE}: operations.${name}.contexts has ${c}`);
  if (op.contexts.length === 0) throw new Error(`${SOURCE}: operations.${name}.contexts is empty`);
}

const text = [
  `// Generated from ${SOURCE} by scripts/generate-scope-table.mjs (npm run generate). Do not edit:`,
  '// change the policy data, then regenerate.',
  "import type { FhirRequest } from '../../fhir/request.js';",
  "import type { Permission, ScopeContext } from '../scopes.js';",
  '',
  '/** The SMART permission each interaction needs (data.fhirgw.config.interaction_permissions); absent: none of its own. */',
  'export const INTERACTION_PERMISSION = {',
  ...Object.entries(config.interaction_permissions).map(([k, v]) => `  ${q(k)}: ${q(v)},`),
  "} as const satisfies Partial<Record<FhirRequest['interaction'], Permission>>;",
  '',
  '/** Allowed operations (data.fhirgw.config.operations): the permission they need on a wildcard (`*`) scope, in one of these contexts. */',
  'export const OPERATION_PERMISSION: Readonly<Record<string, { readonly perm: Permission; readonly contexts: readonly ScopeContext[] }>> = {',
  ...Object.entries(config.operations).map(([k, v]) => `  ${q(k)}: { perm: ${q(v.perm)}, contexts: [${v.contexts.map(q).join(', ')}] },`),
  '};',
  '',
].join('\n');
writeFileSync(out, text);
if (!process.argv[2]) console.log(`wrote ${path.relative(root, out)} from ${SOURCE}`);
