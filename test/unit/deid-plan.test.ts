/**
 * The de-identification allow-list, read off the compiled plans: every string-like element (string,
 * markdown, uri, url, canonical, oid, uuid, id) that either profile releases in some form, exactly
 * as docs/policy-guide.md lists it. Any other element of those types, in any structure, is removed.
 */
import { describe, expect, test } from '@jest/globals';
import { PLANS, Step } from '../../src/enforce/deid-plan.js';

const STRINGISH = new Set(['string', 'markdown', 'uri', 'url', 'canonical', 'oid', 'uuid', 'id']);
const QUANTITIES = ['Age', 'Count', 'Distance', 'Duration', 'MoneyQuantity', 'Quantity', 'SimpleQuantity'];

describe('the allow-list of text and identifiers', () => {
  test('is exactly the documented one; every other string, uri and id of every structure is removed', () => {
    const released = new Map<string, string>();
    for (const plan of PLANS.values()) {
      for (const [key, step] of plan.steps) {
        if (!STRINGISH.has(step.element.type) || step.step === Step.Drop) continue;
        released.set(`${plan.name}.${key}`, Object.entries(Step).find(([, v]) => v === step.step)?.[0] ?? '?');
      }
    }
    const expected = new Map<string, string>([
      ...QUANTITIES.flatMap((q): Array<[string, string]> => [
        [`${q}.unit`, 'Keep'],
        [`${q}.system`, 'Keep'],
      ]),
      ['Coding.system', 'Keep'],
      ['Extension.url', 'Keep'],
      ['Reference.type', 'Keep'],
      ['Meta.profile', 'Keep'],
      ['Bundle.link.relation', 'Keep'],
      ['Bundle.entry.response.status', 'Keep'],
      ['Coding.display', 'CodingText'],
      ['Coding.version', 'CodingText'],
      ['Reference.reference', 'Reference'],
      ['Meta.source', 'MetaSource'],
      ['Bundle.entry.fullUrl', 'BundleUrl'],
      ['Bundle.link.url', 'BundleUrl'],
      ['Bundle.entry.request.url', 'BundleUrl'],
      ['Bundle.entry.response.location', 'BundleUrl'],
    ]);
    expect(Object.fromEntries([...released].sort())).toEqual(Object.fromEntries([...expected].sort()));
  });

  test('the withheld data types are removed wherever an element holds one, extensions included', () => {
    for (const type of ['HumanName', 'ContactPoint', 'Identifier', 'Annotation', 'Narrative', 'Signature', 'ContactDetail']) {
      const holders = [...PLANS.values()].flatMap((p) => [...p.steps.values()].filter((s) => s.element.type === type));
      expect(holders.length).toBeGreaterThan(0);
      expect(holders.every((s) => s.step === Step.Drop)).toBe(true);
    }
    expect(PLANS.get('Extension')?.steps.get('valueHumanName')?.step).toBe(Step.Drop);
    expect(PLANS.get('Extension')?.steps.get('valueAddress')?.step).toBe(Step.Address);
  });
});
