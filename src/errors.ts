/**
 * Every error the gateway answers with, in one table: a stable code, its HTTP status, the FHIR
 * IssueType of the OperationOutcome, and the only text a client ever sees for it.
 *
 * Codes are part of the product's contract (docs/errors.md lists them; a test keeps the two in step).
 * A code, once published, is never reused for a different meaning.
 */
import type { OperationOutcome } from 'fhir/r4.js';

export interface ErrorSpec {
  readonly status: number;
  /** FHIR IssueType (http://hl7.org/fhir/issue-type). */
  readonly issue: OperationOutcome['issue'][number]['code'];
  /** Client-facing text. Static on purpose: nothing request- or upstream-derived is interpolated. */
  readonly text: string;
}

export const ERROR_CATALOGUE = {
  // classify (400)
  invalid_request: { status: 400, issue: 'invalid', text: 'The request is not a valid FHIR REST request.' },
  path_not_canonical: { status: 400, issue: 'invalid', text: 'The request path is not in canonical form.' },
  unknown_resource_type: { status: 400, issue: 'not-supported', text: 'The resource type is not a FHIR R4 resource type.' },
  invalid_search_parameter: { status: 400, issue: 'invalid', text: 'A search parameter is malformed or not supported.' },
  invalid_body: { status: 400, issue: 'structure', text: 'The request body is not a valid FHIR JSON resource.' },
  method_not_allowed: { status: 405, issue: 'not-supported', text: 'The HTTP method is not supported for this path.' },
  not_acceptable: { status: 406, issue: 'not-supported', text: 'Only FHIR JSON (application/fhir+json) is supported.' },
  unsupported_media_type: { status: 415, issue: 'not-supported', text: 'The request body must be FHIR JSON (application/fhir+json).' },
  payload_too_large: { status: 413, issue: 'too-costly', text: 'The request body is larger than the gateway accepts.' },
  headers_too_large: { status: 431, issue: 'too-costly', text: 'The request headers are larger than the gateway accepts.' },
  request_timeout: { status: 408, issue: 'timeout', text: 'The request was not received in time.' },
  not_found: { status: 404, issue: 'not-found', text: 'The requested resource or path was not found.' },
  precondition_failed: { status: 412, issue: 'conflict', text: 'The resource has changed since the version the request names.' },
  update_create_refused: { status: 405, issue: 'not-supported', text: 'An update creates no resource here (no client-assigned ids): create it with POST.' },

  // authenticate (401)
  token_missing: { status: 401, issue: 'login', text: 'An access token is required.' },
  token_invalid: { status: 401, issue: 'login', text: 'The access token is invalid.' },
  token_expired: { status: 401, issue: 'login', text: 'The access token has expired.' },
  auth_unavailable: { status: 503, issue: 'transient', text: 'The authorization server cannot be reached to verify the access token.' },
  token_revoked: { status: 401, issue: 'login', text: 'The access token has been revoked.' },
  dpop_proof_invalid: { status: 401, issue: 'login', text: 'The DPoP proof is missing or invalid.' },
  auth_state_unavailable: { status: 503, issue: 'transient', text: 'Token revocation or replay state cannot be checked right now; the request was refused.' },

  // rate limits (after the token, before policy)
  rate_limited: { status: 429, issue: 'throttled', text: 'Too many requests; retry after the number of seconds in the Retry-After header.' },
  rate_limit_unavailable: { status: 503, issue: 'transient', text: 'Request rate limits cannot be checked right now; the request was refused.' },

  // decide (403)
  insufficient_scope: { status: 403, issue: 'forbidden', text: 'The access token does not grant the scope this request needs.' },
  forbidden: { status: 403, issue: 'forbidden', text: 'Access denied by policy.' },
  insufficient_user_authentication: {
    status: 401,
    issue: 'login',
    text: 'This request needs a stronger or more recent login: authenticate again as the WWW-Authenticate header asks (acr_values, max_age).',
  },
  policy_error: { status: 500, issue: 'exception', text: 'The access policy could not be evaluated; the request was denied.' },
  policy_not_ready: { status: 503, issue: 'transient', text: 'The access policy is not loaded yet.' },

  // forward (5xx)
  upstream_unavailable: { status: 502, issue: 'transient', text: 'The FHIR server could not be reached.' },
  upstream_timeout: { status: 504, issue: 'timeout', text: 'The FHIR server did not answer in time.' },
  upstream_error: { status: 502, issue: 'exception', text: 'The FHIR server answered with an error.' },
  upstream_bad_response: { status: 502, issue: 'exception', text: 'The FHIR server answered with content the gateway cannot check.' },
  upstream_too_large: { status: 502, issue: 'too-costly', text: 'The FHIR server answered with more data than the gateway accepts.' },
  upstream_circuit_open: { status: 503, issue: 'transient', text: 'The FHIR server is failing; the gateway is not sending it requests for a short while.' },

  // forward: the upstream refused the request (4xx). The client's request, not the server, is at
  // fault (except upstream_auth_rejected), so these keep their 4xx status and are not counted as
  // upstream failures (src/errors-upstream.ts maps them).
  upstream_bad_request: { status: 400, issue: 'invalid', text: 'The FHIR server rejected the request as invalid.' },
  upstream_method_not_allowed: { status: 405, issue: 'not-supported', text: 'The FHIR server does not support this interaction.' },
  upstream_conflict: { status: 409, issue: 'conflict', text: "The FHIR server refused the change: it conflicts with the resource's current state." },
  upstream_unprocessable: { status: 422, issue: 'processing', text: "The FHIR server could not process the resource: it failed the server's validation or business rules." },
  upstream_throttled: { status: 429, issue: 'throttled', text: 'The FHIR server is throttling requests; retry after the number of seconds in the Retry-After header.' },
  upstream_auth_rejected: { status: 502, issue: 'security', text: 'The FHIR server refused the credentials the gateway presented to it.' },

  // administration (outside the FHIR API)
  admin_unauthorized: { status: 401, issue: 'login', text: 'The administrative credential is missing or wrong.' },
  admin_invalid_request: { status: 400, issue: 'invalid', text: 'The administrative request is malformed.' },

  // the console (its own listener; answers are JSON, not OperationOutcome)
  console_session_required: { status: 401, issue: 'login', text: 'Sign in to the console first.' },
  console_role_required: { status: 403, issue: 'forbidden', text: 'Your console roles do not include this action.' },
  console_csrf_refused: { status: 403, issue: 'forbidden', text: 'The request did not carry the session\'s CSRF token or came from another origin.' },
  console_login_failed: { status: 400, issue: 'login', text: 'The sign-in could not be completed; start again.' },
  console_invalid_request: { status: 400, issue: 'invalid', text: 'The console request is malformed.' },
  console_shadow_unavailable: { status: 409, issue: 'conflict', text: 'This deployment has no shadow bundle the console may write (policy.shadow.bundle unset, or bundles must be signed).' },

  // audit (the answer is withheld when its record cannot be stored)
  audit_unavailable: { status: 503, issue: 'transient', text: 'The request could not be recorded in the audit trail, so its answer was withheld.' },
  access_history_unavailable: { status: 501, issue: 'not-supported', text: 'AuditEvent searches are answered from the audit store, and none is configured.' },
  audit_store_unavailable: { status: 503, issue: 'transient', text: 'The audit store cannot be read right now.' },

  // enforce / anything else
  enforce_failed: { status: 500, issue: 'exception', text: 'The response could not be checked against the access policy; it was withheld.' },
  internal: { status: 500, issue: 'exception', text: 'Internal gateway error.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface GatewayErrorOptions {
  /** Policy reason codes (stable, non-identifying) shown to the client and written to the audit record. */
  readonly reasons?: readonly string[];
  /**
   * Reasons written to the audit record only. A concealed withholding answers exactly like a real
   * 404, so the client must not see why; the audit trail must.
   */
  readonly auditReasons?: readonly string[];
  /**
   * For 401/403 from the token stage: the RFC 6750 (or RFC 9449) `error` and, for
   * insufficient_scope, the needed scope. `scheme: 'DPoP'` answers with a DPoP challenge.
   */
  readonly bearer?: {
    readonly error?: 'invalid_token' | 'insufficient_scope' | 'invalid_request' | 'invalid_dpop_proof' | 'insufficient_user_authentication';
    readonly scope?: string;
    readonly scheme?: 'Bearer' | 'DPoP';
    /** RFC 9470: the `acr_values` (in the issuer's words) and `max_age` a new login must satisfy. */
    readonly acrValues?: string;
    readonly maxAge?: number;
  };
  /** Internal detail for logs only; never sent to clients. */
  readonly cause?: unknown;
  /** For 429: the `Retry-After` the answer carries. */
  readonly retryAfterSeconds?: number;
  /**
   * The search parameter the error is about, named in the OperationOutcome's diagnostics. Only the
   * client's own parameter name (restricted to [A-Za-z0-9_.:-] by the query parser), never a value.
   */
  readonly parameter?: string;
  /**
   * For an error caused by an upstream answer: its status (for logs and metrics) and what its
   * OperationOutcome said in closed vocabularies (src/errors-upstream.ts), never its free text.
   */
  readonly upstream?: UpstreamDetail;
}

export interface UpstreamDetail {
  readonly status: number;
  /** FHIR IssueType codes of the upstream's OperationOutcome (a closed value set). */
  readonly issues: readonly string[];
  /**
   * Parameter names the upstream's issue.expression/location point at. Shown to the client only
   * once matched against the client's own parameter names (see `parameter`).
   */
  readonly parameters: readonly string[];
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly reasons: readonly string[];
  readonly auditReasons: readonly string[];
  readonly bearer: GatewayErrorOptions['bearer'];
  readonly retryAfterSeconds: number | undefined;
  readonly parameter: string | undefined;
  readonly upstream: UpstreamDetail | undefined;
  /** The options it was made with, so `withOptions` can derive a copy. */
  readonly options: GatewayErrorOptions;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    super(ERROR_CATALOGUE[code].text, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.reasons = options.reasons ?? [];
    this.auditReasons = options.auditReasons ?? [];
    this.bearer = options.bearer;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.parameter = options.parameter;
    this.upstream = options.upstream;
    this.options = options;
  }

  /** The same error with some options changed (errors are immutable once thrown). */
  withOptions(changes: GatewayErrorOptions): GatewayError {
    return new GatewayError(this.code, { ...this.options, ...changes });
  }
}

/** Anything thrown becomes a GatewayError; unknown errors become `internal` so their text never leaks. */
export function asGatewayError(err: unknown): GatewayError {
  return err instanceof GatewayError ? err : new GatewayError('internal', { cause: err });
}

/** Code system for the gateway's own error and reason codes inside OperationOutcome.issue.details. */
export const ERROR_CODE_SYSTEM = 'https://fhir-privacy-gateway.dev/CodeSystem/error';
export const REASON_CODE_SYSTEM = 'https://fhir-privacy-gateway.dev/CodeSystem/reason';

export function operationOutcomeFor(err: GatewayError, requestId?: string): OperationOutcome {
  const spec = ERROR_CATALOGUE[err.code];
  const coding = [
    { system: ERROR_CODE_SYSTEM, code: err.code },
    ...err.reasons.map((reason) => ({ system: REASON_CODE_SYSTEM, code: reason })),
  ];
  const diagnostics = diagnosticsOf(err);
  return {
    resourceType: 'OperationOutcome',
    ...(requestId ? { id: requestId } : {}),
    issue: [{ severity: 'error', code: spec.issue, details: { coding, text: spec.text }, ...(diagnostics ? { diagnostics } : {}) }],
  };
}

/** Built only from closed vocabularies and the client's own parameter name: never upstream text. */
function diagnosticsOf(err: GatewayError): string | null {
  const parts: string[] = [];
  if (err.parameter) parts.push(`Search parameter: ${err.parameter}`);
  if (err.upstream && err.upstream.issues.length > 0) parts.push(`FHIR server issue codes: ${err.upstream.issues.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : null;
}
