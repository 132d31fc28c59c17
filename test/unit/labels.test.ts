import { describe, expect, test } from '@jest/globals';
import { createReasonFolder, reasonLabel, resourceTypeLabel, typeOfReference } from '../../src/observability/labels.js';

describe('bounded metric labels', () => {
  test.each([
    ['scope.ok', 'scope.ok'],
    ['compartment.other-patient', 'compartment.other-patient'],
    ['upstream.status-503', 'upstream.status'],
    ['policy.rule_17', 'policy.rule'],
    ['token.expired', 'token.expired'],
    ['Patient/123', 'other'],
    ['has spaces', 'other'],
    ['', 'other'],
    ['a.' + 'b'.repeat(90), 'other'],
  ])('reason %j is labelled %j', (reason, label) => {
    expect(reasonLabel(reason)).toBe(label);
  });

  test('a flood of novel reason codes is folded into `other` after the cap', () => {
    const fold = createReasonFolder(3);
    expect(['a.one', 'a.two', 'a.three'].map(fold)).toEqual(['a.one', 'a.two', 'a.three']);
    expect(fold('a.four')).toBe('other');
    expect(fold('a.two')).toBe('a.two');
    expect(fold('a.status-500')).toBe('other');
  });

  test('resource types are R4 types or none', () => {
    expect(resourceTypeLabel('Observation')).toBe('Observation');
    expect(resourceTypeLabel('Nonsense')).toBe('none');
    expect(resourceTypeLabel(null)).toBe('none');
    expect(typeOfReference('Patient/pat-alba')).toBe('Patient');
    expect(typeOfReference('Evil" } 1\n/x')).toBe('none');
  });
});
