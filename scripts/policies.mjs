#!/usr/bin/env node
// Policy toolchain for this repository, run through npm scripts (the same steps as
// `fhir-gateway policy build|test`, from src/policy/toolchain.ts):
//   build   compile policies/ into policies/dist/bundle.tar.gz (opa build -t wasm)
//   check   fail if the shipped bundle differs from a fresh build of the sources (CI)
//   test    opa fmt (must be clean), opa check --strict, opa test -t wasm, coverage >= threshold
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureOpa, ROOT } from './lib/opa.mjs';

const POLICIES = path.join(ROOT, 'policies');
const BUNDLE = path.join(POLICIES, 'dist', 'bundle.tar.gz');

// The toolchain is TypeScript; compile it first when dist/ is missing or older than its source.
const compiled = path.join(ROOT, 'dist/policy/toolchain.js');
const source = path.join(ROOT, 'src/policy/toolchain.ts');
if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
  execFileSync('npx', ['tsc', '-p', path.join(ROOT, 'tsconfig.json')], { cwd: ROOT, stdio: 'inherit' });
}
const { buildBundle, testPolicies, ToolchainError } = await import(compiled);

const opa = ensureOpa();
try {
  run(process.argv[2]);
} catch (err) {
  // opa has already printed what failed; a Node stack trace would only bury it.
  if (err instanceof ToolchainError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

function run(command) {
  switch (command) {
    case 'build': {
      const { revision } = buildBundle(opa, POLICIES, BUNDLE);
      console.log(`built ${path.relative(ROOT, BUNDLE)} (revision ${revision})`);
      break;
    }
    case 'check': {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-bundle-'));
      try {
        const { out, revision } = buildBundle(opa, POLICIES, path.join(tmp, 'bundle.tar.gz'));
        if (!readFileSync(out).equals(readFileSync(BUNDLE))) {
          console.error('policies/dist/bundle.tar.gz is stale: it differs from a build of policies/. Run `npm run build:policies` and commit it.');
          process.exit(1);
        }
        console.log(`policies/dist/bundle.tar.gz is current (revision ${revision})`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      break;
    }
    case 'test': {
      const result = testPolicies(opa, POLICIES);
      console.log(`policy line coverage: ${result.coverage.toFixed(1)}% (threshold ${result.threshold}%)`);
      for (const [file, lines] of Object.entries(result.uncovered)) console.log(`  not covered: ${file}: ${lines.join(', ')}`);
      if (!result.passed) process.exit(1);
      break;
    }
    default:
      console.error('usage: node scripts/policies.mjs build|check|test');
      process.exit(2);
  }
}
