/**
 * JSON lines appended to a file (mode 0600: audit records are sensitive), fdatasynced before a
 * batch is acknowledged, rotated by size and/or age: the current file is renamed to
 * `<name>-<UTC time>-<last seq>.<ext>` and a new one started (name order is chain order).
 *
 * After a crash the file may end in a torn line (cut off) or repeat the records the spool replays:
 * on open the sink reads the last line and skips records up to its sequence number, so for the
 * `record` and `decision-log` formats the file holds every record exactly once.
 */
import { promises as fsp, mkdirSync, openSync, closeSync, ftruncateSync, fstatSync, readSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Encoder } from '../formats/index.js';
import type { AuditSink } from './sink.js';

export interface FileSinkOptions {
  readonly name: string;
  readonly path: string;
  readonly encode: Encoder;
  readonly rotate?: { readonly maxBytes?: number | undefined; readonly maxAgeSeconds?: number | undefined } | undefined;
  readonly now?: () => Date;
}

export function createFileSink(options: FileSinkOptions): AuditSink {
  const file = options.path;
  const now = options.now ?? (() => new Date());
  mkdirSync(path.dirname(file), { recursive: true });
  let last = repairAndReadLast(file);
  let handle: fsp.FileHandle | null = null;
  let size = 0;
  let openedAt = 0;

  async function open(): Promise<fsp.FileHandle> {
    if (handle) return handle;
    handle = await fsp.open(file, 'a', 0o600);
    const st = await handle.stat();
    size = st.size;
    openedAt = size === 0 ? now().getTime() : st.mtimeMs;
    return handle;
  }

  async function rotateIfDue(): Promise<void> {
    const { maxBytes, maxAgeSeconds } = options.rotate ?? {};
    const due = size > 0 && ((maxBytes !== undefined && size >= maxBytes) || (maxAgeSeconds !== undefined && now().getTime() - openedAt >= maxAgeSeconds * 1000));
    if (!due || !handle) return;
    await handle.close();
    handle = null;
    // <name>-<UTC time to the ms>-<seq of the file's last record><ext>: name order is write order,
    // so `audit verify <name>-*<ext> <name><ext>` reads the files in chain order.
    const ext = path.extname(file);
    const stamp = now().toISOString().replace(/[-:]/g, '');
    const stem = `${file.slice(0, file.length - ext.length)}-${stamp}-${String(last.seq).padStart(12, '0')}`;
    let target = `${stem}${ext}`;
    for (let n = 1; exists(target); n++) target = `${stem}.${n}${ext}`;
    renameSync(file, target);
  }

  return {
    name: options.name,
    async deliver(records) {
      // Only a record of the same instance can be a repeat (a new spool starts a new chain at seq 1).
      const fresh = records.filter((r) => r.chain.instance !== last.instance || r.chain.seq > last.seq);
      if (fresh.length === 0) return;
      await open();
      await rotateIfDue();
      const h = await open();
      const lines = fresh.map(options.encode).filter((e) => e !== null).map((e) => `${JSON.stringify(e)}\n`).join('');
      if (lines !== '') {
        const buf = Buffer.from(lines, 'utf8');
        let offset = 0;
        while (offset < buf.length) offset += (await h.write(buf, offset, buf.length - offset)).bytesWritten;
        await h.datasync();
        size += buf.length;
      }
      const tail = fresh.at(-1)!.chain;
      last = { instance: tail.instance, seq: tail.seq };
    },
    async close() {
      await handle?.close();
      handle = null;
    },
  };
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

interface Position {
  readonly instance: string | null;
  readonly seq: number;
}

/** Cuts a torn last line (a crash mid-write) and returns the chain position of the last complete one. */
function repairAndReadLast(file: string): Position {
  const unknown: Position = { instance: null, seq: 0 };
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch {
    return unknown;
  }
  try {
    const length = fstatSync(fd).size;
    const tailBytes = Math.min(length, 1024 * 1024);
    const buf = Buffer.alloc(tailBytes);
    readSync(fd, buf, 0, tailBytes, length - tailBytes);
    let end = buf.length;
    if (end > 0 && buf[end - 1] !== 0x0a) {
      const nl = buf.lastIndexOf(0x0a);
      end = nl + 1;
      ftruncateSync(fd, length - tailBytes + end);
    }
    const body = buf.subarray(0, end).toString('utf8').trimEnd();
    const last = body.slice(body.lastIndexOf('\n') + 1);
    if (last === '') return unknown;
    const json = JSON.parse(last) as { chain?: { instance?: unknown; seq?: unknown }; req_id?: unknown; labels?: { id?: unknown } };
    const seq = json.chain?.seq ?? json.req_id;
    const instance = json.chain?.instance ?? json.labels?.id;
    return typeof seq === 'number' && typeof instance === 'string' ? { instance, seq } : unknown;
  } catch {
    return unknown;
  } finally {
    closeSync(fd);
  }
}
