/** JSON lines on standard output, for containers whose log collector ships stdout. */
import type { Encoder } from '../formats/index.js';
import type { AuditSink } from './sink.js';

export function createStdoutSink(name: string, encode: Encoder, out: NodeJS.WritableStream = process.stdout): AuditSink {
  return {
    name,
    deliver(records) {
      const text = records.map(encode).filter((e) => e !== null).map((e) => `${JSON.stringify(e)}\n`).join('');
      if (text === '') return Promise.resolve();
      // Acknowledged once the stream has handed the bytes to the OS.
      return new Promise((resolve, reject) => out.write(text, (err) => (err ? reject(err) : resolve())));
    },
    close: async () => {},
  };
}
