import { principalFromClaims } from '../../src/auth/principal.js';
import { claimMappingSchema } from '../../src/config/auth-schema.js';

const mapping = claimMappingSchema.parse({});

describe('principalFromClaims', () => {
  it('maps the configured claims, dotted paths included', () => {
    const p = principalFromClaims(
      { iss: 'https://idp', sub: 'u1', azp: 'app', realm_access: { roles: ['clinician', 'nurse'] }, purpose_of_use: 'TREAT ETREAT', scope: 'user/Observation.rs launch openid', fhirUser: 'https://ehr/fhir/Practitioner/pr-1' },
      claimMappingSchema.parse({ roles: 'realm_access.roles' }),
    );
    expect(p.roles).toEqual(['clinician', 'nurse']);
    expect(p.purpose_of_use).toEqual(['TREAT', 'ETREAT']);
    expect(p.client_id).toBe('app');
    expect(p.scopes.map((s) => s.scope)).toEqual(['user/Observation.rs']);
    expect(p.other_scopes).toEqual(['launch', 'openid']);
    expect(p.fhir_user).toEqual({ reference: 'https://ehr/fhir/Practitioner/pr-1', type: 'Practitioner', id: 'pr-1' });
    expect(p.break_glass_reason).toBeNull();
  });

  it('keeps the stated break-the-glass reason, without control or direction-override characters, bounded', () => {
    const forged = 'unconscious\r\n{"decision":"allow"}\u202Epatient\u0000 in ED';
    const p = principalFromClaims({ iss: 'i', break_glass_reason: forged }, mapping);
    expect(p.break_glass_reason).toBe('unconscious {"decision":"allow"} patient in ED');
    expect(principalFromClaims({ iss: 'i', break_glass_reason: 'x'.repeat(5000) }, mapping).break_glass_reason).toHaveLength(256);
    expect(principalFromClaims({ iss: 'i', break_glass_reason: ' \t\n ' }, mapping).break_glass_reason).toBeNull();
    expect(principalFromClaims({ iss: 'i', break_glass_reason: ['not', 'a', 'string'] }, mapping).break_glass_reason).toBeNull();
  });

  it('reads the reason from the configured claim', () => {
    const p = principalFromClaims({ iss: 'i', btg: { why: 'trauma call' } }, claimMappingSchema.parse({ breakGlassReason: 'btg.why' }));
    expect(p.break_glass_reason).toBe('trauma call');
  });
});
