#!/usr/bin/env node
// Fails when a committed generated file (FHIR tables, JSON Schemas, the reason catalogue's outputs, the SMART permission table) differs from what its generator
// produces now: the sources changed and `npm run generate` was not run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-gen-'));
const stale = [];
try {
  const tables = path.join(tmp, 'r4.ts');
  execFileSync('node', [path.join(root, 'scripts/generate-fhir-tables.mjs'), tables], { stdio: 'ignore' });
  if (!readFileSync(tables).equals(readFileSync(path.join(root, 'src/fhir/generated/r4.ts')))) stale.push('src/fhir/generated/r4.ts');
  const searchPaths = path.join(tmp, 'r4-search-paths.ts');
  execFileSync('node', [path.join(root, 'scripts/generate-search-paths.mjs'), searchPaths], { stdio: 'ignore' });
  if (!readFileSync(searchPaths).equals(readFileSync(path.join(root, 'src/fhir/generated/r4-search-paths.ts')))) stale.push('src/fhir/generated/r4-search-paths.ts');
  const elementTypes = path.join(tmp, 'r4-elements.ts');
  execFileSync('node', [path.join(root, 'scripts/generate-element-types.mjs'), elementTypes], { stdio: 'ignore' });
  if (!readFileSync(elementTypes).equals(readFileSync(path.join(root, 'src/fhir/generated/r4-elements.ts')))) stale.push('src/fhir/generated/r4-elements.ts');

  const scopeTable = path.join(tmp, 'smart-permissions.ts');
  execFileSync('node', [path.join(root, 'scripts/generate-scope-table.mjs'), scopeTable], { stdio: 'ignore' });
  if (!readFileSync(scopeTable).equals(readFileSync(path.join(root, 'src/auth/generated/smart-permissions.ts')))) stale.push('src/auth/generated/smart-permissions.ts');
  // The reason catalogue's outputs (Rego constants, TypeScript, the docs/errors.md table): the generator checks them itself.
  try {
    execFileSync('node', [path.join(root, 'scripts/generate-reasons.mjs'), '--check'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    stale.push(...String(err.stderr).trim().split('\n').map((l) => l.split(' is stale')[0]));
  }

  execFileSync('npx', ['tsc', '-p', path.join(root, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  execFileSync('node', [path.join(root, 'scripts/generate-schemas.mjs'), tmp], { stdio: 'ignore' });
  for (const file of readdirSync(tmp).filter((f) => f.endsWith('.schema.json'))) {
    let committed = null;
    try {
      committed = readFileSync(path.join(root, 'schemas', file));
    } catch {}
    if (committed === null || !committed.equals(readFileSync(path.join(tmp, file)))) stale.push(`schemas/${file}`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
if (stale.length > 0) {
  console.error(`generated files are stale: ${stale.join(', ')}\nRun \`npm run generate\` and commit the result.`);
  process.exit(1);
}
console.log('generated files are current');
