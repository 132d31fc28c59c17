/**
 * Verified token claims -> the Principal that policy sees. Pure: no I/O, no jose types.
 */
import type { AssuranceMappingConfig } from '../config/auth-schema.js';
import { assuranceOf, UNMAPPED, type Assurance } from './assurance.js';
import type { ParsedScopes, ResourceScope } from './scopes.js';
import { parseScopes } from './scopes.js';

export interface ClaimMapping {
  readonly roles: string;
  readonly purposeOfUse: string;
  readonly patient: string;
  readonly encounter: string;
  readonly fhirUser: string;
  readonly scope: string;
  readonly clientId: string;
  readonly tenant: string;
  readonly organization: string;
  readonly breakGlassReason: string;
}

/** How the token is bound to its client: DPoP key (RFC 9449), TLS client certificate (RFC 8705), or not at all. */
export type TokenBinding = 'dpop' | 'mtls' | null;

export interface Principal {
  readonly iss: string;
  readonly sub: string | null;
  readonly client_id: string | null;
  readonly jti: string | null;
  /** Expiry, seconds since the epoch. */
  readonly exp: number | null;
  readonly scopes: readonly ResourceScope[];
  /** Non-resource scopes such as `launch/patient`, `openid`, `offline_access`. */
  readonly other_scopes: readonly string[];
  readonly invalid_scopes: readonly string[];
  readonly roles: readonly string[];
  readonly purpose_of_use: readonly string[];
  /** Launch context: the patient in context (an id), when the token carries one. */
  readonly patient: string | null;
  readonly encounter: string | null;
  /** `fhirUser` as given, and split into type and id when it is a FHIR reference or URL. */
  readonly fhir_user: { readonly reference: string; readonly type: string | null; readonly id: string | null } | null;
  /** SMART `tenant` (or the configured claim, e.g. Entra `tid`). */
  readonly tenant: string | null;
  readonly organization: string | null;
  /** The reason stated for break-the-glass (sanitised, at most 256 characters); null when none was given. */
  readonly break_glass_reason: string | null;
  /** Proof of possession the gateway verified for this request. */
  readonly binding: TokenBinding;
  /** How strongly and when the user authenticated (`acr`/`acrs` mapped per issuer, `amr`, `auth_time`). */
  readonly assurance: Assurance;
}

export function principalFromClaims(
  claims: Readonly<Record<string, unknown>>,
  mapping: ClaimMapping,
  binding: TokenBinding = null,
  /** The issuer's `acr` mapping; without one, only `amr` and `auth_time` are read. */
  assurance: AssuranceMappingConfig | null = null,
): Principal {
  const scopeClaim = claimAt(claims, mapping.scope) ?? claims['scp'];
  const scopes: ParsedScopes = parseScopes(
    typeof scopeClaim === 'string' ? scopeClaim : Array.isArray(scopeClaim) ? scopeClaim.filter(isString) : undefined,
  );
  return {
    iss: stringOrNull(claims['iss']) ?? '',
    sub: stringOrNull(claims['sub']),
    client_id: stringOrNull(claimAt(claims, mapping.clientId)) ?? stringOrNull(claims['azp']),
    jti: stringOrNull(claims['jti']),
    exp: typeof claims['exp'] === 'number' ? claims['exp'] : null,
    scopes: scopes.resources,
    other_scopes: scopes.other,
    invalid_scopes: scopes.invalid,
    roles: stringList(claimAt(claims, mapping.roles)),
    purpose_of_use: stringList(claimAt(claims, mapping.purposeOfUse)),
    patient: stringOrNull(claimAt(claims, mapping.patient)),
    encounter: stringOrNull(claimAt(claims, mapping.encounter)),
    fhir_user: fhirUserOf(stringOrNull(claimAt(claims, mapping.fhirUser))),
    tenant: stringOrNull(claimAt(claims, mapping.tenant)),
    organization: stringOrNull(claimAt(claims, mapping.organization)),
    break_glass_reason: statedReason(claimAt(claims, mapping.breakGlassReason)),
    binding,
    assurance: assuranceOf(claims, assurance ?? UNMAPPED),
  };
}

/** Reads a dotted claim path such as `realm_access.roles`. */
function claimAt(claims: Readonly<Record<string, unknown>>, dotted: string): unknown {
  let node: unknown = claims;
  for (const key of dotted.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
    node = Object.prototype.hasOwnProperty.call(node, key) ? (node as Record<string, unknown>)[key] : undefined;
  }
  return node;
}

function fhirUserOf(value: string | null): Principal['fhir_user'] {
  if (value === null) return null;
  const m = /(?:^|\/)(Patient|Practitioner|PractitionerRole|RelatedPerson|Person)\/([A-Za-z0-9\-.]{1,64})$/.exec(value);
  return { reference: value, type: m?.[1] ?? null, id: m?.[2] ?? null };
}

/**
 * Free text typed by a user ends up in audit records, AuditEvents and SIEM lines: control and
 * bidirectional-override characters are replaced (they forge log lines or hide text), whitespace is
 * collapsed, and the length is bounded.
 */
function statedReason(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const clean = value
    .replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (clean === '') return null;
  return clean.length > MAX_REASON_LENGTH ? `${clean.slice(0, MAX_REASON_LENGTH - 1)}…` : clean;
}

const MAX_REASON_LENGTH = 256;

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter((v) => v !== '');
  if (Array.isArray(value)) return value.filter(isString);
  return [];
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
