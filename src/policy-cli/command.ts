/**
 * `fhir-gateway policy ...`: the security team's tools, so a policy change can be built, tested,
 * tried on a request and replayed against recorded traffic without reading TypeScript.
 *
 * Exit codes: 0 success (diff: no decision changes), 1 failure (diff: decisions change), 2 usage or
 * input error.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ZodError } from 'zod';
import { BundleError, readBundleFile, type PolicyBundle } from '../policy/bundle.js';
import { PolicyEngine } from '../policy/engine.js';
import { buildBundle, DEFAULT_COVERAGE_THRESHOLD, findOpa, testPolicies, ToolchainError } from '../policy/toolchain.js';
import { EvalInputError } from './eval-input.js';
import type { EvalResult } from './evaluate.js';
import { evaluateExplained, NoSourcesError } from './explained-eval.js';
import { formatExplanation } from './explain.js';
import { formatReplayReport, replay } from './replay.js';
import { POLICY_USAGE } from './usage.js';

const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHIPPED_SOURCES = path.join(PACKAGE_ROOT, 'policies');
const SHIPPED_BUNDLE = path.join(SHIPPED_SOURCES, 'dist', 'bundle.tar.gz');
const MAX_MEMORY_PAGES = 2048;

type Out = (text: string) => void;

export async function runPolicyCommand(args: string[], out: Out = (t) => process.stdout.write(t), err: Out = (t) => process.stderr.write(t)): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'build': {
        const { values } = parseArgs({ args: rest, options: { dir: { type: 'string' }, out: { type: 'string' } }, strict: true });
        const dir = path.resolve(values.dir ?? 'policies');
        const result = buildBundle(findOpa(), dir, path.resolve(values.out ?? path.join(dir, 'dist', 'bundle.tar.gz')));
        out(`built ${result.out} (revision ${result.revision})\n`);
        return 0;
      }
      case 'test': {
        const { values } = parseArgs({ args: rest, options: { dir: { type: 'string' }, coverage: { type: 'string' } }, strict: true });
        const threshold = values.coverage === undefined ? DEFAULT_COVERAGE_THRESHOLD : Number(values.coverage);
        if (!Number.isFinite(threshold)) throw new UsageError('--coverage takes a percentage');
        const result = testPolicies(findOpa(), path.resolve(values.dir ?? 'policies'), threshold);
        out(`policy line coverage: ${result.coverage.toFixed(1)}% (threshold ${result.threshold}%)\n`);
        const uncovered = Object.entries(result.uncovered);
        if (uncovered.length > 0) out(`lines no test reaches:\n${uncovered.map(([file, lines]) => `  ${file}: ${lines.join(', ')}`).join('\n')}\n`);
        return result.passed ? 0 : 1;
      }
      case 'eval': {
        const { values } = parseArgs({
          args: rest,
          options: {
            input: { type: 'string' },
            bundle: { type: 'string' },
            dir: { type: 'string' },
            data: { type: 'string' },
            json: { type: 'boolean' },
            explain: { type: 'string' },
            'show-input': { type: 'boolean' },
          },
          strict: true,
        });
        if (!values.input) throw new UsageError('policy eval needs --input <request.json>');
        const mode = values.explain;
        if (mode !== undefined && mode !== 'full' && mode !== 'notes') throw new UsageError('--explain takes full or notes');
        const document = readJson(values.input);
        return await withSources(values.bundle, values.dir, async (bundleFile, sourcesDir) => {
          const bundle = await readBundle(bundleFile, values.data);
          const engine = await PolicyEngine.load(bundle, { maxMemoryPages: MAX_MEMORY_PAGES });
          const sources = sourcesDir ?? (values.bundle === undefined ? SHIPPED_SOURCES : undefined);
          const { result, inputs, explanations } = await evaluateExplained(engine, bundle, document, { explain: mode, sources });
          const shown = values['show-input'] ? inputs : undefined;
          if (values.json) {
            out(`${JSON.stringify({ ...result, ...(shown ? { inputs: shown } : {}), ...(explanations ? { explanations } : {}) }, null, 2)}\n`);
          } else {
            out(formatEvalResult(result));
            for (const i of shown ?? []) out(formatInput(i.entrypoint, i.input));
            for (const e of explanations ?? []) out(formatExplanation(e));
          }
          return explanations?.some((e) => !e.agrees) ? 1 : 0;
        });
      }
      case 'diff': {
        const { values } = parseArgs({
          args: rest,
          options: { against: { type: 'string' }, replay: { type: 'string', multiple: true }, bundle: { type: 'string' }, data: { type: 'string' }, json: { type: 'boolean' } },
          strict: true,
        });
        if (!values.against || !values.replay?.length) throw new UsageError('policy diff needs --against <candidate bundle> and --replay <audit.jsonl>');
        const baseline = await loadEngine(values.bundle ?? SHIPPED_BUNDLE, values.data);
        const candidate = await loadEngine(values.against, values.data);
        const lines = values.replay.flatMap((file) => readFileSync(file, 'utf8').split('\n'));
        const report = await replay(lines, baseline, candidate);
        out(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReplayReport(report)}\n`);
        return report.changes.length === 0 ? 0 : 1;
      }
      default:
        throw new UsageError(sub === undefined ? 'policy needs a command' : `unknown policy command ${sub}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`${e.message}\nusage:\n${POLICY_USAGE}\n`);
      return 2;
    }
    if (e instanceof ToolchainError) {
      err(`fhir-gateway policy: ${e.message}\n`);
      return 1;
    }
    if (e instanceof ZodError) {
      err(`fhir-gateway policy: invalid input:\n${e.issues.map((i) => `  ${i.path.join('.') || '(document)'}: ${i.message}`).join('\n')}\n`);
      return 2;
    }
    if (e instanceof BundleError || e instanceof InputError || e instanceof EvalInputError || e instanceof NoSourcesError) {
      err(`fhir-gateway policy: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

class UsageError extends Error {}
class InputError extends Error {}

async function readBundle(bundleFile: string, dataFile: string | undefined): Promise<PolicyBundle> {
  const data = dataFile === undefined ? undefined : readJson(dataFile);
  if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) throw new InputError(`${dataFile} must hold a JSON object`);
  return readBundleFile(bundleFile, { data: data as Record<string, unknown> | undefined });
}

async function loadEngine(bundleFile: string, dataFile: string | undefined): Promise<PolicyEngine> {
  return PolicyEngine.load(await readBundle(bundleFile, dataFile), { maxMemoryPages: MAX_MEMORY_PAGES });
}

/**
 * The bundle to evaluate and the sources it was built from, if known. `--dir` alone builds the
 * sources into a temporary bundle first (the same `opa build` as `policy build`), so a policy
 * author can try an edit without a separate build; with `--bundle` too, they must be its sources.
 */
async function withSources<T>(bundleFile: string | undefined, dir: string | undefined, fn: (bundle: string, sources: string | undefined) => Promise<T>): Promise<T> {
  const sources = dir === undefined ? undefined : path.resolve(dir);
  if (bundleFile !== undefined || sources === undefined) return fn(bundleFile ?? SHIPPED_BUNDLE, sources);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-eval-'));
  try {
    const built = buildBundle(findOpa(), sources, path.join(tmp, 'bundle.tar.gz'));
    return await fn(built.out, sources);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function formatInput(entrypoint: string, input: unknown): string {
  return `input of ${entrypoint} (for opa eval -i input.json data.${entrypoint.replaceAll('/', '.')}):\n${JSON.stringify(input, null, 2)}\n`;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function formatEvalResult(result: EvalResult): string {
  const lines = [`policy revision ${result.revision}`, `request: ${verdict(result.request)}`];
  if (!result.request.allow) lines.push('  (the request would be refused: nothing is forwarded)');
  const { response } = result;
  if (response) {
    lines.push(`response: ${response.status}`);
    for (const r of response.resources) lines.push(`  ${r.ref}: ${verdict(r.decision)}`);
    if (response.summary) {
      const s = response.summary;
      lines.push(`  released ${s.returned}, withheld ${s.withheld}, redacted ${s.redacted}${s.breakGlass ? ', break-glass' : ''}`);
    }
    lines.push(response.released ? `released:\n${JSON.stringify(response.released, null, 2)}` : 'released: nothing');
  }
  return `${lines.join('\n')}\n`;
}

function verdict(d: EvalResult['request']): string {
  const obligations = Object.keys(d.obligations).length > 0 ? `\n    obligations: ${JSON.stringify(d.obligations)}` : '';
  return `${d.allow ? 'allow' : 'deny'} [${d.reasons.join(' ')}]${obligations}`;
}
