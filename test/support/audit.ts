/** Helpers for audit tests: sample records and trails sealed with a test key. */
import { randomUUID } from 'node:crypto';
import { GENESIS, seal, type ChainKey } from '../../src/audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditRecord, type UnsealedRequestRecord } from '../../src/audit/record.js';

export const TEST_KEY = Buffer.from('test-audit-hmac-key-0123456789abcdef', 'utf8');

export function sampleRecord(overrides: Partial<UnsealedRequestRecord> = {}): UnsealedRequestRecord {
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    kind: 'request',
    decisionId: randomUUID(),
    requestId: randomUUID(),
    time: new Date('2026-11-24T10:00:00.000Z').toISOString(),
    principal: { iss: 'https://idp.example', sub: 'Practitioner/p1', client_id: 'app-1', jti: 'jti-1', roles: ['clinician'], purpose_of_use: ['TREAT'], patient: null, fhir_user: 'Practitioner/p1', scopes: ['user/*.rs'] },
    request: { method: 'GET', interaction: 'read', type: 'Patient', id: 'pat-1', version: null, compartment: null, operation: null, params: [] },
    outcome: { decision: 'allow', reasons: ['scope.ok'], error: null, status: 200, breakGlass: false },
    entries: { returned: 1, withheld: 0, redacted: 0, withheldRefs: [], redactedRefs: [] },
    policyRevision: 'rev-1',
    durationMs: 1.5,
    ...overrides,
  };
}

/** A chain of `n` sealed request records of one instance. */
export function sealedTrail(n: number, key: ChainKey = TEST_KEY, instance = 'inst-a'): AuditRecord[] {
  const out: AuditRecord[] = [];
  let tip = { seq: 0, hash: GENESIS };
  for (let i = 0; i < n; i++) {
    const r = seal(sampleRecord(), instance, tip, key);
    tip = { seq: r.chain.seq, hash: r.chain.hash };
    out.push(r);
  }
  return out;
}

export const asEntries = (records: readonly object[]) => records.map((r, i) => ({ position: `line ${i + 1}`, text: JSON.stringify(r) }));
