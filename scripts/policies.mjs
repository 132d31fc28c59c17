#!/usr/bin/env node
// Policy toolchain, run through npm scripts:
//   build   compile policies/ into policies/dist/bundle.tar.gz (opa build -t wasm)
//   check   fail if the shipped bundle differs from a fresh build of the sources (CI)
//   test    opa fmt (must be clean), opa check --strict, opa test -t wasm, coverage >= threshold
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureOpa, ROOT } from './lib/opa.mjs';

const POLICIES = path.join(ROOT, 'policies');
const BUNDLE = path.join(POLICIES, 'dist', 'bundle.tar.gz');
const ENTRYPOINTS = ['fhirgw/request/decision', 'fhirgw/resource/decision', 'fhirgw/resources/decisions'];
const IGNORE = ['--ignore', '*_test.rego', '--ignore', 'dist', '--ignore', 'tests'];
const COVERAGE_THRESHOLD = 90;

function sourceFiles(dir = POLICIES) {
  return readdirSync(dir)
    .flatMap((name) => {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) return name === 'dist' || name === 'tests' ? [] : sourceFiles(full);
      return /\.(rego|json)$/.test(name) && !name.endsWith('_test.rego') ? [full] : [];
    })
    .sort();
}

/** The bundle revision: a hash of the policy sources, so the same sources always give the same bundle. */
function revision() {
  const h = createHash('sha256');
  for (const f of sourceFiles()) h.update(path.relative(POLICIES, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

function build(opa, out) {
  execFileSync(opa, ['build', '-t', 'wasm', ...ENTRYPOINTS.flatMap((e) => ['-e', e]), '--revision', revision(), ...IGNORE, '-o', out, '.'], {
    cwd: POLICIES,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

const command = process.argv[2];
const opa = ensureOpa();
try {
  run(command);
} catch (err) {
  // opa has already printed what failed; a Node stack trace would only bury it.
  if (err && typeof err === 'object' && 'status' in err) process.exit(1);
  throw err;
}

function run(command) {
  switch (command) {
    case 'build':
      build(opa, BUNDLE);
      console.log(`built ${path.relative(ROOT, BUNDLE)} (revision ${revision()})`);
      break;
    case 'check': {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-bundle-'));
      try {
        const fresh = path.join(tmp, 'bundle.tar.gz');
        build(opa, fresh);
        if (!readFileSync(fresh).equals(readFileSync(BUNDLE))) {
          console.error('policies/dist/bundle.tar.gz is stale: it differs from a build of policies/. Run `npm run build:policies` and commit it.');
          process.exit(1);
        }
        console.log(`policies/dist/bundle.tar.gz is current (revision ${revision()})`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      break;
    }
    case 'test': {
      const opaRun = (args) => execFileSync(opa, args, { cwd: POLICIES, stdio: ['ignore', 'inherit', 'inherit'] });
      opaRun(['fmt', '--list', '--fail', '.']);
      opaRun(['check', '--strict', '--ignore', 'dist', '.']);
      opaRun(['test', '-t', 'wasm', '--ignore', 'dist', '.']);
      const report = JSON.parse(execFileSync(opa, ['test', '--coverage', '--ignore', 'dist', '.'], { cwd: POLICIES, encoding: 'utf8' }));
      const coverage = Object.entries(report.files)
        .filter(([file]) => !file.startsWith('tests/'))
        .reduce((acc, [, f]) => ({ covered: acc.covered + (f.covered_lines ?? 0), total: acc.total + (f.covered_lines ?? 0) + (f.not_covered_lines ?? 0) }), { covered: 0, total: 0 });
      const pct = (100 * coverage.covered) / coverage.total;
      console.log(`policy line coverage: ${pct.toFixed(1)}% (threshold ${COVERAGE_THRESHOLD}%)`);
      if (pct < COVERAGE_THRESHOLD) process.exit(1);
      break;
    }
    default:
      console.error('usage: node scripts/policies.mjs build|check|test');
      process.exit(2);
  }
}
