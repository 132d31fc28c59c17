/**
 * The input documents the Rego test suite evaluates: policies/tests/fixtures.rego's request_input,
 * resource_input and resources_input print each one; this runs the suite with the real opa (the
 * default topdown target, which reports print() output per test in its JSON format) and parses them.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ensureOpa } from '../../scripts/lib/opa.mjs';

export type InputKind = 'request' | 'resource' | 'resources';

export interface RegoTestResult {
  readonly package: string;
  readonly name: string;
  readonly fail?: boolean;
  readonly error?: unknown;
  readonly output?: string;
}

export interface RegoTestInput {
  /** The Rego test that evaluated it: `data.<package>.<test>`. */
  readonly test: string;
  readonly kind: InputKind;
  readonly doc: unknown;
}

const MARK = /^fhirgw\.test-input (request|resource|resources) (.*)$/;

export function runRegoTests(dir = path.resolve('policies')): { results: RegoTestResult[]; inputs: RegoTestInput[] } {
  const out = execFileSync(ensureOpa(), ['test', '--format', 'json', '--ignore', 'dist', '.'], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const results = JSON.parse(out) as RegoTestResult[];
  const inputs: RegoTestInput[] = [];
  for (const r of results) {
    for (const line of Buffer.from(r.output ?? '', 'base64').toString('utf8').split('\n')) {
      const m = MARK.exec(line);
      if (m) inputs.push({ test: `${r.package}.${r.name}`, kind: m[1] as InputKind, doc: JSON.parse(m[2]!) });
    }
  }
  return { results, inputs };
}
