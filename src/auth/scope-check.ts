/**
 * Which SMART permission each FHIR interaction needs, and the scope to name in an RFC 6750
 * `insufficient_scope` challenge. Policy makes the decision (policies/fhirgw/lib/scopes.rego holds
 * the same table, and test/unit/scope-check.test.ts checks the two agree through the shipped
 * bundle); this module gives the gateway the same answer for the challenge it writes.
 *
 *   c: create            r: read, vread, instance history     u: update, patch
 *   d: delete            s: search (type, system, compartment), type and system history
 *
 * Operations need `r` on an instance and `s` at type or system level (policy allow-lists them
 * besides). Batch/transaction has no permission of its own: each entry is checked as the
 * interaction it is. Capabilities (`metadata`) are public.
 */
import type { FhirRequest } from '../fhir/request.js';
import type { Permission, ResourceScope, ScopeContext } from './scopes.js';

const PERMISSION: Readonly<Record<FhirRequest['interaction'], Permission | null>> = {
  read: 'r',
  vread: 'r',
  'history-instance': 'r',
  'search-type': 's',
  'search-system': 's',
  'search-compartment': 's',
  'search-continue': 's',
  'history-type': 's',
  'history-system': 's',
  create: 'c',
  update: 'u',
  patch: 'u',
  delete: 'd',
  operation: null, // depends on the level, below
  batch: null,
  capabilities: null,
};

export function permissionFor(request: Pick<FhirRequest, 'interaction' | 'id'>): Permission | null {
  if (request.interaction === 'operation') return request.id === null ? 's' : 'r';
  return PERMISSION[request.interaction];
}

/**
 * The scope a client would need for this request, in the context it already uses: `system/` for a
 * backend service, `patient/` for a patient-context token, `user/` otherwise. Null when the
 * interaction has no single permission (batch, capabilities).
 */
export function neededScope(
  request: Pick<FhirRequest, 'interaction' | 'id' | 'type'>,
  principal: { readonly patient: string | null; readonly scopes: readonly Pick<ResourceScope, 'context'>[] },
): string | null {
  const perm = permissionFor(request);
  if (perm === null) return null;
  return `${contextOf(principal)}/${request.type ?? '*'}.${perm}`;
}

function contextOf(principal: { readonly patient: string | null; readonly scopes: readonly Pick<ResourceScope, 'context'>[] }): ScopeContext {
  const contexts = new Set(principal.scopes.map((s) => s.context));
  if (contexts.size > 0 && [...contexts].every((c) => c === 'system')) return 'system';
  return principal.patient !== null ? 'patient' : 'user';
}
