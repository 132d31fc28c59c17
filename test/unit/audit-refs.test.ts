/** An audit record lists at most MAX_LISTED_REFS refs per list and says how many it left out. */
import { describe, expect, test } from '@jest/globals';
import { buildRequestRecord } from '../../src/audit/build.js';
import { GENESIS, seal } from '../../src/audit/chain.js';
import { emptySummary, listRef, MAX_LISTED_REFS } from '../../src/enforce/response.js';
import { TEST_KEY } from '../support/audit.js';
import { assertValid } from '../support/schemas.js';

const facts = (summary: ReturnType<typeof emptySummary>) => ({
  requestId: 'req-1', decisionId: '0b0c5c4e-3d5e-4f7a-9a51-2f7c1e9d8a01', time: new Date('2026-11-24T10:00:00Z'), request: null, principal: null, decision: null,
  summary, policyRevision: 'rev', status: 200, error: null, durationSeconds: 0.5, clientAddress: null,
});
const options = { mask: () => ({ name: 'x', modifier: null, value: null, mask: 'removed' as const }), clientAddress: false };

describe('refs in audit records', () => {
  test('beyond the cap, refs are counted in refsOmitted; the record still matches the published schema', () => {
    const summary = emptySummary();
    for (let i = 0; i < MAX_LISTED_REFS + 3; i++) {
      summary.redacted++;
      listRef(summary, 'redactedRefs', `Observation/o${i}`);
    }
    const record = buildRequestRecord(facts(summary), options);
    expect(record.entries).toMatchObject({ redacted: MAX_LISTED_REFS + 3, refsOmitted: 3 });
    expect(record.entries!.redactedRefs).toHaveLength(MAX_LISTED_REFS);
    assertValid('audit-record.schema.json', seal(record, 'inst-a', { seq: 0, hash: GENESIS }, TEST_KEY));
  });

  test('below it, nothing is omitted and the field is absent', () => {
    const summary = emptySummary();
    listRef(summary, 'withheldRefs', 'Patient/p2');
    expect(buildRequestRecord(facts(summary), options).entries).toEqual({ returned: 0, withheld: 0, redacted: 0, withheldRefs: ['Patient/p2'], redactedRefs: [] });
  });
});
