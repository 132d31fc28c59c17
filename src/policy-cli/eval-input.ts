/**
 * The document `fhir-gateway policy eval --input <file>` reads, turned into the policy inputs the
 * gateway would build. Pure.
 *
 * It is written for people, not for the gateway: the principal may be given as token claims (read
 * through the same claim mapping as real tokens) and the request as an HTTP request line (classified
 * by the same code as real requests), so an evaluation matches what the gateway would decide.
 * The contract forms (`principal`, request object) are accepted too, for inputs copied from tests.
 */
import { z } from 'zod';
import { principalFromClaims, type Principal } from '../auth/principal.js';
import { claimMappingSchema } from '../config/auth-schema.js';
import { flattenConsents } from '../consent/flatten.js';
import { GatewayError } from '../errors.js';
import { classify, withIfNoneExist } from '../fhir/classify.js';
import { patientIdsOf } from '../fhir/compartment.js';
import {
  principalSchema,
  requestSchema,
  type Consents,
  type FhirResourceJson,
  type PolicyPrincipal,
  type PolicyRequest,
  type RequestInput,
} from '../policy/contract.js';
import { policyEnv, policyRequest, resourceFacts } from '../policy/input.js';

const resource = z.looseObject({ resourceType: z.string().min(1) });

export const evalDocumentSchema = z
  .strictObject({
    /** Token claims, mapped as `auth.claims` maps them (default mapping unless `claimMapping` is given). */
    claims: z.record(z.string(), z.unknown()).optional(),
    claimMapping: claimMappingSchema.partial().optional(),
    /** Or the principal exactly as the policy input holds it. */
    principal: principalSchema.optional(),
    /** `GET /Observation?patient=p1` (path relative to the FHIR base), or the contract's request object. */
    request: z.union([z.string().min(1), requestSchema]),
    /** Conditional create's `If-None-Exist` header, with a request line. */
    ifNoneExist: z.string().optional(),
    /** For create/update/patch: the resource as it will be after the write. */
    body: resource.optional(),
    /** For update/patch/delete: the version stored now. */
    current: resource.optional(),
    /** What the FHIR server answers (a resource or a Bundle): decided per resource and redacted. */
    response: resource.optional(),
    /** The patients' Consent resources (FHIR R4), as the gateway would fetch them. */
    consents: z.array(resource).default([]),
    /** Time of the decision (RFC 3339); default now. */
    now: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((d) => (d.claims === undefined) !== (d.principal === undefined), { message: 'give either claims or principal' });

export type EvalDocument = z.output<typeof evalDocumentSchema>;

export interface EvalCase {
  readonly principal: PolicyPrincipal;
  readonly request: PolicyRequest;
  readonly requestInput: RequestInput;
  readonly response: FhirResourceJson | null;
  readonly consents: readonly FhirResourceJson[];
  readonly now: Date;
}

export function evalCase(document: unknown, revision: string, bases: readonly string[]): EvalCase {
  const doc = evalDocumentSchema.parse(document);
  const now = doc.now ? new Date(doc.now) : new Date();
  const principal: PolicyPrincipal = doc.principal ?? principalOf(doc.claims ?? {}, doc.claimMapping);
  const request = typeof doc.request === 'string' ? requestOf(doc.request, doc.ifNoneExist) : doc.request;
  const requestInput: RequestInput = {
    principal,
    request,
    env: policyEnv(now, revision),
    ...(doc.body ? { resource: doc.body, facts: resourceFacts(doc.body, bases) } : {}),
    ...(doc.current ? { current: doc.current, current_facts: resourceFacts(doc.current, bases) } : {}),
  };
  return { principal, request, requestInput, response: doc.response ?? null, consents: doc.consents, now };
}

function principalOf(claims: Record<string, unknown>, mapping: EvalDocument['claimMapping']): Principal {
  return principalFromClaims({ iss: 'policy-eval', ...claims }, claimMappingSchema.parse(mapping ?? {}));
}

/** The document cannot be evaluated: what is wrong with it, in words for its author. */
export class EvalInputError extends Error {
  override readonly name = 'EvalInputError';
}

function requestOf(line: string, ifNoneExist: string | undefined): PolicyRequest {
  const m = /^([A-Z]+)\s+(\S+)$/.exec(line.trim());
  if (!m) throw new EvalInputError(`request must be "METHOD /path?query", got ${JSON.stringify(line)}`);
  const target = m[2]!.startsWith('/') ? m[2]! : `/${m[2]!}`;
  try {
    const classified = classify(m[1]!, target, { basePath: '', pagingParameters: new Set() });
    return policyRequest(ifNoneExist ? withIfNoneExist(classified, ifNoneExist) : classified);
  } catch (err) {
    // The gateway would refuse this request before asking policy: say so, with its codes.
    if (err instanceof GatewayError) throw new EvalInputError(`the gateway refuses ${JSON.stringify(line)} before policy: ${[err.code, ...err.reasons].join(' ')}`);
    throw err;
  }
}

/**
 * The consents input for the patients whose data the items are: each patient's Consents from the
 * document (those naming them as `patient`), flattened as the gateway flattens fetched ones.
 */
export function consentsFor(patients: readonly string[], consents: readonly FhirResourceJson[], bases: readonly string[], now: Date): Consents {
  const out: Record<string, { status: 'ok'; consents: ReturnType<typeof flattenConsents> }> = {};
  for (const patient of new Set(patients)) {
    const own = consents.filter((c) => patientIdsOf(c, bases).includes(patient));
    out[patient] = { status: 'ok', consents: flattenConsents(own, now) };
  }
  return out;
}
