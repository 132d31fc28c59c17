// Jest global setup: tests that spawn dist/cli.js (or read dist/) must run what the sources say, not
// whatever an earlier build left there. dist/ is rebuilt (`npm run build`) when the hash of the
// sources differs from the one its last build recorded; an unchanged tree costs one hash.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceHash } from '../../scripts/lib/source-hash.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export default function globalSetup() {
  const stamp = path.join(root, 'dist', '.source-hash');
  const built = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : '';
  if (built === sourceHash(root) && existsSync(path.join(root, 'dist', 'cli.js'))) return;
  process.stderr.write('jest global setup: dist/ is older than the sources; npm run build\n');
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}
