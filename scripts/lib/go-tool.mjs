// Pinned command-line tools built from Go modules: found in .tools/bin or on PATH when they are the
// pinned version, else `go install`ed into .tools/bin (Go is the only thing the machine needs).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TOOLS_BIN = path.join(ROOT, '.tools', 'bin');

function onPath(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * tool: { name, version, module (path@version to go install), tags?: string[],
 *         versionOf(bin) -> the version it reports or null, download: where to get a binary instead }
 */
export function ensureGoTool(tool, { log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const local = path.join(TOOLS_BIN, tool.name);
  if (existsSync(local) && tool.versionOf(local) === tool.version) return local;
  const system = onPath(tool.name);
  if (system && tool.versionOf(system) === tool.version) return system;
  const go = onPath('go');
  if (go) {
    log(`installing ${tool.name} ${tool.version} into .tools/bin with go install (once; about a minute)`);
    mkdirSync(TOOLS_BIN, { recursive: true });
    execFileSync(go, ['install', ...(tool.tags?.length ? ['-tags', tool.tags.join(',')] : []), tool.module], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOBIN: TOOLS_BIN, GOFLAGS: `${process.env.GOFLAGS ?? ''} -buildvcs=false`.trim() },
    });
    if (tool.versionOf(local) === tool.version) return local;
  }
  throw new Error(
    `${tool.name} ${tool.version} is needed and was not found.\n` +
      `Either install Go (then this script installs ${tool.name} itself), or download the ${tool.name} ${tool.version} binary from\n` +
      `${tool.download} and put it on your PATH.`,
  );
}
