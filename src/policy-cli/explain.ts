/**
 * Why a decision came out as it did: `opa eval --explain` over the Rego sources of the bundle that
 * decided, with the bundle's own data and the exact input document the gateway built.
 *
 * The gateway evaluates WebAssembly, which keeps no trace, and a WebAssembly bundle's Rego is
 * rewritten by the compiler (its entry points are compiled away), so the trace is taken with OPA's
 * interpreter on the sources whose hash is the bundle's revision: the same policy, another engine.
 * The explanation says so, and says whether the interpreter reached the same decision.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sourceFiles, sourceRevision, ToolchainError } from '../policy/toolchain.js';
import catalogue from '../policy/reasons.json' with { type: 'json' };
import { canonical } from './replay.js';

export type ExplainMode = 'full' | 'notes';

export interface RuleHit {
  /** The rule, as a data reference (`data.fhirgw.request.deny`). */
  readonly rule: string;
  /** File (relative to the policy tree) and line of the rule body that succeeded. */
  readonly location: string;
  /** That line of the source, trimmed. */
  readonly source: string;
}

export interface ReasonExplanation {
  readonly reason: string;
  /** What the reason catalogue (src/policy/reasons.json) says about the reason's group; null when it is not listed. */
  readonly meaning: string | null;
  /** The rules whose first line names the reason (literally or by its constant); empty when it is computed. */
  readonly rules: readonly RuleHit[];
}

export interface Explanation {
  /** Which engine produced the trace, in words: the gateway's decision came from WebAssembly. */
  readonly engine: string;
  readonly entrypoint: string;
  readonly mode: ExplainMode;
  /** The revision of the sources explained: the bundle's revision. */
  readonly revision: string;
  /** What the interpreter decided, and whether it is the decision the WebAssembly engine made. */
  readonly result: unknown;
  readonly agrees: boolean;
  readonly reasons: readonly ReasonExplanation[];
  /** Every rule body that succeeded during the evaluation, once each, in trace order. */
  readonly rules: readonly RuleHit[];
  /** opa's own trace, as `opa eval --explain=<mode> --format=pretty` prints it, paths relative. */
  readonly trace: string;
}

export interface ExplainSources {
  readonly opa: string;
  /** The policy tree (Rego sources and data files) the bundle was built from. */
  readonly dir: string;
  /** The bundle's data (with any deployment data merged), evaluated instead of the tree's data files. */
  readonly data: Record<string, unknown>;
  readonly revision: string;
}

/** The sources explain against, or why there are none: their hash must be the bundle's revision. */
export function checkSources(dir: string, revision: string): void {
  const actual = sourceRevision(dir);
  if (actual !== revision) {
    throw new ToolchainError(`cannot explain: the sources in ${dir} are revision ${actual}, the bundle is revision ${revision} (pass the bundle's sources with --dir)`);
  }
}

/**
 * Runs `opa eval --explain=<mode>` for one entry point and input. `expected` is the decision the
 * WebAssembly engine returned for the same input, compared with the interpreter's.
 */
export function explain(src: ExplainSources, entrypoint: string, input: unknown, expected: unknown, mode: ExplainMode): Explanation {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-explain-'));
  try {
    const tree = path.join(tmp, 'policy');
    // Only the Rego sources are copied: their data files are replaced by the bundle's merged data,
    // so deployment data (--data) is explained as it was evaluated.
    for (const file of sourceFiles(src.dir).filter((f) => f.endsWith('.rego'))) {
      const target = path.join(tree, path.relative(src.dir, file));
      mkdirSync(path.dirname(target), { recursive: true });
      cpSync(file, target);
    }
    writeFileSync(path.join(tree, 'data.json'), JSON.stringify(src.data));
    const inputFile = path.join(tmp, 'input.json');
    writeFileSync(inputFile, JSON.stringify(input));
    const query = `data.${entrypoint.replaceAll('/', '.')}`;
    // The tree is loaded as `.` from inside it, so the trace names files relative to it: OPA's
    // pretty trace shortens long paths to `/tmp/...tail`, which a long TMPDIR (macOS, CI) produced.
    const run = (format: string, explainMode?: ExplainMode): string => {
      const args = ['eval', '--format', format, '-d', '.', '-i', inputFile, ...(explainMode ? [`--explain=${explainMode}`] : []), query];
      const r = spawnSync(src.opa, args, { cwd: tree, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      if (r.error) throw new ToolchainError(`cannot run ${src.opa}: ${r.error.message}`);
      if (r.status !== 0) throw new ToolchainError(`opa eval failed (exit ${r.status ?? 'signal'}): ${r.stderr.trim()}`);
      return r.stdout;
    };
    const evaluated = JSON.parse(run('json')) as { result?: { expressions: { value: unknown }[] }[] };
    const result = evaluated.result?.[0]?.expressions[0]?.value ?? null;
    // The rules are always read from the full trace; the trace shown is the one asked for.
    const fullTrace = run('pretty', 'full');
    const trace = mode === 'full' ? fullTrace : run('pretty', 'notes');
    const rules = ruleHits(fullTrace, (file) => readFileSync(path.join(src.dir, file), 'utf8'));
    const constants = reasonConstants(sourceFiles(src.dir).filter((f) => f.endsWith('.rego')).map((f) => readFileSync(f, 'utf8')));
    return {
      engine: `OPA ${opaVersion(src.opa)} interpreter (opa eval --explain=${mode}) on the Rego sources of revision ${src.revision}; the gateway decides with the same policy compiled to WebAssembly`,
      entrypoint,
      mode,
      revision: src.revision,
      result,
      agrees: canonical(normalized(result)) === canonical(normalized(expected)),
      reasons: reasonsOf(expected).map((reason) => ({ reason, meaning: meaningOf(reason), rules: rulesNaming(reason, rules, constants) })),
      rules,
      trace,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function opaVersion(opa: string): string {
  const r = spawnSync(opa, ['version'], { encoding: 'utf8' });
  return /^Version:\s*(\S+)/m.exec(r.stdout ?? '')?.[1] ?? 'unknown';
}

const EXIT = /^(\S+?):(\d+)\s+[| ]*Exit (data(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*$/;

/** Rule exits of a pretty trace (`file:row | | Exit data.pkg.rule`), once per location. */
export function ruleHits(trace: string, read: (file: string) => string): RuleHit[] {
  const seen = new Set<string>();
  const out: RuleHit[] = [];
  const files = new Map<string, string[]>();
  for (const line of trace.split('\n')) {
    const m = EXIT.exec(line);
    if (!m) continue;
    const [, file, row, rule] = m as unknown as [string, string, string, string];
    const location = `${file}:${row}`;
    if (seen.has(location) || !file.endsWith('.rego')) continue;
    seen.add(location);
    if (!files.has(file)) files.set(file, read(file).split('\n'));
    out.push({ rule, location, source: (files.get(file)![Number(row) - 1] ?? '').trim() });
  }
  return out;
}

/**
 * Reason constants (`role_type_not_permitted := "role.type-not-permitted"`, as the generated
 * package fhirgw.lib.reasons holds them): value → names, so a rule that names the constant counts.
 */
export function reasonConstants(sources: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const text of sources) {
    for (const m of text.matchAll(/^([A-Za-z_][A-Za-z0-9_]*) := "([^"\\]+)"$/gm)) out.set(m[2]!, [...(out.get(m[2]!) ?? []), m[1]!]);
  }
  return out;
}

function rulesNaming(reason: string, rules: readonly RuleHit[], constants: ReadonlyMap<string, readonly string[]>): RuleHit[] {
  const names = constants.get(reason) ?? [];
  return rules.filter((r) => {
    // The constant's own definition states the code; it does not produce it.
    if (names.some((n) => r.rule.endsWith(`.${n}`))) return false;
    return r.source.includes(JSON.stringify(reason)) || names.some((n) => new RegExp(`\\b${n}\\b`).test(r.source));
  });
}

interface Catalogue {
  readonly groups: readonly { readonly codes: readonly string[]; readonly meaning: string }[];
}

/** The catalogue's words for a reason code (its group's meaning). */
export function meaningOf(reason: string): string | null {
  return (catalogue as Catalogue).groups.find((g) => g.codes.includes(reason))?.meaning ?? null;
}

function reasonsOf(decision: unknown): string[] {
  const found = new Set<string>();
  const visit = (d: unknown): void => {
    if (Array.isArray(d)) d.forEach(visit);
    else if (d && typeof d === 'object' && Array.isArray((d as { reasons?: unknown }).reasons)) {
      for (const r of (d as { reasons: unknown[] }).reasons) if (typeof r === 'string') found.add(r);
    }
  };
  visit(decision);
  return [...found];
}

/**
 * A decision as the engine hands it on (obligations default to empty, reasons compared as a set),
 * so the interpreter's raw result and the engine's accepted decision compare fairly.
 */
function normalized(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalized);
  if (value && typeof value === 'object' && 'allow' in value) {
    const d = value as { allow: unknown; reasons?: unknown; obligations?: unknown };
    return { allow: d.allow, reasons: Array.isArray(d.reasons) ? [...(d.reasons as unknown[])].map(String).sort() : [], obligations: d.obligations ?? {} };
  }
  return value;
}


/** The explanation for people: engine, agreement, each reason with the rule that produced it. */
export function formatExplanation(e: Explanation): string {
  const lines = [`explanation of ${e.entrypoint}`, `  engine: ${e.engine}`];
  lines.push(e.agrees ? '  the interpreter reached the same decision' : `  WARNING: the interpreter decided ${JSON.stringify(e.result)}, not what the WebAssembly engine decided`);
  for (const r of e.reasons) {
    if (r.meaning) lines.push(`  ${r.reason}: ${r.meaning}`);
    if (r.rules.length === 0) lines.push(`  ${r.reason}: computed (no rule names it; see the rules below)`);
    for (const hit of r.rules) lines.push(`  ${r.reason}: ${hit.rule} at ${hit.location}: ${hit.source}`);
  }
  lines.push('  rules that succeeded:');
  for (const hit of e.rules) lines.push(`    ${hit.location} ${hit.rule}`);
  lines.push(`  trace (--explain=${e.mode}):`);
  lines.push(...e.trace.trimEnd().split('\n').map((l) => `    ${l}`));
  return `${lines.join('\n')}\n`;
}
