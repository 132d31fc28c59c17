#!/usr/bin/env node
// Writes dist/build-info.json ({ "revision": ... }) for fhirgw_build_info and `--version`:
// $SOURCE_REVISION (an image build passes it as a build argument), else `git rev-parse HEAD`, else unknown.
// Also records the hash of the sources just compiled (dist/.source-hash, read by the Jest global setup).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceHash } from './lib/source-hash.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let revision = process.env.SOURCE_REVISION || '';
if (!revision) {
  try {
    revision = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    revision = 'unknown';
  }
}
mkdirSync(path.join(root, 'dist'), { recursive: true });
writeFileSync(path.join(root, 'dist', 'build-info.json'), `${JSON.stringify({ revision })}\n`);
writeFileSync(path.join(root, 'dist', '.source-hash'), `${sourceHash(root)}\n`);
