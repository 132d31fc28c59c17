/** A Principal for unit tests: every field present, overridable. */
import type { Principal } from '../../src/auth/principal.js';

export function principalWith(over: Partial<Principal> = {}): Principal {
  return {
    iss: 'https://idp.example',
    sub: 'user-1',
    client_id: 'app-1',
    jti: 'jti-1',
    exp: 2_000_000_000,
    scopes: [],
    other_scopes: [],
    invalid_scopes: [],
    roles: [],
    purpose_of_use: [],
    patient: null,
    encounter: null,
    fhir_user: null,
    tenant: null,
    organization: null,
    break_glass_reason: null,
    binding: null,
    assurance: { level: null, methods: [], authenticated_at: null },
    ...over,
  };
}
