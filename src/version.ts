/**
 * What build this process runs: the package version, the source revision and the Node version
 * (fhirgw_build_info, `fhir-gateway --version`). The revision is written next to the compiled code
 * by scripts/build-info.mjs (`npm run build`); without that file (running from source) it is
 * `unknown`.
 */
import { readFileSync } from 'node:fs';

export interface BuildInfo {
  readonly version: string;
  readonly revision: string;
  readonly node: string;
}

let cached: BuildInfo | null = null;

export function buildInfo(): BuildInfo {
  cached ??= {
    version: stringField(new URL('../package.json', import.meta.url), 'version'),
    revision: stringField(new URL('./build-info.json', import.meta.url), 'revision'),
    node: process.version,
  };
  return cached;
}

function stringField(file: URL, field: string): string {
  try {
    const value = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)[field];
    return typeof value === 'string' && /^[\w.+-]{1,64}$/.test(value) ? value : 'unknown';
  } catch {
    return 'unknown';
  }
}
