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
export const redactionActionSchema = z
  .enum(['remove', 'mask', 'year', 'zip3', 'free-text', 'safe-harbor', 'limited-data-set'])
  .describe(
    'remove: delete the element (a mandatory top-level element is masked instead); mask: replace it with a data-absent-reason "masked" extension; ' +
      'year: keep only the year of a date/dateTime/instant (or of a Period\'s start and end); zip3: keep the first three digits of a postal code; ' +
      'free-text: remove narratives, notes, comments and string/markdown values at any depth of the target; ' +
      'safe-harbor (path * or the type): HIPAA Safe Harbor de-identification of the whole resource, ids pseudonymised; ' +
      'limited-data-set (path * or the type): HIPAA limited data set of the whole resource (dates, city, state and ZIP kept, direct identifiers removed), ids pseudonymised.',
  );

export const redactionSchema = z.strictObject({
  /**
   * What to act on: an element path from the resource type (`Patient.address.line`, `*.text` for
   * every type, `Patient` or `*` for the whole resource with free-text), or a FHIRPath expression
   * (`Patient.identifier.where(system='http://hl7.org/fhir/sid/us-ssn')`).
   */
  path: z.string().min(1).max(512),
  action: redactionActionSchema,
});

export const obligationsSchema = z.strictObject({
  /** Request side: restrict a search (or a conditional write's criteria) to this patient's compartment before it is forwarded. */
  narrow: z.strictObject({ patient: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/) }).optional(),
  /**
   * Request side: everything the upstream selects will be released, so its counts (`Bundle.total`,
   * `_summary=count`) may be passed on. Without it, counts are recomputed or dropped and
   * `_summary=count` is refused: a count would reveal withheld resources.
   */
  release_total: z.boolean().optional(),
  /**
   * Accepted from bundles written before the gateway concealed every withholding; it has no effect:
   * a withheld resource is always answered as if it did not exist (404).
   */
  conceal: z.boolean().optional(),
  /**
   * Response side: what to take out of or generalise in the resource before it is released. On a
   * request decision: the redactions resources of the requested type will get, which search
   * criteria may not test.
   */
  redact: z.array(redactionSchema).optional(),
  /**
   * Request side, on a denial: a stronger or fresher login would allow the request. The gateway
   * answers 401 with an RFC 9470 challenge (`insufficient_user_authentication`, `acr_values` for
   * `level` in the issuer's words, `max_age`). Only request decisions may carry it: they depend on
   * the request alone, never on what data exists.
   */
  step_up: z
    .strictObject({
      level: z.union([z.literal(1), z.literal(2), z.literal(3)]).optional(),
      max_age: z.number().int().min(0).max(31_536_000).optional(),
    })
    .optional(),
  /**
   * Request side, AuditEvent searches (the access history the gateway answers from its audit store):
   * whose history the reader sees (`patient`: one patient's only; null: everyone's) and how staff
   * appear in it (`names`, or only their roles and `organisation`).
   */
  history: z
    .strictObject({
      patient: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/).nullable(),
      staff: z.enum(['names', 'role-organisation']),
      organisation: z.string().min(1).max(200),
    })
    .optional(),
  /** Marks for the audit record: break-the-glass used; a change of protections (labels, Consents) made. */
  audit: z.strictObject({ break_glass: z.boolean().optional(), protection_change: z.boolean().optional() }).optional(),
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
  break_glass_reason: z.string().nullable().describe('the reason the user stated for break-the-glass (token claim, sanitised); policy may require one'),
  binding: z.enum(['dpop', 'mtls']).nullable().describe('proof of possession verified for this request: DPoP key (RFC 9449) or TLS client certificate (RFC 8705)'),
  assurance: z
    .strictObject({
      level: z
        .union([z.literal(1), z.literal(2), z.literal(3)])
        .nullable()
        .describe("NIST SP 800-63B authenticator assurance level the issuer's acr (or Entra acrs) maps to (auth.issuers[].assurance); null when none maps"),
      methods: z.array(z.string()).describe('amr: the authentication methods (RFC 8176), as the token lists them'),
      authenticated_at: z.number().nullable().describe('auth_time: when the user authenticated, seconds since the epoch; null when the token does not say'),
    })
    .describe('how strongly and when the user logged in (RFC 9068 acr, amr, auth_time; the same fields of an introspection answer)'),
});

const searchParamSchema = z.strictObject({ name: z.string(), modifier: z.string().nullable(), value: z.string(), values: z.array(z.string()) });

export const requestSchema = z.strictObject({
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
  interaction: z.enum([
    'read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'history-system', 'create',
    'search-type', 'search-system', 'search-compartment', 'search-continue', 'capabilities', 'batch', 'operation',
  ]),
  type: z.string().nullable(),
  id: z.string().nullable(),
  version: z.string().nullable(),
  compartment: z.strictObject({ type: z.string(), id: z.string() }).nullable(),
  operation: z.string().nullable(),
  params: z.array(searchParamSchema),
  search_via_post: z.boolean(),
  if_none_exist: z.array(searchParamSchema).nullable().describe('conditional create: the If-None-Exist criteria'),
});

export const factsSchema = z.strictObject({
  patients: z
    .array(z.string())
    .describe('ids of the patients whose data the resource is: those the Patient CompartmentDefinition links, or, for types outside it, every patient it references'),
  patient_data: z
    .boolean()
    .describe('whether the resource is patient data: its type is in the Patient compartment, or it references a patient anyway (Device.patient, Contract.subject, ...)'),
  data_date: z
    .string()
    .nullable()
    .describe("the resource's clinical date (effective, issued, onset, authored, recorded, period start, ...), for Consent dataPeriod"),
  referenced_patients: z
    .array(z.string())
    .optional()
    .describe('ids of every patient the resource references anywhere (local references), whether or not that makes it their data: what a release would reveal about other patients'),
  logical_patient_references: z
    .boolean()
    .optional()
    .describe('the resource holds a Reference without `reference` that names someone by identifier or display only, typed Patient or untyped: it may name another patient'),
});

const consentCriteriaSchema = z.strictObject({
  actors: z.array(z.string()),
  actor_roles: z.array(z.string()),
  purposes: z.array(z.string()),
  labels: z.array(z.string()),
  classes: z.array(z.string()),
  codes: z.array(z.string()),
  data_period: z.strictObject({ start: z.string().nullable(), end: z.string().nullable() }).nullable(),
});

/** A Consent in force, flattened (src/consent/flatten.ts): nested provisions as rules with their path's criteria. */
export const flatConsentSchema = z.strictObject({
  id: z.string(),
  scope: z.string(),
  date: z.string().nullable(),
  base: z.enum(['permit', 'deny']),
  rules: z.array(z.strictObject({ type: z.enum(['permit', 'deny']), depth: z.number().int(), conditions: z.array(consentCriteriaSchema) })),
});

/** The patients' consents by patient id: `unavailable` when they could not be read (policy must fail closed). */
export const consentsSchema = z.record(
  z.string(),
  z.discriminatedUnion('status', [z.strictObject({ status: z.literal('ok'), consents: z.array(flatConsentSchema) }), z.strictObject({ status: z.literal('unavailable') })]),
);

export const envSchema = z.strictObject({
  now: z.string().describe('RFC 3339 time of the decision'),
  now_seconds: z.number(),
  policy_revision: z.string(),
});

const fhirResource = z.looseObject({ resourceType: z.string() });

/**
 * Input of `fhirgw/request/decision`: before forwarding. For writes, `resource`/`facts` describe the
 * resource as it will be after the write (create and update bodies, the result of a JSON Patch), and
 * `current`/`current_facts` the version stored now (update, patch, delete of an existing resource).
 */
export const requestInputSchema = z.strictObject({
  principal: principalSchema,
  request: requestSchema,
  resource: fhirResource.optional(),
  facts: factsSchema.optional(),
  current: fhirResource.optional(),
  current_facts: factsSchema.optional(),
  env: envSchema,
});

/** Input of `fhirgw/resource/decision`: one resource coming back from the FHIR server. */
export const resourceInputSchema = z.strictObject({
  principal: principalSchema,
  request: requestSchema,
  resource: fhirResource,
  facts: factsSchema,
  consents: consentsSchema,
  env: envSchema,
});

/** Input of `fhirgw/resources/decisions`: every resource of one response, decided in one evaluation. */
export const resourcesInputSchema = z.strictObject({
  principal: principalSchema,
  request: requestSchema,
  items: z.array(z.strictObject({ resource: fhirResource, facts: factsSchema })),
  consents: consentsSchema,
  env: envSchema,
});

/**
 * The batched input as a bundle that declares `data.fhirgw.config.resources_document: "views"`
 * receives it (src/policy/resource-view.ts): each distinct view of a resource once, in `views`, and
 * each item naming its view by index. A 1,000-entry search of one patient's results has a handful
 * of distinct views, so the policy works out what depends on the view once per view.
 */
export const resourcesViewsInputSchema = z.strictObject({
  principal: principalSchema,
  request: requestSchema,
  views: z.array(fhirResource),
  items: z.array(z.strictObject({ view: z.number().int().min(0), facts: factsSchema })),
  consents: consentsSchema,
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
export type ResourcesViewsInput = DeepReadonly<z.input<typeof resourcesViewsInputSchema>>;
export type Consents = DeepReadonly<z.input<typeof consentsSchema>>;
export type FhirResourceJson = Record<string, unknown> & { resourceType: string };

/** Entry points every bundle must export (`opa build -e ...`). */
export const ENTRYPOINTS = {
  request: 'fhirgw/request/decision',
  resource: 'fhirgw/resource/decision',
  resources: 'fhirgw/resources/decisions',
} as const;
