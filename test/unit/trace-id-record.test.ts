/** The W3C trace id in the audit record and the decision-log view; records without one stay valid. */
import { describe, expect, test } from '@jest/globals';
import { GENESIS, seal } from '../../src/audit/chain.js';
import { decisionLogEventSchema, toDecisionLog } from '../../src/audit/formats/decision-log.js';
import { auditRecordSchema, type RequestRecord } from '../../src/audit/record.js';
import { sampleRecord, TEST_KEY } from '../support/audit.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const sealed = (over: Parameters<typeof sampleRecord>[0]) => seal(sampleRecord(over), 'inst-a', { seq: 0, hash: GENESIS }, TEST_KEY) as RequestRecord;

describe('trace id in audit records', () => {
  test('a record with a trace id is valid and its decision-log event carries it as trace_id', () => {
    const record = sealed({ traceId: TRACE });
    expect(auditRecordSchema.safeParse(record).success).toBe(true);
    const event = toDecisionLog(record, 'v');
    expect(event.trace_id).toBe(TRACE);
    expect(decisionLogEventSchema.safeParse(event).success).toBe(true);
  });

  test('a record from before trace ids (none) is still valid, and its event has no trace_id', () => {
    const record = sealed({});
    expect(record.traceId).toBeUndefined();
    expect(auditRecordSchema.safeParse(record).success).toBe(true);
    expect('trace_id' in toDecisionLog(record, 'v')).toBe(false);
  });

  test('a malformed trace id is not a valid record', () => {
    expect(auditRecordSchema.safeParse(sealed({ traceId: 'not-a-trace' })).success).toBe(false);
  });
});
