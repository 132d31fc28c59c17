/**
 * One evaluation with everything a policy author asks for: the decision and release (evaluate.ts),
 * the exact input documents, and the explanation of each (explain.ts). Shared by `policy eval` and
 * the console's playground, so both say the same thing about the same request.
 */
import type { PolicyBundle } from '../policy/bundle.js';
import type { PolicyEvaluator } from '../policy/engine.js';
import { findOpa } from '../policy/toolchain.js';
import { evalCase } from './eval-input.js';
import { EVAL_BASE, evaluateCase, type EvalResult, type Evaluation } from './evaluate.js';
import { checkSources, explain, type ExplainMode, type Explanation } from './explain.js';

export interface ExplainedResult {
  readonly result: EvalResult;
  readonly inputs: readonly { readonly entrypoint: string; readonly input: unknown }[];
  /** Null when no explanation was asked for. */
  readonly explanations: readonly Explanation[] | null;
}

export interface ExplainedOptions {
  readonly explain?: ExplainMode | undefined;
  /** The Rego sources of the bundle (checked against its revision); needed to explain. */
  readonly sources?: string | undefined;
}

export class NoSourcesError extends Error {
  override readonly name = 'NoSourcesError';
}

export async function evaluateExplained(engine: PolicyEvaluator, bundle: Pick<PolicyBundle, 'data' | 'revision'>, document: unknown, options: ExplainedOptions): Promise<ExplainedResult> {
  const evaluations: Evaluation[] = [];
  const result = await evaluateCase(engine, evalCase(document, engine.revision, [EVAL_BASE]), (e) => evaluations.push(e));
  let explanations: Explanation[] | null = null;
  if (options.explain !== undefined) {
    if (options.sources === undefined) throw new NoSourcesError('--explain needs the Rego sources of the bundle: pass them with --dir');
    checkSources(options.sources, bundle.revision);
    const src = { opa: findOpa(), dir: options.sources, data: bundle.data, revision: bundle.revision };
    const mode = options.explain;
    explanations = evaluations.map((e) => explain(src, e.entrypoint, e.input, e.output, mode));
  }
  return { result, inputs: evaluations.map((e) => ({ entrypoint: e.entrypoint, input: e.input })), explanations };
}
