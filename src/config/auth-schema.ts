/**
 * The `auth` section of the configuration: which token issuers the gateway trusts and how it
 * checks their tokens. Two shapes, one meaning:
 *
 *   auth: { issuer, jwksUri, audience, algorithms, ... }     one issuer (the shorthand)
 *   auth: { issuers: [ { issuer, ... }, { issuer, ... } ] }  several, each with its own settings
 *
 * Giving both is refused at start-up (a setting must never be silently ignored). Either way the
 * loaded configuration has `auth.issuers`, each entry complete: the defaults below are applied by
 * `resolveIssuer`. Secrets (the introspection client secret, the admin credential) are never
 * values of this document: it names the file or environment variable that holds them.
 */
import { z } from 'zod';
import { httpUrl } from './url.js';

/** Asymmetric JWS algorithms only: `none` and the HMAC family are not values this schema accepts. */
export const asymmetricAlgorithm = z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

export const claimMappingSchema = z.strictObject({
  /** Dotted path of the claim holding the user's roles (e.g. `realm_access.roles` for Keycloak, `groups` for Entra). */
  roles: z.string().min(1).default('roles'),
  /** Claim holding purpose-of-use codes (HL7 v3 ActReason: TREAT, ETREAT, HPAYMT, HRESCH, BTG, ...). */
  purposeOfUse: z.string().min(1).default('purpose_of_use'),
  patient: z.string().min(1).default('patient'),
  encounter: z.string().min(1).default('encounter'),
  fhirUser: z.string().min(1).default('fhirUser'),
  scope: z.string().min(1).default('scope'),
  /** The client; `azp` is read when this claim is absent (Keycloak, Entra v2). */
  clientId: z.string().min(1).default('client_id'),
  /** SMART `tenant`; e.g. `tid` for Entra. */
  tenant: z.string().min(1).default('tenant'),
  organization: z.string().min(1).default('organization'),
  /**
   * The reason the user stated when invoking break-the-glass, as the IdP's break-glass flow put it
   * in the token: it travels with the BTG purpose of use it justifies, and reaches the audit record.
   */
  breakGlassReason: z.string().min(1).default('break_glass_reason'),
});

export type ClaimMappingConfig = z.output<typeof claimMappingSchema>;

const assuranceLevel = z.union([z.literal(1), z.literal(2), z.literal(3)]);

/**
 * How this issuer says how strongly the user logged in (src/auth/assurance.ts): its `acr` values
 * and authentication-context ids mapped to NIST SP 800-63B levels, and what a step-up challenge
 * (RFC 9470) asks it for. docs/authentication.md has examples for Keycloak, Okta and Entra ID.
 */
export const assuranceMappingSchema = z.strictObject({
  /** `acr` claim value -> level, e.g. Okta `urn:okta:loa:2fa:any: 2`, Keycloak acr-to-loa `gold: 2`. */
  acr: z.record(z.string().min(1).max(256), assuranceLevel).default({}),
  /** Claim holding authentication-context ids (Entra ID puts `acrs`, an array, in access tokens). */
  contextClaim: z.string().min(1).default('acrs'),
  /** Authentication-context id -> level, e.g. Entra `c1: 2`. */
  contexts: z.record(z.string().min(1).max(256), assuranceLevel).default({}),
  /** Level -> the `acr_values` a step-up challenge names, e.g. `"2": urn:okta:loa:2fa:any`. */
  challenge: z
    .partialRecord(z.enum(['1', '2', '3']), z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'space-separated values without quotes or backslashes'))
    .default({}),
});

export type AssuranceMappingConfig = z.output<typeof assuranceMappingSchema>;

/** A secret held outside the configuration document: in a file (mounted secret) or an environment variable. */
const secretRefFields = {
  clientSecretFile: z.string().min(1).optional(),
  clientSecretEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
};

export const introspectionSchema = z
  .strictObject({
  /** RFC 7662 endpoint of the issuer. */
  endpoint: httpUrl,
  clientId: z.string().min(1),
  ...secretRefFields,
  authMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
  /** Longest an active answer is reused (never past the token's `exp`). */
  cacheSeconds: z.number().int().min(0).max(3600).default(300),
  /** How long an `active: false` answer is reused, so a flood of bad tokens does not become a flood of introspection calls. */
  inactiveCacheSeconds: z.number().int().min(0).max(3600).default(60),
  timeoutMs: z.number().int().min(100).max(60000).default(5000),
  })
  .refine((i) => (i.clientSecretFile === undefined) !== (i.clientSecretEnv === undefined), {
    message: 'name exactly one of clientSecretFile or clientSecretEnv (the secret itself never goes in this file)',
    path: ['clientSecretFile'],
  });

/** Per-issuer keys; all optional here, completed by `resolveIssuer`. */
const issuerFields = {
  /** The issuer's JWKS; when absent, read from the issuer's SMART or OpenID discovery document. */
  jwksUri: httpUrl.optional(),
  /** Accepted `aud` value(s); defaults to publicBaseUrl (SMART: the token's audience is the FHIR base URL). */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  algorithms: z.array(asymmetricAlgorithm).min(1).optional(),
  /** Required JOSE `typ` header. Set `at+jwt` for issuers that follow RFC 9068 (token confusion is then impossible). */
  typ: z.literal('at+jwt').optional(),
  /** Claims a token must carry besides `exp` (e.g. `jti` for per-token revocation, `sub`, `client_id`). */
  requiredClaims: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).optional(),
  claims: claimMappingSchema.optional(),
  /** How the issuer's `acr` (and `acrs`) values map to assurance levels, and what step-up challenges ask for. */
  assurance: assuranceMappingSchema.optional(),
  /** Opaque tokens: verify them with RFC 7662 introspection instead of a signature. */
  introspection: introspectionSchema.optional(),
  /** JWKS refresh: keys are re-read after this age even when every kid is known. */
  jwksMaxAgeSeconds: z.number().int().min(10).max(86400).optional(),
  /** At most one refetch per this period for tokens naming an unknown `kid` (key rotation). */
  jwksCooldownSeconds: z.number().int().min(1).max(3600).optional(),
};

export const ISSUER_DEFAULTS = {
  algorithms: ['RS256', 'ES256'],
  requiredClaims: [],
  jwksMaxAgeSeconds: 600,
  jwksCooldownSeconds: 10,
} as const;

export const issuerSchema = z.strictObject({ issuer: httpUrl, ...issuerFields });

const dpopSchema = z.strictObject({
  /** Algorithms accepted for DPoP proofs (asymmetric only). */
  algorithms: z.array(asymmetricAlgorithm).min(1).default(['ES256', 'RS256', 'PS256', 'EdDSA', 'Ed25519']),
  /** A proof is accepted this long after its `iat` (plus clock tolerance); its `jti` is remembered as long. */
  maxAgeSeconds: z.number().int().min(5).max(600).default(60),
  /** Refuse every token that is not DPoP-bound. */
  required: z.boolean().default(false),
});

const revocationSchema = z.strictObject({
  /**
   * What happens when the shared revocation store (Redis) cannot be read: `deny` answers 503 (the
   * default: a revoked token must never pass), `allow` lets the token through and counts it.
   */
  onStoreError: z.enum(['deny', 'allow']).default('deny'),
  /** How long a "log this subject out everywhere" entry lasts: set it to your longest token lifetime. */
  subjectSeconds: z.number().int().min(60).max(30 * 86400).default(86400),
  /** How long a `jti` entry lasts when the request does not say when the token expires. */
  jtiSeconds: z.number().int().min(60).max(30 * 86400).default(86400),
});

const adminSchema = z.strictObject({
  /** File holding the admin credential (a long random string); FHIRGW_ADMIN_TOKEN is read when absent. */
  tokenFile: z.string().min(1).optional(),
});

const discoverySchema = z.strictObject({
  /** Which configured issuer `.well-known/smart-configuration` and `metadata` advertise; the first by default. */
  issuer: httpUrl.optional(),
  /** SMART capabilities to advertise when the issuer's own document does not list them. */
  capabilities: z.array(z.string().regex(/^[a-z0-9-]+$/)).optional(),
});

export const authSchema = z
  .strictObject({
    // the single-issuer shorthand
    issuer: httpUrl.optional(),
    ...issuerFields,
    // several issuers
    issuers: z.array(issuerSchema).min(1).optional(),
    // shared by every issuer
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
    /** Largest accepted token, in bytes; bigger ones are refused before any parsing. */
    maxTokenBytes: z.number().int().min(512).max(65536).default(16384),
    /**
     * Verified JWTs are remembered (by hash) until their expiry and at most this long, so a
     * token's next request skips the signature check; also how long a token signed by a key the
     * issuer has withdrawn may still be accepted. 0 turns the cache off.
     */
    verifiedTokenCacheSeconds: z.number().int().min(0).max(3600).default(60),
    dpop: dpopSchema.default(dpopSchema.parse({})),
    revocation: revocationSchema.default(revocationSchema.parse({})),
    admin: adminSchema.optional(),
    discovery: discoverySchema.default({}),
  })
  .superRefine((auth, ctx) => {
    if (auth.issuers === undefined) {
      if (auth.issuer === undefined) ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'required (or list the issuers under auth.issuers)' });
      return;
    }
    for (const key of ['issuer', ...(Object.keys(issuerFields) as Array<keyof typeof issuerFields>)] as const) {
      if (auth[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'give the issuer settings either directly under auth (one issuer) or in auth.issuers, not both' });
        return;
      }
    }
    const seen = new Set<string>();
    auth.issuers.forEach((entry, i) => {
      if (seen.has(entry.issuer)) ctx.addIssue({ code: 'custom', path: ['issuers', i, 'issuer'], message: 'listed twice' });
      seen.add(entry.issuer);
    });
  })
  .superRefine((auth, ctx) => {
    const entries = auth.issuers ?? [auth];
    entries.forEach((entry, i) => {
      if (entry.introspection !== undefined && entry.jwksUri !== undefined) {
        const at = auth.issuers ? ['issuers', i, 'jwksUri'] : ['jwksUri'];
        ctx.addIssue({ code: 'custom', path: at, message: 'an issuer is checked either by signature (jwksUri) or by introspection, not both' });
      }
    });
    // Opaque tokens do not name their issuer: with two introspection issuers the gateway would have
    // to send a token to an authorization server that did not issue it.
    if (entries.filter((e) => e.introspection !== undefined).length > 1) {
      ctx.addIssue({ code: 'custom', path: ['issuers'], message: 'at most one issuer may use introspection' });
    }
  });

type IssuerEntry = z.output<typeof issuerSchema>;
type IntrospectionEntry = z.output<typeof introspectionSchema>;

/** One trusted issuer, every setting filled in. */
export interface ResolvedIssuer {
  readonly issuer: string;
  readonly jwksUri: string | undefined;
  readonly audience: readonly string[];
  readonly algorithms: readonly z.output<typeof asymmetricAlgorithm>[];
  readonly typ: 'at+jwt' | undefined;
  readonly requiredClaims: readonly string[];
  readonly claims: ClaimMappingConfig;
  readonly assurance: AssuranceMappingConfig;
  readonly introspection: IntrospectionEntry | undefined;
  readonly jwksMaxAgeSeconds: number;
  readonly jwksCooldownSeconds: number;
}

type ParsedAuth = z.output<typeof authSchema>;

export interface ResolvedAuth {
  readonly issuers: readonly ResolvedIssuer[];
  readonly clockToleranceSeconds: number;
  readonly maxTokenBytes: number;
  readonly verifiedTokenCacheSeconds: number;
  readonly dpop: ParsedAuth['dpop'];
  readonly revocation: ParsedAuth['revocation'];
  readonly admin: ParsedAuth['admin'];
  readonly discovery: ParsedAuth['discovery'];
}

export function resolveAuth(auth: ParsedAuth, publicBaseUrl: string): ResolvedAuth {
  const entries: IssuerEntry[] = auth.issuers ?? [
    {
      issuer: auth.issuer as string, // superRefine guarantees it
      jwksUri: auth.jwksUri,
      audience: auth.audience,
      algorithms: auth.algorithms,
      typ: auth.typ,
      requiredClaims: auth.requiredClaims,
      claims: auth.claims,
      assurance: auth.assurance,
      introspection: auth.introspection,
      jwksMaxAgeSeconds: auth.jwksMaxAgeSeconds,
      jwksCooldownSeconds: auth.jwksCooldownSeconds,
    },
  ];
  return {
    issuers: entries.map((entry) => resolveIssuer(entry, publicBaseUrl)),
    clockToleranceSeconds: auth.clockToleranceSeconds,
    maxTokenBytes: auth.maxTokenBytes,
    verifiedTokenCacheSeconds: auth.verifiedTokenCacheSeconds,
    dpop: auth.dpop,
    revocation: auth.revocation,
    admin: auth.admin,
    discovery: auth.discovery,
  };
}

function resolveIssuer(entry: IssuerEntry, publicBaseUrl: string): ResolvedIssuer {
  const audience = entry.audience ?? publicBaseUrl;
  return {
    issuer: entry.issuer,
    jwksUri: entry.jwksUri,
    audience: typeof audience === 'string' ? [audience] : audience,
    algorithms: entry.algorithms ?? ISSUER_DEFAULTS.algorithms,
    typ: entry.typ,
    requiredClaims: entry.requiredClaims ?? ISSUER_DEFAULTS.requiredClaims,
    claims: entry.claims ?? claimMappingSchema.parse({}),
    assurance: entry.assurance ?? assuranceMappingSchema.parse({}),
    introspection: entry.introspection,
    jwksMaxAgeSeconds: entry.jwksMaxAgeSeconds ?? ISSUER_DEFAULTS.jwksMaxAgeSeconds,
    jwksCooldownSeconds: entry.jwksCooldownSeconds ?? ISSUER_DEFAULTS.jwksCooldownSeconds,
  };
}
