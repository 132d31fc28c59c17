/**
 * What any policy engine's raw answer must be before the gateway acts on it. Shared by the
 * in-process WebAssembly engine and any other engine (the benchmark's OPA-server adapter), so
 * every engine accepts and refuses exactly the same decisions: an undefined result is a deny, a
 * malformed one is a policy_error.
 */
import { GatewayError } from '../errors.js';
import { decisionSchema, resourceDecisionsSchema, type Decision } from './contract.js';

export const UNDEFINED_DECISION: Decision = { allow: false, reasons: ['policy.undefined'], obligations: {} };

/** A request decision; `undefined` (no result) is a deny. */
export function acceptDecision(raw: unknown): Decision {
  if (raw === undefined) return UNDEFINED_DECISION;
  const parsed = decisionSchema.safeParse(raw);
  if (!parsed.success) throw new GatewayError('policy_error', { reasons: ['policy.malformed-decision'], cause: parsed.error });
  return parsed.data;
}

/** One decision per item, in order; `undefined` (no result) denies every item. */
export function acceptResourceDecisions(raw: unknown, count: number): Decision[] {
  if (raw === undefined) return Array.from({ length: count }, () => UNDEFINED_DECISION);
  const parsed = resourceDecisionsSchema.safeParse(raw);
  if (!parsed.success || parsed.data.length !== count) {
    throw new GatewayError('policy_error', { reasons: ['policy.malformed-decision'], cause: parsed.error });
  }
  return parsed.data;
}
