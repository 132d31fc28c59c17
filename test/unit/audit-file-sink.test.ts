/** The file sink on real files: fdatasynced batches, rotation by size and age, repair and dedupe after a crash. */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { verifyChain } from '../../src/audit/chain.js';
import { encoderFor } from '../../src/audit/formats/index.js';
import { createFileSink } from '../../src/audit/sinks/file.js';
import { fileEntries } from '../../src/audit/verify.js';
import { sealedTrail, TEST_KEY } from '../support/audit.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-filesink-'));
  dirs.push(dir);
  return dir;
}
const encode = encoderFor('record', { publicBaseUrl: 'https://h/fhir', version: 'test' });
const lineCount = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').length;

describe('file audit sink', () => {
  test('writes JSON lines with mode 0600', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const sink = createFileSink({ name: 'f', path: file, encode });
    await sink.deliver(sealedTrail(3));
    await sink.close();
    expect(lineCount(file)).toBe(3);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test('rotates by size; the rotated files, in name order, verify as one chain', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'audit.jsonl');
    const sink = createFileSink({ name: 'f', path: file, encode, rotate: { maxBytes: 2048 } });
    const trail = sealedTrail(30);
    for (let i = 0; i < trail.length; i += 3) await sink.deliver(trail.slice(i, i + 3));
    await sink.close();
    const files = readdirSync(dir).filter((f) => f.startsWith('audit-')).sort().map((f) => path.join(dir, f));
    expect(files.length).toBeGreaterThan(2);
    expect(verifyChain(fileEntries([...files, file]), TEST_KEY)).toMatchObject({ ok: true, records: 30 });
  });

  test('rotates by age', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'audit.jsonl');
    let now = new Date('2026-11-24T10:00:00Z');
    const sink = createFileSink({ name: 'f', path: file, encode, rotate: { maxAgeSeconds: 3600 }, now: () => now });
    const trail = sealedTrail(4);
    await sink.deliver(trail.slice(0, 2));
    now = new Date('2026-11-24T11:00:01Z');
    await sink.deliver(trail.slice(2));
    await sink.close();
    expect(readdirSync(dir).sort()).toEqual(['audit-20261124T110001.000Z-000000000002.jsonl', 'audit.jsonl']);
    expect(lineCount(file)).toBe(2);
  });

  test('after a crash: a torn last line is cut, and records replayed from the spool are not written twice', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const trail = sealedTrail(6);
    const first = createFileSink({ name: 'f', path: file, encode });
    await first.deliver(trail.slice(0, 4));
    await first.close();
    appendFileSync(file, JSON.stringify(trail[4]).slice(0, 40)); // the crash cut record 5 mid-write

    const second = createFileSink({ name: 'f', path: file, encode });
    await second.deliver(trail.slice(2)); // the spool replays from the last acknowledged cursor
    await second.close();
    expect(verifyChain(fileEntries([file]), TEST_KEY)).toMatchObject({ ok: true, records: 6, duplicates: 0 });
  });

  test('a new chain (another instance, or a spool started afresh) is never mistaken for a replay', async () => {
    const file = path.join(tempDir(), 'audit.jsonl');
    const sink = createFileSink({ name: 'f', path: file, encode });
    await sink.deliver(sealedTrail(5, TEST_KEY, 'inst-a'));
    await sink.close();
    const again = createFileSink({ name: 'f', path: file, encode });
    await again.deliver(sealedTrail(3, TEST_KEY, 'inst-b'));
    await again.close();
    expect(lineCount(file)).toBe(8);
  });
});
