/**
 * The shapes a sink can deliver: the sealed record itself (the only shape `audit verify` checks),
 * the OPA decision-log event, or the FHIR AuditEvent. Checkpoints exist only in the record shape;
 * the other views skip them (the sink acknowledges them without sending anything).
 */
import type { AuditRecord } from '../record.js';
import { toAuditEvent } from './audit-event.js';
import { toDecisionLog } from './decision-log.js';

export type AuditFormat = 'record' | 'decision-log' | 'audit-event';

export interface FormatContext {
  readonly publicBaseUrl: string;
  /** The gateway's version, for decision-log labels. */
  readonly version: string;
}

export type Encoder = (record: AuditRecord) => object | null;

export function encoderFor(format: AuditFormat, context: FormatContext): Encoder {
  switch (format) {
    case 'record':
      return (record) => record;
    case 'decision-log':
      return (record) => (record.kind === 'request' ? toDecisionLog(record, context.version) : null);
    case 'audit-event':
      return (record) => (record.kind === 'request' ? toAuditEvent(record, context) : null);
  }
}
