// Jest global setup: tests that spawn dist/cli.js (or read dist/) must run what the sources say, not
// whatever an earlier build left there. dist/ is rebuilt (`npm run build`) when the hash of the
// sources differs from the one its last build recorded; an unchanged tree costs one hash.
//
// Every temporary directory of the run (the suites' own, the bundles test/support/opa.ts builds,
// what redis-server, PostgreSQL, opa and Chromium make) goes under one root: TMPDIR is set here,
// before the workers are forked, and global-teardown.mjs removes the root. Before, a run left about
// 90 directories in /tmp, some with audit spools of synthetic patients.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceHash } from '../../scripts/lib/source-hash.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export default function globalSetup() {
  const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-run-'));
  // Traversable, not listable: PostgreSQL runs as its own user (when the tests run as root) and
  // must reach the directory made for it under this root.
  chmodSync(tmpRoot, 0o711);
  process.env.FHIRGW_TEST_TMP_ROOT = tmpRoot;
  process.env.TMPDIR = tmpRoot;
  const stamp = path.join(root, 'dist', '.source-hash');
  const built = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
  if (built === sourceHash(root) && existsSync(path.join(root, 'dist', 'cli.js'))) return;
  process.stderr.write('jest global setup: dist/ is older than the sources; npm run build\n');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}
