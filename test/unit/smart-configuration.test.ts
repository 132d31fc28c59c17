/** The discovery documents the gateway writes from its issuer's metadata. */
import { describe, expect, test } from '@jest/globals';
import { capabilitySecurityOf, DEFAULT_CAPABILITIES, smartConfigurationOf, withSmartSecurity } from '../../src/auth/smart-configuration.js';

const oidc = {
  issuer: 'https://kc.example/realms/c',
  authorization_endpoint: 'https://kc.example/realms/c/protocol/openid-connect/auth',
  token_endpoint: 'https://kc.example/realms/c/protocol/openid-connect/token',
  jwks_uri: 'https://kc.example/realms/c/protocol/openid-connect/certs',
  introspection_endpoint: 'https://kc.example/realms/c/protocol/openid-connect/token/introspect',
  code_challenge_methods_supported: ['plain', 'S256'],
  grant_types_supported: ['authorization_code', 'client_credentials'],
  userinfo_endpoint: 'https://kc.example/realms/c/protocol/openid-connect/userinfo',
  claims_supported: ['sub'],
};

describe('smart-configuration', () => {
  test('from an OpenID Connect document: SMART fields only, PKCE S256 only, default capabilities', () => {
    const doc = smartConfigurationOf(oidc, oidc.issuer, {});
    expect(doc).toEqual({
      issuer: oidc.issuer,
      authorization_endpoint: oidc.authorization_endpoint,
      token_endpoint: oidc.token_endpoint,
      jwks_uri: oidc.jwks_uri,
      introspection_endpoint: oidc.introspection_endpoint,
      grant_types_supported: oidc.grant_types_supported,
      code_challenge_methods_supported: ['S256'],
      capabilities: DEFAULT_CAPABILITIES,
    });
  });

  test("the issuer's own SMART capabilities win; configured ones fill a gap", () => {
    expect(smartConfigurationOf({ ...oidc, capabilities: ['launch-ehr'] }, oidc.issuer, { capabilities: ['x'] })['capabilities']).toEqual(['launch-ehr']);
    expect(smartConfigurationOf(oidc, oidc.issuer, { capabilities: ['launch-standalone'] })['capabilities']).toEqual(['launch-standalone']);
  });

  test('the CapabilityStatement security section replaces the upstream one in every rest entry', () => {
    const cs: Record<string, unknown> = { resourceType: 'CapabilityStatement', rest: [{ mode: 'server', security: { description: 'upstream basic auth at 10.0.0.5' } }] };
    withSmartSecurity(cs, capabilitySecurityOf(oidc));
    const security = (cs['rest'] as Array<{ security: Record<string, unknown> }>)[0]!.security;
    expect(JSON.stringify(security)).not.toContain('10.0.0.5');
    expect(security['extension']).toEqual([
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [
          { url: 'authorize', valueUri: oidc.authorization_endpoint },
          { url: 'token', valueUri: oidc.token_endpoint },
          { url: 'introspect', valueUri: oidc.introspection_endpoint },
        ],
      },
    ]);
  });

  test('without metadata the section still names the SMART service, with no endpoints to mislead', () => {
    const security = capabilitySecurityOf(null);
    expect(security['extension']).toBeUndefined();
    expect(security['service']).toEqual([expect.objectContaining({ coding: [expect.objectContaining({ code: 'SMART-on-FHIR' })] })]);
  });
});
