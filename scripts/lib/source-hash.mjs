// A hash of what `npm run build` compiles (src/, package.json, tsconfig.json): recorded in
// dist/.source-hash by scripts/build-info.mjs, compared by the Jest global setup.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export function sourceHash(root) {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.name.endsWith('.ts') || entry.name.endsWith('.json')) hash.update(path.relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
    }
  };
  walk(path.join(root, 'src'));
  for (const file of ['package.json', 'tsconfig.json']) hash.update(file).update('\0').update(readFileSync(path.join(root, file)));
  return hash.digest('hex');
}
