/**
 * Shadow mode: a candidate policy evaluated beside the enforcing one on real traffic. Only the
 * enforcing decision is used; every disagreement (a different allow or obligations, or an error
 * in the candidate) is reported, so a policy change can be tried before it enforces. A failing
 * candidate never affects the answer.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Decision, RequestInput, ResourcesInput } from './contract.js';
import type { PolicyEvaluator } from './engine.js';

export type Disagreement = 'decision' | 'reasons' | 'error';

export function shadowed(primary: PolicyEvaluator, candidate: PolicyEvaluator, report: (stage: 'request' | 'resource', kind: Disagreement, detail: { primary: Decision | null; candidate: Decision | null }) => void): PolicyEvaluator {
  const compare = (stage: 'request' | 'resource', p: Decision, c: Decision): void => {
    if (p.allow !== c.allow || !isDeepStrictEqual(p.obligations, c.obligations)) report(stage, 'decision', { primary: p, candidate: c });
    else if (!isDeepStrictEqual(p.reasons, c.reasons)) report(stage, 'reasons', { primary: p, candidate: c });
  };
  return {
    revision: primary.revision,
    ...(primary.resourcesInput ? { resourcesInput: (input: ResourcesInput) => primary.resourcesInput!(input) } : {}),
    async decideRequest(input: RequestInput) {
      const decision = await primary.decideRequest(input);
      try {
        compare('request', decision, await candidate.decideRequest(input));
      } catch {
        report('request', 'error', { primary: decision, candidate: null });
      }
      return decision;
    },
    async decideResources(input: ResourcesInput) {
      const decisions = await primary.decideResources(input);
      try {
        const candidates = await candidate.decideResources(input);
        decisions.forEach((d, i) => compare('resource', d, candidates[i] as Decision));
      } catch {
        report('resource', 'error', { primary: null, candidate: null });
      }
      return decisions;
    },
  };
}
