/**
 * The audit record: one per request, written whatever the outcome. It says who asked for what,
 * what was decided and why, and what was released, withheld or redacted, but never the data itself:
 * no resource content, no search values unless configured (they may be names or identifiers; by
 * default they are removed), never the token (only `jti`, `sub`, `client_id`).
 *
 * Every record is sealed into a per-instance hash chain before any sink sees it (see chain.ts): the
 * sealed record is what the spool stores, what sinks deliver and what `fhir-gateway audit verify`
 * checks. The OPA decision-log event and the FHIR AuditEvent are views of it (formats/).
 *
 * The schemas are the contract for audit consumers; `npm run generate` writes them to schemas/ and
 * tests validate real records against the generated JSON Schemas.
 */
import { z } from 'zod';

/** 3: `patients` (whose data was released, withheld, changed). Readers accept 2 as well (LEGACY_SCHEMA_VERSIONS). */
export const AUDIT_SCHEMA_VERSION = 3;
export const LEGACY_SCHEMA_VERSIONS = [2] as const;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const chainSchema = z
  .strictObject({
    /** The gateway instance whose chain this is (persisted with the spool, so it survives restarts). */
    instance: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    /** 1, 2, 3, ... per instance, without gaps: a gap is a missing record. */
    seq: z.number().int().min(1),
    /** `hash` of the previous record of this instance (64 zeros for seq 1). */
    prev: sha256Hex,
    /** hmac-sha256 with the configured audit key; sha256 (not keyed) only when no key is configured. */
    alg: z.enum(['hmac-sha256', 'sha256']),
    /** MAC of the canonical JSON of the record without this field. */
    hash: sha256Hex,
  })
  .describe('Tamper evidence: the per-instance hash chain');

export const paramSchema = z.strictObject({
  name: z.string(),
  modifier: z.string().nullable(),
  /** The value as configured by audit.masking: removed (null), a keyed hash, or kept as sent. */
  value: z.string().nullable(),
  mask: z.enum(['removed', 'hashed', 'kept']),
});

/** Who asked: the token's identifying claims and grants, never the token. */
export const principalRecordSchema = z.strictObject({
  iss: z.string(),
  sub: z.string().nullable(),
  client_id: z.string().nullable(),
  jti: z.string().nullable(),
  roles: z.array(z.string()),
  purpose_of_use: z.array(z.string()),
  patient: z.string().nullable().describe('launch context patient id'),
  fhir_user: z.string().nullable().describe('the fhirUser reference'),
  scopes: z.array(z.string()).describe('granted scopes (resource and launch scopes)'),
  assurance: z
    .strictObject({ level: z.number().int().nullable(), methods: z.array(z.string()), authenticatedAt: z.iso.datetime().nullable() })
    .optional()
    .describe('how strongly and when the user logged in (mapped acr level, amr, auth_time); optional: older records have none'),
});

/**
 * Whose data an answer concerns, by each resource's Patient compartment (the facts policy decided
 * on). Lists hold at most 10,000 patients each; the counts are exact and `capped` says a list is cut.
 */
export const patientsSchema = z.strictObject({
  released: z
    .array(z.strictObject({ id: z.string(), types: z.record(z.string(), z.number().int().min(0)).describe('resource type -> resources released') }))
    .describe('patients whose data was released, in the order first released'),
  releasedCount: z.number().int().min(0).describe('distinct patients whose data was released (exact)'),
  withheld: z.array(z.string()).describe('patients with data withheld'),
  withheldCount: z.number().int().min(0),
  changed: z.array(z.string()).describe('patients whose data a write created, changed or deleted'),
  changedCount: z.number().int().min(0),
  capped: z.literal(true).optional().describe('a list holds fewer patients than its count'),
});

/** What was asked: the classified request, search values masked. */
export const requestPartSchema = z.strictObject({
  method: z.string(),
  interaction: z.string(),
  type: z.string().nullable(),
  id: z.string().nullable(),
  version: z.string().nullable(),
  compartment: z.string().nullable().describe('e.g. Patient/123'),
  operation: z.string().nullable(),
  params: z.array(paramSchema),
});

export const requestRecordSchema = z.strictObject({
  schemaVersion: z.literal(AUDIT_SCHEMA_VERSION),
  kind: z.literal('request'),
  /** `<instance>/<seq>`: the same on every delivery of this record, so consumers dedupe on it. */
  deliveryId: z.string(),
  /** The policy decision id (the decision-log `decision_id`); also unique per record. */
  decisionId: z.uuid(),
  requestId: z.string(),
  /** W3C trace id (traceparent) of the request: ties the record to a distributed trace. Optional: older records have none. */
  traceId: z.string().regex(/^[0-9a-f]{32}$/).optional(),
  time: z.iso.datetime(),
  /** The TCP peer as the gateway saw it (often a load balancer); null with audit.clientAddress: omit. */
  client: z.strictObject({ address: z.string().nullable() }),
  principal: principalRecordSchema.nullable().describe('null when the request was refused before the token was verified'),
  request: requestPartSchema.nullable().describe('null when the request could not be classified'),
  outcome: z.strictObject({
    decision: z.enum(['allow', 'deny', 'error']),
    /** Policy reason codes, or the gateway error's reason codes. */
    reasons: z.array(z.string()),
    /** The gateway error code when the request did not succeed (see docs/errors.md). */
    error: z.string().nullable(),
    status: z.number().int(),
    breakGlass: z.boolean(),
    /** The reason the user stated for break-the-glass (token claim), when break-the-glass was used. */
    breakGlassReason: z.string().max(256).nullable().optional(),
    /**
     * A write that changed protections: removed or lowered a security label, or created, changed or
     * deleted a Consent. Present (true) only then; the privacy office reviews every such record.
     */
    protectionChange: z.literal(true).optional(),
  }),
  entries: z
    .strictObject({
      returned: z.number().int(),
      withheld: z.number().int(),
      redacted: z.number().int(),
      withheldRefs: z.array(z.string()).describe('Type/id of withheld resources'),
      redactedRefs: z.array(z.string()).describe('Type/id of released resources that were redacted'),
      refsOmitted: z
        .number()
        .int()
        .optional()
        .describe('refs not listed: each list holds at most 10,000 (a Bulk Data file may hold millions); the counts are exact'),
    })
    .nullable()
    .describe('per-entry decisions of the response, summarised; null when no response was enforced'),
  patients: patientsSchema.nullable().describe('whose data the answer released, withheld or changed; null when no response was enforced'),
  policyRevision: z.string(),
  durationMs: z.number(),
  chain: chainSchema,
});

/**
 * A signed checkpoint: emitted every `audit.checkpoint.everyRecords` records or `everySeconds`, into
 * the same chain (so deleting one breaks the chain) and, as a copy, into the gateway's log (a second
 * place an attacker would have to rewrite). It states "at `time`, this instance's chain was
 * `chain.seq - 1` records long and ended in `chain.prev`"; its keyed `chain.hash` is the signature.
 * `audit verify` reports how many records follow the last checkpoint (a truncated tail shows there).
 */
export const checkpointRecordSchema = z.strictObject({
  schemaVersion: z.literal(AUDIT_SCHEMA_VERSION),
  kind: z.literal('checkpoint'),
  deliveryId: z.string(),
  time: z.iso.datetime(),
  chain: chainSchema,
});

export const auditRecordSchema = z.discriminatedUnion('kind', [requestRecordSchema, checkpointRecordSchema]);

/** Records of schema version 2 (before `patients`): still verified and replayed. */
export const legacyRequestRecordSchema = requestRecordSchema.omit({ patients: true }).extend({ schemaVersion: z.literal(2) });
export const legacyCheckpointRecordSchema = checkpointRecordSchema.extend({ schemaVersion: z.literal(2) });

/** Any record a reader may meet in a trail: this version's or an older one's. */
export const readableRecordSchema = z.union([auditRecordSchema, z.discriminatedUnion('kind', [legacyRequestRecordSchema, legacyCheckpointRecordSchema])]);
export type ReadableRecord = z.output<typeof readableRecordSchema>;

export type RequestRecord = z.output<typeof requestRecordSchema>;
export type CheckpointRecord = z.output<typeof checkpointRecordSchema>;
/** A sealed record: what the spool stores and the sinks deliver. */
export type AuditRecord = z.output<typeof auditRecordSchema>;
export type Chain = z.output<typeof chainSchema>;
export type RecordParam = z.output<typeof paramSchema>;
export type RecordPatients = z.output<typeof patientsSchema>;

/** A record before it is sealed into the chain (the trail seals it when it is spooled). */
export type UnsealedRequestRecord = Omit<RequestRecord, 'deliveryId' | 'chain'>;
export type UnsealedRecord = UnsealedRequestRecord | Omit<CheckpointRecord, 'deliveryId' | 'chain'>;
