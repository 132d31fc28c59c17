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

export interface TestBundleOptions {
  readonly entrypoints?: readonly string[];
  readonly revision?: string;
  /** Sign it (opa build -b --signing-key): a PEM private key file, its algorithm and key id. */
  readonly signing?: { readonly keyFile: string; readonly algorithm: string; readonly keyId: string };
}

export function buildTestBundle(files: Record<string, string>, entrypointsOrOptions: readonly string[] | TestBundleOptions = {}): string {
  const options: TestBundleOptions = Array.isArray(entrypointsOrOptions) ? { entrypoints: entrypointsOrOptions } : (entrypointsOrOptions as TestBundleOptions);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-rego-'));
  const src = path.join(dir, 'src');
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
    writeFileSync(path.join(src, name), text);
  }
  const out = path.join(dir, 'bundle.tar.gz');
  const signing = options.signing ? ['-b', '--signing-key', options.signing.keyFile, '--signing-alg', options.signing.algorithm, '--claims-file', claimsFile(dir, options.signing.keyId)] : [];
  execFileSync(ensureOpa(), ['build', '-t', 'wasm', ...(options.entrypoints ?? ENTRYPOINT_ARGS), '--revision', options.revision ?? 'test-rev', ...signing, '-o', out, '.'], { cwd: src, stdio: 'pipe' });
  return out;
}

/** The claims opa puts in the signature: the key id the gateway looks the key up by. */
function claimsFile(dir: string, keyId: string): string {
  const file = path.join(dir, 'claims.json');
  writeFileSync(file, JSON.stringify({ keyid: keyId }));
  return file;
}

/** Policies that allow everything, or deny everything, with the shipped batch wrapper. */
export function trivialPolicy(allow: boolean): Record<string, string> {
  return {
    'request.rego': `package fhirgw.request\n\ndecision := {"allow": ${allow}, "reasons": ["${allow ? 'test.allow' : 'test.deny'}"]}\n`,
    'resource.rego': `package fhirgw.resource\n\ndecision := {"allow": ${allow}, "reasons": ["${allow ? 'test.allow' : 'test.deny'}"]}\n`,
    'resources.rego': BATCH_WRAPPER,
  };
}
