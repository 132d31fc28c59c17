/**
 * The policy contract: what the gateway gives Rego (input) and what it accepts back (decision).
 *
 * These schemas are the single source of truth: the gateway validates every decision against them
 * (a malformed decision is a deny), and `npm run schemas` writes them out as JSON Schema under
 * schemas/ for policy authors (docs/policy-guide.md explains each field).
 */
import { z } from 'zod';

// ---------- output ----------

/** Redaction actions the enforce stage implements. */
export const redactionActionSchema = z.enum(['remove', 'year']).describe(
  'remove: delete the element; year: keep only the year of a date/dateTime (HIPAA Safe Harbor generalisation).',
);

export const redactionSchema = z.strictObject({
  /** Element path from the resource type, e.g. `Patient.address.line`, or `*.text` for every type. */
  path: z.string().regex(/^(\*|[A-Z][A-Za-z]+)(\.[a-z][A-Za-z0-9]*)+$/, 'an element path such as Patient.name or *.text'),
  action: redactionActionSchema,
});

export const obligationsSchema = z.strictObject({
  /** Request side: restrict a search to this patient's compartment before it is forwarded. */
  narrow: z.strictObject({ patient: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/) }).optional(),
  /** Response side: what to take out of or generalise in the resource before it is released. */
  redact: z.array(redactionSchema).optional(),
  /** Marks for the audit record. */
  audit: z.strictObject({ break_glass: z.boolean().optional() }).optional(),
});

export const decisionSchema = z.strictObject({
  allow: z.boolean(),
  /** Stable, non-identifying reason codes, e.g. `scope.missing`, `compartment.other-patient`. */
  reasons: z.array(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/)).max(32).default([]),
  obligations: obligationsSchema.default({}),
});

export const resourceDecisionsSchema = z.array(decisionSchema);

export type Decision = z.output<typeof decisionSchema>;
export type Redaction = z.output<typeof redactionSchema>;

// ---------- input ----------

const scopeSchema = z.strictObject({
  scope: z.string(),
  context: z.enum(['patient', 'user', 'system']),
  type: z.string(),
  perms: z.string().describe('granted permissions as letters in c r u d s order'),
  query: z.array(z.strictObject({ name: z.string(), value: z.string() })),
  version: z.union([z.literal(1), z.literal(2)]),
});

export const principalSchema = z.strictObject({
  iss: z.string(),
  sub: z.string().nullable(),
  client_id: z.string().nullable(),
  jti: z.string().nullable(),
  exp: z.number().nullable(),
  scopes: z.array(scopeSchema),
  other_scopes: z.array(z.string()),
  invalid_scopes: z.array(z.string()),
  roles: z.array(z.string()),
  purpose_of_use: z.array(z.string()),
  patient: z.string().nullable().describe('launch context: the id of the patient in context'),
  encounter: z.string().nullable(),
  fhir_user: z.strictObject({ reference: z.string(), type: z.string().nullable(), id: z.string().nullable() }).nullable(),
  tenant: z.string().nullable().describe('SMART tenant (or the configured claim, e.g. Entra tid)'),
  organization: z.string().nullable(),
  binding: z.enum(['dpop', 'mtls']).nullable().describe('proof of possession verified for this request: DPoP key (RFC 9449) or TLS client certificate (RFC 8705)'),
});

export const requestSchema = z.strictObject({
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
  interaction: z.enum([
    'read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'history-system', 'create',
    'search-type', 'search-system', 'search-compartment', 'capabilities', 'batch', 'operation',
  ]),
  type: z.string().nullable(),
  id: z.string().nullable(),
  version: z.string().nullable(),
  compartment: z.strictObject({ type: z.string(), id: z.string() }).nullable(),
  operation: z.string().nullable(),
  params: z.array(z.strictObject({ name: z.string(), modifier: z.string().nullable(), value: z.string(), values: z.array(z.string()) })),
  search_via_post: z.boolean(),
});

export const factsSchema = z.strictObject({
  patients: z.array(z.string()).describe('ids of the patients whose compartment holds the resource (Patient CompartmentDefinition)'),
  patient_compartment: z.boolean().describe('whether the resource type can belong to a patient compartment at all'),
});

export const envSchema = z.strictObject({
  now: z.string().describe('RFC 3339 time of the decision'),
  now_seconds: z.number(),
  policy_revision: z.string(),
});

const fhirResource = z.looseObject({ resourceType: z.string() });

/** Input of `fhirgw/request/decision`: before forwarding. `resource`/`facts` are set for create and update bodies. */
export const requestInputSchema = z.strictObject({
  principal: principalSchema,
  request: requestSchema,
  resource: fhirResource.optional(),
  facts: factsSchema.optional(),
  env: envSchema,
});

/** Input of `fhirgw/resource/decision`: one resource coming back from the FHIR server. */
export const resourceInputSchema = z.strictObject({
  principal: principalSchema,
  request: requestSchema,
  resource: fhirResource,
  facts: factsSchema,
  env: envSchema,
});

/** Input of `fhirgw/resources/decisions`: every resource of one response, decided in one evaluation. */
export const resourcesInputSchema = z.strictObject({
  principal: principalSchema,
  request: requestSchema,
  items: z.array(z.strictObject({ resource: fhirResource, facts: factsSchema })),
  env: envSchema,
});

/** The pipeline hands policy read-only views of its own objects; nothing is copied to satisfy the types. */
type DeepReadonly<T> = T extends ReadonlyArray<infer U>
  ? ReadonlyArray<DeepReadonly<U>>
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type PolicyPrincipal = DeepReadonly<z.input<typeof principalSchema>>;
export type PolicyRequest = DeepReadonly<z.input<typeof requestSchema>>;
export type Facts = DeepReadonly<z.input<typeof factsSchema>>;
export type PolicyEnv = DeepReadonly<z.input<typeof envSchema>>;
export type RequestInput = DeepReadonly<z.input<typeof requestInputSchema>>;
export type ResourcesInput = DeepReadonly<z.input<typeof resourcesInputSchema>>;
export type FhirResourceJson = Record<string, unknown> & { resourceType: string };

/** Entry points every bundle must export (`opa build -e ...`). */
export const ENTRYPOINTS = {
  request: 'fhirgw/request/decision',
  resource: 'fhirgw/resource/decision',
  resources: 'fhirgw/resources/decisions',
} as const;
