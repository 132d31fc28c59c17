// Finds the pinned `opa`, installing it into .tools/bin with `go install` when needed.
// Order: .tools/bin/opa, then `opa` on PATH (either only if it is the pinned version), then
// `go install` (with the opa_wasm tag, so `opa test -t wasm` has its WebAssembly engine).
import { spawnSync } from 'node:child_process';
import { ensureGoTool, ROOT } from './go-tool.mjs';

export { ROOT };
export const OPA_VERSION = '1.22.2';

export function ensureOpa(options = {}) {
  return ensureGoTool(
    {
      name: 'opa',
      version: OPA_VERSION,
      module: `github.com/open-policy-agent/opa@v${OPA_VERSION}`,
      tags: ['opa_wasm'],
      versionOf: (bin) => /^Version:\s*(\S+)/m.exec(spawnSync(bin, ['version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? null,
      download: `https://github.com/open-policy-agent/opa/releases/tag/v${OPA_VERSION}`,
    },
    options,
  );
}
