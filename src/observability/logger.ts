/**
 * Structured logs (pino). Log lines carry request ids, interactions and codes, never URLs with
 * query strings, bodies or tokens; `redact` is a second line of defence for a field added by mistake.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'fhir-privacy-gateway' },
      redact: {
        paths: ['authorization', 'token', '*.authorization', '*.token', 'headers.authorization', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination(2),
  );
}
