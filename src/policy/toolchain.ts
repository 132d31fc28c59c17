/**
 * The policy toolchain around the `opa` binary: build a policy directory into the WebAssembly bundle
 * the gateway loads, and test it the way CI does. Used by `fhir-gateway policy build|test` and by
 * the repository's own scripts (scripts/policies.mjs), so a security team and CI run the same steps.
 *
 * The bundle revision is a hash of the sources, so the same sources always build the same bytes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTwoFilesPatch } from 'diff';
import { ENTRYPOINTS } from './contract.js';

/** Directories of a policy tree that are not policy sources. */
const NOT_SOURCES = new Set(['dist', 'tests']);
const IGNORE = ['--ignore', '*_test.rego', '--ignore', 'dist', '--ignore', 'tests'];
export const DEFAULT_COVERAGE_THRESHOLD = 90;

export class ToolchainError extends Error {
  override readonly name = 'ToolchainError';
}

/**
 * The `opa` to run: `$FHIRGW_OPA`, else the pinned one the project installs into .tools/bin, else
 * `opa` on PATH.
 */
export function findOpa(env: NodeJS.ProcessEnv = process.env): string {
  if (env['FHIRGW_OPA']) return env['FHIRGW_OPA'];
  const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const pinned = path.join(packageRoot, '.tools', 'bin', 'opa');
  if (existsSync(pinned)) return pinned;
  const probe = spawnSync('opa', ['version'], { encoding: 'utf8' });
  if (probe.status === 0) return 'opa';
  throw new ToolchainError('opa was not found: set FHIRGW_OPA, put opa on PATH, or run `node scripts/install-tools.mjs` in the repository');
}

/** Policy sources (Rego and data files, not tests), sorted, as absolute paths. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) return NOT_SOURCES.has(name) ? [] : sourceFiles(full);
      return /\.(rego|json)$/.test(name) && !name.endsWith('_test.rego') ? [full] : [];
    })
    .sort();
}

/** The revision a build of `dir` gets: 16 hex digits of a hash over the sources' paths and bytes. */
export function sourceRevision(dir: string): string {
  const h = createHash('sha256');
  for (const f of sourceFiles(dir)) h.update(path.relative(dir, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

export interface BuildResult {
  readonly out: string;
  readonly revision: string;
}

/**
 * The JSON Schemas of the policy input (generated from the zod contract the gateway validates
 * with, src/policy/contract.ts), shipped with the package. Policy packages name theirs in a
 * METADATA `schemas:` annotation (`input: schema["policy-input.request.schema"]`), and
 * `opa check --strict --schema` then types every read of input against it: a misspelt field, or
 * one the gateway never sends, fails the build instead of being silently undefined (a deny, or
 * worse, a missed deny).
 */
export const SCHEMA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../schemas');

/** `opa check --strict` with the contract's schemas: the sources and their tests. */
export function checkPolicies(opa: string, dir: string, schemas: string = SCHEMA_DIR): void {
  if (!existsSync(schemas)) throw new ToolchainError(`the policy input schemas are missing: ${schemas}`);
  runOpa(opa, ['check', '--strict', '--schema', schemas, '--ignore', 'dist', '.'], dir);
}

/** `opa check` (as checkPolicies), then `opa build -t wasm` with the gateway's entry points; opa's own diagnostics go to stderr. */
export function buildBundle(opa: string, dir: string, out: string, schemas: string = SCHEMA_DIR): BuildResult {
  const revision = sourceRevision(dir);
  checkPolicies(opa, dir, schemas);
  runOpa(opa, ['build', '-t', 'wasm', ...Object.values(ENTRYPOINTS).flatMap((e) => ['-e', e]), '--revision', revision, ...IGNORE, '-o', path.resolve(out), '.'], dir);
  return { out, revision };
}

export interface TestResult {
  readonly coverage: number;
  readonly threshold: number;
  readonly passed: boolean;
  /** Per source file (relative to the tree), the lines no test reaches, as ranges ("51", "54-56"). */
  readonly uncovered: Readonly<Record<string, readonly string[]>>;
}

/**
 * What CI demands of a policy tree: formatted (`opa fmt`), strict-clean and typed against the input
 * schemas (`opa check --strict --schema`),
 * tests passing on the WebAssembly target (a built-in WASM lacks fails here, not in production),
 * and line coverage of the sources at or above the threshold.
 */
export function testPolicies(opa: string, dir: string, threshold = DEFAULT_COVERAGE_THRESHOLD, schemas: string = SCHEMA_DIR): TestResult {
  checkFormatted(opa, dir);
  checkPolicies(opa, dir, schemas);
  runOpa(opa, ['test', '-t', 'wasm', '--ignore', 'dist', '.'], dir);
  const report = JSON.parse(execFileSync(opa, ['test', '--coverage', '--ignore', 'dist', '.'], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as CoverageReport;
  const coverage = sourceCoverage(report);
  return { coverage, threshold, passed: coverage >= threshold, uncovered: uncoveredLines(report) };
}

/**
 * `opa fmt --list --fail`, and when a file is not formatted, the diff opa would apply and the
 * command that applies it, so the author does not have to guess what the formatter wants.
 */
function checkFormatted(opa: string, dir: string): void {
  const list = spawnSync(opa, ['fmt', '--list', '--fail', '.'], { cwd: dir, encoding: 'utf8' });
  if (list.error) throw new ToolchainError(`cannot run ${opa}: ${list.error.message}`);
  if (list.status === 0) return;
  const files = list.stdout.split('\n').filter((l) => l.trim() !== '');
  // opa's own --diff is a coloured word diff; a unified diff reads anywhere, CI logs included.
  const diffs = files.map((file) => {
    const formatted = spawnSync(opa, ['fmt', file], { cwd: dir, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    return createTwoFilesPatch(`a/${file}`, `b/${file}`, readFileSync(path.join(dir, file), 'utf8'), formatted.stdout ?? '', undefined, undefined, { context: 2 })
      .split('\n')
      .filter((l) => !l.startsWith('====='))
      .join('\n')
      .trimEnd();
  });
  throw new ToolchainError([`opa fmt: ${files.length} file${files.length === 1 ? ' is' : 's are'} not formatted: ${files.join(', ')}`, ...diffs, `fix with: ${opa} fmt -w ${dir}`].join('\n'));
}

interface CoverageReport {
  readonly files: Record<
    string,
    { readonly covered_lines?: number; readonly not_covered_lines?: number; readonly not_covered?: readonly { readonly start: { readonly row: number }; readonly end: { readonly row: number } }[] }
  >;
}

function isSourceFile(file: string): boolean {
  return !(file.startsWith('tests/') || file.endsWith('_test.rego'));
}

/** Uncovered line ranges of each source file that has any, files sorted, ranges in file order. */
export function uncoveredLines(report: CoverageReport): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const file of Object.keys(report.files).sort()) {
    const ranges = report.files[file]!.not_covered ?? [];
    if (!isSourceFile(file) || ranges.length === 0) continue;
    // opa reports ranges by column too: two on one line are one line here.
    out[file] = [...new Set([...ranges].sort((a, b) => a.start.row - b.start.row).map((r) => (r.start.row === r.end.row ? `${r.start.row}` : `${r.start.row}-${r.end.row}`)))];
  }
  return out;
}

/** Line coverage of the policy sources (test files excluded), in percent. */
export function sourceCoverage(report: CoverageReport): number {
  let covered = 0;
  let total = 0;
  for (const [file, f] of Object.entries(report.files)) {
    if (!isSourceFile(file)) continue;
    covered += f.covered_lines ?? 0;
    total += (f.covered_lines ?? 0) + (f.not_covered_lines ?? 0);
  }
  return total === 0 ? 0 : (100 * covered) / total;
}

function runOpa(opa: string, args: string[], cwd: string): void {
  const r = spawnSync(opa, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) throw new ToolchainError(`cannot run ${opa}: ${r.error.message}`);
  if (r.status !== 0) throw new ToolchainError(`opa ${args[0]} failed (exit ${r.status ?? 'signal'})`);
}
