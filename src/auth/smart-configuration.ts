/**
 * What clients discover about authorization, in the two places SMART App Launch defines:
 *
 * - `GET <base>/.well-known/smart-configuration`: the advertised issuer's own metadata (its SMART
 *   document, or its OpenID Connect one), reduced to the fields SMART defines, with PKCE limited to
 *   S256 (`plain` is never advertised) and `capabilities` filled in from configuration when the
 *   issuer's document has none;
 * - the CapabilityStatement's `rest[].security`: service `SMART-on-FHIR` and the `oauth-uris`
 *   extension pointing at the same authorization server. Whatever the upstream FHIR server said
 *   about its own security is replaced: it describes the server behind the gateway, not the
 *   endpoint clients talk to.
 */
import type { IssuerMetadata } from './issuer-metadata.js';

/** Fields of the SMART configuration document (SMART App Launch 2.x, section 2.0.8) copied from the issuer. */
const SMART_FIELDS = [
  'issuer',
  'jwks_uri',
  'authorization_endpoint',
  'grant_types_supported',
  'token_endpoint',
  'token_endpoint_auth_methods_supported',
  'registration_endpoint',
  'associated_endpoints',
  'user_access_brand_bundle',
  'user_access_brand_identifier',
  'scopes_supported',
  'response_types_supported',
  'management_endpoint',
  'introspection_endpoint',
  'revocation_endpoint',
  'capabilities',
  'code_challenge_methods_supported',
  'dpop_signing_alg_values_supported',
] as const;

export const DEFAULT_CAPABILITIES = [
  'launch-standalone',
  'launch-ehr',
  'client-public',
  'client-confidential-symmetric',
  'context-standalone-patient',
  'context-ehr-patient',
  'sso-openid-connect',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
];

export function smartConfigurationOf(metadata: IssuerMetadata, issuer: string, options: { capabilities?: readonly string[] | undefined }): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  for (const field of SMART_FIELDS) if (metadata[field] !== undefined) doc[field] = metadata[field];
  doc['issuer'] = issuer;
  const methods = Array.isArray(metadata['code_challenge_methods_supported']) ? metadata['code_challenge_methods_supported'] : [];
  // SMART requires S256 support and forbids advertising plain.
  doc['code_challenge_methods_supported'] = methods.includes('S256') || methods.length === 0 ? ['S256'] : methods.filter((m) => m !== 'plain');
  if (!Array.isArray(doc['capabilities'])) doc['capabilities'] = [...(options.capabilities ?? DEFAULT_CAPABILITIES)];
  if (!Array.isArray(doc['grant_types_supported'])) doc['grant_types_supported'] = ['authorization_code'];
  return doc;
}

const SECURITY_SERVICE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/restful-security-service';
const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

/** `rest[].security` for a CapabilityStatement; the oauth-uris extension only lists endpoints the issuer publishes. */
export function capabilitySecurityOf(metadata: IssuerMetadata | null): Record<string, unknown> {
  const uris: Array<{ url: string; valueUri: string }> = [];
  const add = (url: string, field: string): void => {
    const v = metadata?.[field];
    if (typeof v === 'string' && /^https?:\/\//.test(v)) uris.push({ url, valueUri: v });
  };
  add('authorize', 'authorization_endpoint');
  add('token', 'token_endpoint');
  add('register', 'registration_endpoint');
  add('manage', 'management_endpoint');
  add('introspect', 'introspection_endpoint');
  add('revoke', 'revocation_endpoint');
  return {
    ...(uris.length > 0 ? { extension: [{ url: OAUTH_URIS, extension: uris }] } : {}),
    service: [{ coding: [{ system: SECURITY_SERVICE_SYSTEM, code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }], text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)' }],
    description: 'Every request except metadata and .well-known/smart-configuration needs an access token from the authorization server named here.',
  };
}

/** Replaces the security section of every `rest` entry of a CapabilityStatement (in place). */
export function withSmartSecurity(capabilityStatement: Record<string, unknown>, security: Record<string, unknown>): void {
  const rest = Array.isArray(capabilityStatement['rest']) ? capabilityStatement['rest'] : [];
  for (const entry of rest) if (typeof entry === 'object' && entry !== null) (entry as Record<string, unknown>)['security'] = security;
}
