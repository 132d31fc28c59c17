/**
 * A review transition as an audit record of its own: a reviewer closing a case (justified or
 * unjustified) is recorded like any access, sealed into a chain and stored with the other records,
 * so `audit verify` covers it and the trail shows who judged what, when. Pure.
 *
 * The record is a `request` record of the `review` operation: principal = the reviewer (issuer
 * `fhir-gateway:review` for the CLI; the privacy officer's token claims through the admin API),
 * request = `POST` of the case (`request.id` is the case id), reasons `review.justified` or
 * `review.unjustified`. It names no patient: it released nothing.
 */
import { randomUUID } from 'node:crypto';
import { AUDIT_SCHEMA_VERSION, type UnsealedRequestRecord } from '../audit/record.js';
import type { ReviewCase } from './case.js';

export interface Reviewer {
  readonly iss: string;
  readonly sub: string;
  readonly clientId: string | null;
  readonly roles: readonly string[];
}

export const CLI_REVIEWER_ISSUER = 'fhir-gateway:review';

export function transitionRecord(closed: ReviewCase, reviewer: Reviewer, at: string, policyRevision: string): UnsealedRequestRecord {
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    kind: 'request',
    decisionId: randomUUID(),
    requestId: randomUUID(),
    time: at,
    client: { address: null },
    principal: { iss: reviewer.iss, sub: reviewer.sub, client_id: reviewer.clientId, jti: null, roles: [...reviewer.roles], purpose_of_use: ['HOPERAT'], patient: null, fhir_user: null, scopes: [] },
    request: { method: 'POST', interaction: 'operation', type: null, id: closed.id, version: null, compartment: null, operation: 'review', params: [] },
    outcome: { decision: 'allow', reasons: [`review.${closed.status}`], error: null, status: 200, breakGlass: false, breakGlassReason: null },
    entries: null,
    patients: null,
    policyRevision,
    durationMs: 0,
  };
}
