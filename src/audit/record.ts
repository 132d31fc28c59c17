/**
 * The audit record: one per request, written whatever the outcome. It says who asked for what,
 * what was decided and why, and what was released, withheld or redacted, but never the data itself:
 * no resource content, no search values (they may be names or identifiers), never the token.
 *
 * The schema is the contract for audit consumers; `npm run schemas` writes it to
 * schemas/audit-record.schema.json and tests validate real records against it.
 */
import { z } from 'zod';

export const AUDIT_SCHEMA_VERSION = 1;

export const auditRecordSchema = z.strictObject({
  schemaVersion: z.literal(AUDIT_SCHEMA_VERSION),
  /** Unique per record; consumers dedupe on it. */
  decisionId: z.uuid(),
  requestId: z.string(),
  time: z.iso.datetime(),
  principal: z
    .strictObject({
      iss: z.string(),
      sub: z.string().nullable(),
      client_id: z.string().nullable(),
      jti: z.string().nullable(),
      roles: z.array(z.string()),
      purpose_of_use: z.array(z.string()),
      patient: z.string().nullable().describe('launch context patient id'),
    })
    .nullable()
    .describe('null when the request was refused before the token was verified'),
  request: z
    .strictObject({
      method: z.string(),
      interaction: z.string(),
      type: z.string().nullable(),
      id: z.string().nullable(),
      version: z.string().nullable(),
      compartment: z.string().nullable().describe('e.g. Patient/123'),
      operation: z.string().nullable(),
      /** Parameter names only (with modifiers); values are never recorded. */
      params: z.array(z.string()),
    })
    .nullable()
    .describe('null when the request could not be classified'),
  outcome: z.strictObject({
    decision: z.enum(['allow', 'deny', 'error']),
    /** Policy reason codes, or the gateway error's reason codes. */
    reasons: z.array(z.string()),
    /** The gateway error code when the request did not succeed (see docs/errors.md). */
    error: z.string().nullable(),
    status: z.number().int(),
    breakGlass: z.boolean(),
  }),
  entries: z
    .strictObject({
      returned: z.number().int(),
      withheld: z.number().int(),
      redacted: z.number().int(),
      withheldRefs: z.array(z.string()).describe('Type/id of withheld resources'),
    })
    .nullable(),
  policyRevision: z.string(),
  durationMs: z.number(),
});

export type AuditRecord = z.output<typeof auditRecordSchema>;

export interface AuditSink {
  readonly name: string;
  write(record: AuditRecord): void;
  /** Flushes what was written and releases the sink. */
  close(): Promise<void>;
}
