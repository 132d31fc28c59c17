/**
 * The gateway asks the batched entrypoint (fhirgw/resources/decisions) for every resource of an
 * answer at once; the shipped policies compute what depends on the principal, or on a resource
 * type, once per batch. That batching must decide every resource exactly as the single-resource
 * entrypoint (fhirgw/resource/decision) does for it alone.
 */
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { describe, expect, test } from '@jest/globals';
import { DEFAULT_POLICY_BUNDLE } from '../../src/config/load.js';
import { readBundleFile } from '../../src/policy/bundle.js';
import { ENTRYPOINTS } from '../../src/policy/contract.js';
import { PolicyEngine } from '../../src/policy/engine.js';
import { corpusResourcesInputs } from '../support/decision-corpus.js';

describe('batched resource decisions', () => {
  test('decide every resource of the corpus exactly as one evaluation per resource', async () => {
    const bundle = await readBundleFile(DEFAULT_POLICY_BUNDLE);
    const engine = await PolicyEngine.load(bundle, { maxMemoryPages: 2048 });
    const single = await loadPolicy(bundle.wasm, { initial: 16, maximum: 2048 });
    single.setData(bundle.data);
    let compared = 0;
    for (const input of corpusResourcesInputs()) {
      const { items, ...shared } = input;
      // Shuffled and doubled, so per-type and per-principal values computed once serve every position.
      const batch = [...items].reverse().concat(items);
      const batched = engine.decideResources({ ...input, items: batch });
      batch.forEach((item, i) => {
        const [one] = single.evaluate({ ...shared, resource: item.resource, facts: item.facts }, ENTRYPOINTS.resource) as Array<{ result: unknown }>;
        expect(batched[i]).toEqual({ obligations: {}, ...(one!.result as object) });
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(200);
  });
});
