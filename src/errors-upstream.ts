/**
 * What an upstream error status becomes, in one table. A client error the upstream reports (a
 * malformed date, a write its validation refuses, throttling) keeps its 4xx meaning for the client
 * and is not an upstream failure: it must not count towards the error-rate alert or the circuit
 * breaker. The client gets the gateway's own OperationOutcome; from the upstream's only its status
 * and what it said in closed vocabularies (FHIR IssueType codes, a parameter name) are kept, never
 * its free text, which can quote data or internals.
 *
 * Concealment is unchanged: 404 and 410 are `not_found` with their reason in the audit record only,
 * exactly like a withholding (noninterference, docs/threat-model.md).
 */
import { GatewayError, type ErrorCode, type UpstreamDetail } from './errors.js';

/** Upstream 4xx statuses with a meaning of their own; any other 4xx or 5xx is `upstream_error`. */
const BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'upstream_bad_request',
  // The gateway's own upstream credentials (or, with forwardClientToken, the client's) were refused:
  // a deployment problem the client cannot fix, hence a 502, counted by status for its own alert.
  401: 'upstream_auth_rejected',
  403: 'upstream_auth_rejected',
  405: 'upstream_method_not_allowed',
  409: 'upstream_conflict',
  422: 'upstream_unprocessable',
  429: 'upstream_throttled',
};

/** http://hl7.org/fhir/R4/valueset-issue-type.html: the only upstream words that reach a client. */
const ISSUE_TYPES = new Set([
  'invalid', 'structure', 'required', 'value', 'invariant', 'security', 'login', 'unknown', 'expired', 'forbidden', 'suppressed',
  'processing', 'not-supported', 'duplicate', 'multiple-matches', 'not-found', 'deleted', 'too-long', 'code-invalid', 'extension',
  'too-costly', 'business-rule', 'conflict', 'transient', 'lock-error', 'no-store', 'exception', 'timeout', 'incomplete',
  'throttled', 'informational',
]);

/** The query parser's alphabet for parameter names (src/fhir/search-params.ts). */
const PARAMETER_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Retry-After bounds for a throttled upstream: delta-seconds only, clamped. */
const RETRY_AFTER_DEFAULT = 1;
const RETRY_AFTER_MAX = 3600;

export interface UpstreamAnswer {
  readonly status: number;
  /** The parsed body, when it was JSON (anything else is ignored). */
  readonly body?: unknown;
  readonly retryAfter?: string | undefined;
}

/** The GatewayError for an upstream answer that is not a success. */
export function upstreamFailure(answer: UpstreamAnswer): GatewayError {
  const { status } = answer;
  const bare: UpstreamDetail = { status, issues: [], parameters: [] };
  // A real 404 and a concealed withholding must look the same to the client: no reasons, no detail shown.
  if (status === 404 || status === 410) return new GatewayError('not_found', { auditReasons: [`upstream.status-${status}`], upstream: bare });
  if (status === 412) return new GatewayError('precondition_failed', { reasons: ['upstream.status-412'], upstream: bare });
  const code = BY_STATUS[status];
  if (code === undefined) return new GatewayError('upstream_error', { reasons: [`upstream.status-${status}`], upstream: bare });
  const detail: UpstreamDetail = code === 'upstream_auth_rejected' ? bare : { status, ...outcomeVocabulary(answer.body) };
  return new GatewayError(code, {
    reasons: [`upstream.status-${status}`],
    upstream: detail,
    ...(code === 'upstream_throttled' ? { retryAfterSeconds: retryAfterOf(answer.retryAfter) } : {}),
  });
}

/** Whether an upstream status is a client error (counted apart from upstream failures). */
export function isUpstreamClientError(status: number): boolean {
  return status >= 400 && status < 500;
}

/**
 * The error to show for a request: a parameter the upstream pointed at is named only if it is one
 * of the client's own parameters, so the answer says nothing the client did not send.
 */
export function namingClientParameter(err: GatewayError, clientParameters: ReadonlySet<string>): GatewayError {
  if (err.upstream === undefined || err.parameter !== undefined) return err;
  const named = err.upstream.parameters.find((p) => clientParameters.has(p));
  return named === undefined ? err : err.withOptions({ parameter: named });
}

function outcomeVocabulary(body: unknown): { issues: string[]; parameters: string[] } {
  const issues = new Set<string>();
  const parameters = new Set<string>();
  const outcome = body as { resourceType?: unknown; issue?: unknown } | null | undefined;
  if (outcome?.resourceType === 'OperationOutcome' && Array.isArray(outcome.issue)) {
    for (const issue of outcome.issue.slice(0, 20) as Array<{ code?: unknown; expression?: unknown; location?: unknown }>) {
      if (typeof issue?.code === 'string' && ISSUE_TYPES.has(issue.code)) issues.add(issue.code);
      for (const where of [issue?.expression, issue?.location]) {
        if (!Array.isArray(where)) continue;
        for (const path of where.slice(0, 10)) {
          // FHIR: a query parameter is `http.<name>`; servers also give the bare name.
          const name = typeof path === 'string' ? path.replace(/^http\./, '') : '';
          if (PARAMETER_NAME.test(name)) parameters.add(name);
        }
      }
    }
  }
  return { issues: [...issues].sort(), parameters: [...parameters] };
}

function retryAfterOf(header: string | undefined): number {
  if (header === undefined || !/^\d{1,9}$/.test(header.trim())) return RETRY_AFTER_DEFAULT;
  return Math.min(RETRY_AFTER_MAX, Math.max(RETRY_AFTER_DEFAULT, Number(header.trim())));
}
