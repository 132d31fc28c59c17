/**
 * The policy engine: one compiled WebAssembly module, loaded once per bundle, evaluated in-process
 * for each decision. Every failure (a trap, an undefined result, a decision that does not match the
 * contract) becomes a deny or a policy_error: this module never lets a request through by accident.
 */
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { GatewayError } from '../errors.js';
import type { PolicyBundle } from './bundle.js';
import { ENTRYPOINTS, type Decision, type RequestInput, type ResourcesInput, type ResourcesViewsInput } from './contract.js';
import { acceptDecision, acceptResourceDecisions } from './decision.js';
import { resourceElementsOf, resourcesDocumentOf, resourcesView, resourcesViewsDocument, type ResourcesDocument, type ViewElements } from './resource-view.js';

export interface PolicyEngineOptions {
  /** Upper bound on WebAssembly memory, in 64 KiB pages. */
  readonly maxMemoryPages: number;
}

/**
 * What the pipeline asks of a policy: the engine itself, or an engine with a shadow beside it.
 * The in-process engine answers synchronously; the interface also admits engines that answer
 * asynchronously (a policy server over HTTP, as the benchmark compares), so callers await.
 */
export interface PolicyEvaluator {
  readonly revision: string;
  decideRequest(input: RequestInput): Decision | Promise<Decision>;
  decideResources(input: ResourcesInput): Decision[] | Promise<Decision[]>;
  /** The document `decideResources(input)` evaluates (resources reduced to what the bundle reads), for explanations. */
  resourcesInput?(input: ResourcesInput): ResourcesInput | ResourcesViewsInput;
}

export class PolicyEngine implements PolicyEvaluator {
  private constructor(
    private readonly policy: LoadedPolicy,
    readonly revision: string,
    private readonly resourceElements: ViewElements | null,
    private readonly resourcesDocument: ResourcesDocument,
  ) {}

  static async load(bundle: PolicyBundle, options: PolicyEngineOptions): Promise<PolicyEngine> {
    const resourceElements = resourceElementsOf(bundle.data);
    const resourcesDocument = resourcesDocumentOf(bundle.data);
    const policy = await loadPolicy(bundle.wasm, { initial: Math.min(16, options.maxMemoryPages), maximum: options.maxMemoryPages });
    policy.setData(bundle.data);
    return new PolicyEngine(policy, bundle.revision, resourceElements, resourcesDocument);
  }

  /**
   * Bytes of WebAssembly memory the policy holds. OPA resets its heap after every evaluation, so
   * this stops growing once the largest input has been seen, and never exceeds maxMemoryPages.
   */
  memoryBytes(): number {
    return this.policy.mem.buffer.byteLength;
  }

  /** Decision for a request before it is forwarded. */
  decideRequest(input: RequestInput): Decision {
    return acceptDecision(this.evaluate(input, ENTRYPOINTS.request));
  }

  /** Decisions for every resource of one response, in the order of `input.items`. */
  decideResources(input: ResourcesInput): Decision[] {
    if (input.items.length === 0) return [];
    return acceptResourceDecisions(this.evaluate(this.resourcesInput(input), ENTRYPOINTS.resources), input.items.length);
  }

  resourcesInput(input: ResourcesInput): ResourcesInput | ResourcesViewsInput {
    return this.resourcesDocument === 'views' ? resourcesViewsDocument(input, this.resourceElements) : resourcesView(input, this.resourceElements);
  }

  private evaluate(input: unknown, entrypoint: string): unknown {
    let result: unknown;
    try {
      result = this.policy.evaluate(input, entrypoint);
    } catch (err) {
      throw new GatewayError('policy_error', { reasons: ['policy.evaluation-failed'], cause: err });
    }
    if (!Array.isArray(result)) throw new GatewayError('policy_error', { reasons: ['policy.evaluation-failed'] });
    if (result.length === 0) return undefined;
    if (result.length > 1) throw new GatewayError('policy_error', { reasons: ['policy.conflict'] });
    return (result[0] as { result?: unknown }).result;
  }
}
