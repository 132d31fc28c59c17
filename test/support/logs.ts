/**
 * Loggers for the gateways tests start: at trace level, each into its own file under
 * .tmp/test-logs, so that `npm run check:logs` (run after the suites by `npm test`) can prove that
 * no log line of a whole test run carries a seeded patient's data or anything token-shaped.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { createLogger, type Logger } from '../../src/observability/logger.js';

export const TEST_LOG_DIR = path.resolve('.tmp/test-logs');

let count = 0;

/** A new log file for one gateway (or spawned process): `<name>-<pid>-<n>.log`. */
export function testLogFile(name: string): string {
  mkdirSync(TEST_LOG_DIR, { recursive: true });
  return path.join(TEST_LOG_DIR, `${name.replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}-${++count}.log`);
}

/** A trace-level logger writing synchronously to a new file (nothing is lost when the worker exits). */
export function testLogger(name: string): Logger {
  return testLoggerWithFile(name).logger;
}

/** `testLogger` and the file it writes, for tests that read their gateway's log lines back. */
export function testLoggerWithFile(name: string): { logger: Logger; file: string; lines(): Array<Record<string, unknown>> } {
  const file = testLogFile(name);
  return {
    logger: createLogger('trace', pino.destination({ dest: file, sync: true })),
    file,
    lines: () =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
