/**
 * The write-ahead spool on a real temporary directory (real writes, real fdatasync): group commit,
 * recovery after a crash, replay from cursors, clean-up, and the full and unwritable states.
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { verifyChain } from '../../src/audit/chain.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { Spool, SpoolFullError, SpoolUnavailableError, type SpoolOptions } from '../../src/audit/spool/spool.js';
import { asEntries, sampleRecord, TEST_KEY } from '../support/audit.js';

const dirs: string[] = [];
const spools: Spool[] = [];
afterEach(async () => {
  for (const s of spools.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-spool-'));
  dirs.push(dir);
  return dir;
}

async function open(dir: string | null, overrides: Partial<SpoolOptions> = {}): Promise<Spool> {
  const spool = await Spool.open({ dir, maxBytes: 10 * 1024 * 1024, segmentBytes: 1024 * 1024, windowRecords: 1000, key: TEST_KEY, sinks: ['a', 'b'], ...overrides });
  spools.push(spool);
  return spool;
}

const segmentFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
const spooledLines = (dir: string) => segmentFiles(dir).flatMap((f) => readFileSync(path.join(dir, f), 'utf8').split('\n').filter((l) => l !== ''));

describe('audit spool', () => {
  test('appends made together are committed as one group, sealed in order, and are on disk when the promise resolves', async () => {
    const dir = tempDir();
    const spool = await open(dir);
    const groups: number[] = [];
    spool.onGroupCommit = (records) => groups.push(records);
    const sealed = await Promise.all(Array.from({ length: 50 }, () => spool.append(sampleRecord())));
    expect(sealed.map((r) => r.chain.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // Fifty appends in one turn of the event loop: one write and one fdatasync for all of them.
    expect(groups).toEqual([50]);
    const onDisk = spooledLines(dir);
    expect(onDisk).toHaveLength(50);
    expect(verifyChain(asEntries(onDisk.map((l) => JSON.parse(l) as object)), TEST_KEY).ok).toBe(true);
  });

  test('appends that arrive while a commit is in flight form the next group', async () => {
    const spool = await open(tempDir());
    const groups: number[] = [];
    spool.onGroupCommit = (records) => groups.push(records);
    const first = spool.append(sampleRecord());
    await new Promise((r) => setImmediate(r)); // the first group's write is now in flight
    const rest = Array.from({ length: 20 }, () => spool.append(sampleRecord()));
    await Promise.all([first, ...rest]);
    expect(groups).toEqual([1, 20]);
  });

  test('after a crash the torn last line is cut off and the chain resumes from the last whole record', async () => {
    const dir = tempDir();
    const spool = await open(dir);
    await Promise.all([spool.append(sampleRecord()), spool.append(sampleRecord())]);
    const instance = spool.instance;
    // Simulate a crash mid-write: no close, the lock stays, a partial record at the end of the segment.
    spools.pop();
    const segment = path.join(dir, segmentFiles(dir)[0]!);
    appendFileSync(segment, '{"schemaVersion":2,"kind":"request","deliv');
    writeFileSync(path.join(dir, 'lock'), '999999999');

    const reopened = await open(dir);
    expect(reopened.instance).toBe(instance);
    expect(reopened.committed.seq).toBe(2);
    expect(readFileSync(segment, 'utf8').endsWith('}\n')).toBe(true);
    const third = await reopened.append(sampleRecord());
    expect(third.chain.seq).toBe(3);
    const all = spooledLines(dir).map((l) => JSON.parse(l) as object);
    expect(verifyChain(asEntries(all), TEST_KEY)).toMatchObject({ ok: true, records: 3 });
  });

  test('a second gateway on the same spool directory is refused while the first runs', async () => {
    const dir = tempDir();
    await open(dir);
    writeFileSync(path.join(dir, 'lock'), String(process.ppid)); // a live process that is not us
    await expect(open(dir)).rejects.toThrow(/in use/);
  });

  test('each sink reads from its own cursor; unacknowledged records are replayed in order after a restart', async () => {
    const dir = tempDir();
    const spool = await open(dir, { cursorFlushMs: 1 });
    await Promise.all(Array.from({ length: 10 }, () => spool.append(sampleRecord())));
    const a = await spool.read(0, 100);
    expect(a.map((r) => r.chain.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    spool.ack('a', 10);
    spool.ack('b', 4);
    await spool.close();
    spools.pop();

    const reopened = await open(dir);
    expect(reopened.cursorOf('a')).toBe(10);
    expect(reopened.cursorOf('b')).toBe(4);
    expect(await reopened.read(10, 100)).toEqual([]);
    // Read from disk (the in-memory window is empty after a restart), in order, from b's cursor.
    expect((await reopened.read(4, 3)).map((r) => r.chain.seq)).toEqual([5, 6, 7]);
  });

  test('records with non-ASCII text are read back from the files intact (byte offsets, not characters)', async () => {
    const dir = tempDir();
    const spool = await open(dir, { windowRecords: 1 });
    const unicode = sampleRecord({ policyRevision: 'révision-日本-🩺' });
    const written = await Promise.all([spool.append(unicode), spool.append(unicode), spool.append(sampleRecord())]);
    // A group being written right now: bytes past the committed end that a reader must not take.
    appendFileSync(path.join(dir, segmentFiles(dir)[0]!), '{"schemaVersion":2,"kind":"requ');
    // The window holds one record: the first two come from the segment file.
    expect(await spool.read(0, 10)).toEqual(written);
  });

  test('segments every sink has acknowledged are deleted, except the newest (it holds the chain tip)', async () => {
    const dir = tempDir();
    const spool = await open(dir, { segmentBytes: 4096 });
    let last: AuditRecord | undefined;
    for (let i = 0; i < 30; i++) last = await spool.append(sampleRecord());
    const before = segmentFiles(dir).length;
    expect(before).toBeGreaterThan(3);
    spool.ack('a', last!.chain.seq);
    expect(segmentFiles(dir)).toHaveLength(before); // b has not acknowledged anything
    spool.ack('b', last!.chain.seq);
    expect(segmentFiles(dir)).toHaveLength(1);
    expect(spool.sizeBytes).toBeLessThan(4096 + 2048);
  });

  test('a full spool refuses at once and takes records again once sinks catch up', async () => {
    const spool = await open(tempDir(), { maxBytes: 64 * 1024, segmentBytes: 8192 });
    let n = 0;
    for (;;) {
      try {
        await spool.append(sampleRecord());
        n++;
      } catch (err) {
        expect(err).toBeInstanceOf(SpoolFullError);
        break;
      }
    }
    expect(n).toBeGreaterThan(10);
    expect(() => spool.append(sampleRecord())).toThrow(SpoolFullError);
    spool.ack('a', n);
    spool.ack('b', n);
    await expect(spool.append(sampleRecord())).resolves.toMatchObject({ chain: { seq: n + 1 } });
  });

  test('in memory the same limits apply, and acknowledged records are released', async () => {
    const spool = await open(null, { maxBytes: 64 * 1024 });
    const first = await spool.append(sampleRecord());
    expect((await spool.read(0, 10)).map((r) => r.deliveryId)).toEqual([first.deliveryId]);
    let n = 1;
    try {
      for (;;) {
        await spool.append(sampleRecord());
        n++;
      }
    } catch (err) {
      expect(err).toBeInstanceOf(SpoolFullError);
    }
    spool.ack('a', n);
    spool.ack('b', n);
    expect(spool.sizeBytes).toBe(0);
  });

  test('a write that fails rolls its group back (no hole in the chain), refuses appends, and recovers', async () => {
    const dir = tempDir();
    const spool = await open(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 12; i++) await spool.append(sampleRecord()); // past one segment: the next group opens a new file
    // Make the next segment file impossible to create: a directory where the file must go.
    const next = path.join(dir, `${String(13).padStart(20, '0')}.jsonl`);
    (await import('node:fs')).mkdirSync(next);
    await expect(spool.append(sampleRecord())).rejects.toBeInstanceOf(SpoolUnavailableError);
    expect(spool.writable).toBe(false);
    expect(() => spool.append(sampleRecord())).toThrow(SpoolUnavailableError);
    expect(spool.committed.seq).toBe(12);

    rmSync(next, { recursive: true });
    const deadline = Date.now() + 5000;
    while (!spool.writable && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(spool.writable).toBe(true);
    const resumed = await spool.append(sampleRecord());
    expect(resumed.chain.seq).toBe(13);
    expect(verifyChain(asEntries(spooledLines(dir).map((l) => JSON.parse(l) as object)), TEST_KEY)).toMatchObject({ ok: true, records: 13 });
  });
});
