/** JSON lines on standard output, for containers whose log collector ships stdout. */
import type { AuditRecord, AuditSink } from '../record.js';

export function createStdoutSink(out: NodeJS.WritableStream = process.stdout): AuditSink {
  return {
    name: 'stdout',
    write(record: AuditRecord) {
      out.write(`${JSON.stringify(record)}\n`);
    },
    close: async () => {},
  };
}
