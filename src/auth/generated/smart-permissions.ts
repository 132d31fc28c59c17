// Generated from policies/fhirgw/config/data.json by scripts/generate-scope-table.mjs (npm run generate). Do not edit:
// change the policy data, then regenerate.
import type { FhirRequest } from '../../fhir/request.js';
import type { Permission, ScopeContext } from '../scopes.js';

/** The SMART permission each interaction needs (data.fhirgw.config.interaction_permissions); absent: none of its own. */
export const INTERACTION_PERMISSION = {
  'read': 'r',
  'vread': 'r',
  'history-instance': 'r',
  'search-type': 's',
  'search-system': 's',
  'search-compartment': 's',
  'search-continue': 's',
  'history-type': 's',
  'history-system': 's',
  'create': 'c',
  'update': 'u',
  'patch': 'u',
  'delete': 'd',
} as const satisfies Partial<Record<FhirRequest['interaction'], Permission>>;

/** Allowed operations (data.fhirgw.config.operations): the permission they need on a wildcard (`*`) scope, in one of these contexts. */
export const OPERATION_PERMISSION: Readonly<Record<string, { readonly perm: Permission; readonly contexts: readonly ScopeContext[] }>> = {
  'everything': { perm: 'r', contexts: ['patient', 'user', 'system'] },
  'export': { perm: 'r', contexts: ['system'] },
  'bulk-status': { perm: 'r', contexts: ['system'] },
  'bulk-file': { perm: 'r', contexts: ['system'] },
};
