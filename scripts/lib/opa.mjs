// Finds the pinned `opa`, installing it into .tools/bin with `go install` when needed.
// Order: .tools/bin/opa, then `opa` on PATH (either only if it is the pinned version), then
// `go install` (with the opa_wasm tag, so `opa test -t wasm` has its WebAssembly engine).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const OPA_VERSION = '1.22.2';
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOOLS_BIN = path.join(ROOT, '.tools', 'bin');

function versionOf(bin) {
  const r = spawnSync(bin, ['version'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const m = /^Version:\s*(\S+)/m.exec(r.stdout);
  return m ? m[1] : null;
}

function onPath(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function ensureOpa({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const local = path.join(TOOLS_BIN, 'opa');
  if (existsSync(local) && versionOf(local) === OPA_VERSION) return local;
  const system = onPath('opa');
  if (system && versionOf(system) === OPA_VERSION) return system;
  const go = onPath('go');
  if (go) {
    log(`installing opa ${OPA_VERSION} into .tools/bin with go install (once; about a minute)`);
    mkdirSync(TOOLS_BIN, { recursive: true });
    execFileSync(go, ['install', '-tags', 'opa_wasm', `github.com/open-policy-agent/opa@v${OPA_VERSION}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOBIN: TOOLS_BIN, GOFLAGS: `${process.env.GOFLAGS ?? ''} -buildvcs=false`.trim() },
    });
    if (versionOf(local) === OPA_VERSION) return local;
  }
  throw new Error(
    `opa ${OPA_VERSION} is needed to build and test the policies and was not found.\n` +
      `Either install Go (then this script installs opa itself), or download the opa ${OPA_VERSION} binary from\n` +
      `https://github.com/open-policy-agent/opa/releases/tag/v${OPA_VERSION} and put it on your PATH.`,
  );
}
