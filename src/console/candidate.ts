/**
 * A candidate policy uploaded to the console (its Rego and data files, path → content), built with
 * `opa build` as `policy build` builds one, in a temporary directory removed afterwards. The
 * playground evaluates it, Impact replays the trail against it, and "ship in shadow mode" installs
 * its bundle as the shadow bundle.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import { readBundleFile, type PolicyBundle } from '../policy/bundle.js';
import { buildBundle, findOpa, ToolchainError } from '../policy/toolchain.js';

/** Relative `.rego` and `.json` paths (no `..`), each at most 1 MiB. */
export const candidateSchema = z.strictObject({
  files: z.record(z.string().regex(/^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_./-]*\.(rego|json)$/, 'a relative .rego or .json path'), z.string().max(1024 * 1024)),
});

export interface BuiltCandidate {
  /** The sources as written. */
  readonly sources: string;
  /** The bundle file opa built. */
  readonly bundleFile: string;
  readonly bundle: PolicyBundle;
}

export async function withCandidate<T>(files: Readonly<Record<string, string>>, use: (built: BuiltCandidate) => Promise<T>): Promise<T> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-candidate-'));
  try {
    const sources = path.join(tmp, 'src');
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(sources, file)), { recursive: true });
      writeFileSync(path.join(sources, file), text);
    }
    let built: BuiltCandidate;
    try {
      const out = buildBundle(findOpa(), sources, path.join(tmp, 'bundle.tar.gz')).out;
      built = { sources, bundleFile: out, bundle: await readBundleFile(out) };
    } catch (err) {
      if (err instanceof ToolchainError) throw new GatewayError('console_invalid_request', { reasons: ['console.candidate'], parameter: err.message, cause: err });
      throw err;
    }
    return await use(built);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
