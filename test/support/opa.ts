/** Compiles Rego written in a test into a WASM bundle with the real, pinned opa. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureOpa } from '../../scripts/lib/opa.mjs';

export const ENTRYPOINT_ARGS = ['-e', 'fhirgw/request/decision', '-e', 'fhirgw/resource/decision', '-e', 'fhirgw/resources/decisions'];

/** The shipped batch wrapper, so test policies only need to define the per-resource rule. */
export const BATCH_WRAPPER = `package fhirgw.resources

decisions := [d |
\tsome item in input.items
\td := data.fhirgw.resource.decision with input.resource as item.resource with input.facts as item.facts
]
`;

export function buildTestBundle(files: Record<string, string>, entrypoints = ENTRYPOINT_ARGS): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-rego-'));
  const src = path.join(dir, 'src');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
    writeFileSync(path.join(src, name), text);
  }
  const out = path.join(dir, 'bundle.tar.gz');
  execFileSync(ensureOpa(), ['build', '-t', 'wasm', ...entrypoints, '--revision', 'test-rev', '-o', out, '.'], { cwd: src, stdio: 'pipe' });
  return out;
}
