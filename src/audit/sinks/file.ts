/** JSON lines appended to a file (created with mode 0600: audit records are sensitive). */
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AuditRecord, AuditSink } from '../record.js';

export function createFileSink(file: string): AuditSink {
  mkdirSync(path.dirname(file), { recursive: true });
  const stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  let failure: Error | null = null;
  stream.on('error', (err) => {
    failure = err;
  });
  return {
    name: `file:${file}`,
    write(record: AuditRecord) {
      if (failure) throw failure;
      stream.write(`${JSON.stringify(record)}\n`);
    },
    close: () => new Promise<void>((resolve) => stream.end(resolve)),
  };
}
