/** The AuditEvent view without the client's address (audit.clientAddress: omit). */
import { describe, expect, test } from '@jest/globals';
import { GENESIS, seal } from '../../src/audit/chain.js';
import { auditEventSchema, toAuditEvent } from '../../src/audit/formats/audit-event.js';
import { toDecisionLog } from '../../src/audit/formats/decision-log.js';
import type { RequestRecord } from '../../src/audit/record.js';
import { sampleRecord, TEST_KEY } from '../support/audit.js';

const sealed = (address: string | null) => seal(sampleRecord({ client: { address } }), 'inst-a', { seq: 0, hash: GENESIS }, TEST_KEY) as RequestRecord;
const context = { publicBaseUrl: 'https://fhir.example/fhir' };

describe('AuditEvent without the client address', () => {
  test('with the address, a successful patient read claims BALP PatientRead and conforms', () => {
    const event = toAuditEvent(sealed('10.1.2.3'), context);
    expect(event.meta?.profile).toEqual(['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead']);
    expect(auditEventSchema.safeParse(event).success).toBe(true);
    expect(event.agent[0]).toMatchObject({ network: { address: '10.1.2.3', type: '2' } });
  });

  test('without it, no BALP profile is claimed (BALP requires the client network), and the decision log says null', () => {
    const record = sealed(null);
    const event = toAuditEvent(record, context);
    expect(event.meta).toBeUndefined();
    expect(event.agent[0]!.network).toBeUndefined();
    expect(auditEventSchema.safeParse(event).success).toBe(true);
    expect(toDecisionLog(record, 'v').requested_by).toBeNull();
  });
});
