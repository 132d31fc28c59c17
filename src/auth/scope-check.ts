/**
 * Which SMART permission each FHIR interaction needs, and the scope to name in an RFC 6750
 * `insufficient_scope` challenge. Policy makes the decision; this module gives the gateway the same
 * answer for the challenge it writes, from the same table: src/auth/generated/smart-permissions.ts
 * is generated from the shipped policy's data (policies/fhirgw/config/data.json), and
 * test/unit/scope-check.test.ts checks each entry against the shipped bundle.
 *
 *   c: create            r: read, vread, instance history     u: update, patch
 *   d: delete            s: search (type, system, compartment), type and system history
 *
 * Operations need the permission their policy entry names on a wildcard scope (`system/*.r` for
 * `$export`), in one of the contexts it allows. Batch/transaction has no permission of its own:
 * each entry is checked as the interaction it is. Capabilities (`metadata`) are public.
 */
import type { FhirRequest } from '../fhir/request.js';
import { INTERACTION_PERMISSION, OPERATION_PERMISSION } from './generated/smart-permissions.js';
import type { Permission, ResourceScope, ScopeContext } from './scopes.js';

type ScopeRequest = Pick<FhirRequest, 'interaction' | 'id' | 'type' | 'operation'>;
type ScopePrincipal = { readonly patient: string | null; readonly scopes: readonly Pick<ResourceScope, 'context'>[] };

/** The permission the request needs; null when it has none of its own, or is an operation policy does not list. */
export function permissionFor(request: Pick<FhirRequest, 'interaction' | 'operation'>): Permission | null {
  if (request.interaction === 'operation') return operation(request.operation)?.perm ?? null;
  return (INTERACTION_PERMISSION as Partial<Record<FhirRequest['interaction'], Permission>>)[request.interaction] ?? null;
}

/**
 * The scope a client would need for this request, in the context it already uses: `system/` for a
 * backend service, `patient/` for a patient-context token, `user/` otherwise (for an operation, the
 * first context it allows when that one is not among them). Null when no scope would grant it
 * (batch, capabilities, an operation policy does not list).
 */
export function neededScope(request: ScopeRequest, principal: ScopePrincipal): string | null {
  const perm = permissionFor(request);
  if (perm === null) return null;
  const context = contextOf(principal);
  if (request.interaction === 'operation') {
    const allowed = operation(request.operation)?.contexts ?? [];
    return `${allowed.includes(context) ? context : (allowed[0] ?? context)}/*.${perm}`;
  }
  return `${context}/${request.type ?? '*'}.${perm}`;
}

/** The policy's entry for an operation name (own keys only: the name comes from the request). */
function operation(name: string | null): (typeof OPERATION_PERMISSION)[string] | undefined {
  return name !== null && Object.hasOwn(OPERATION_PERMISSION, name) ? OPERATION_PERMISSION[name] : undefined;
}

function contextOf(principal: ScopePrincipal): ScopeContext {
  const contexts = new Set(principal.scopes.map((s) => s.context));
  if (contexts.size > 0 && [...contexts].every((c) => c === 'system')) return 'system';
  return principal.patient !== null ? 'patient' : 'user';
}
