/**
 * One FHIR request through the gateway, stage by stage:
 *
 *   classify -> read body -> authenticate -> decide(request) -> forward -> enforce(response) -> respond
 *
 * and, whatever happens, exactly one audit record and one set of metrics. Each stage throws a
 * GatewayError to stop; `errorReply` turns it into an OperationOutcome. The answer is built as a
 * Reply, the audit record is committed, and only then is the Reply sent. Nothing the upstream sent
 * reaches the client unless `enforceResponse` has run over it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from './auth/authenticate.js';
import type { Principal } from './auth/principal.js';
import type { AuditTrail } from './audit/trail.js';
import type { GatewayConfig } from './config/schema.js';
import { narrowToPatient } from './enforce/narrow.js';
import { enforceResponse, type EnforcementSummary } from './enforce/response.js';
import { asGatewayError, ERROR_CATALOGUE, GatewayError, operationOutcomeFor } from './errors.js';
import { readRequestBody, type RequestBody } from './fhir/body.js';
import { classify, withFormParams, type ClassifyOptions } from './fhir/classify.js';
import type { LinkRewriter } from './fhir/links.js';
import type { FhirRequest } from './fhir/request.js';
import { upstreamPathOf } from './fhir/upstream-path.js';
import type { Logger } from './observability/logger.js';
import type { GatewayMetrics } from './observability/metrics.js';
import type { Decision } from './policy/contract.js';
import type { PolicyEngine } from './policy/engine.js';
import { policyEnv, policyRequest, resourceFacts } from './policy/input.js';
import { decodeContent, parseFhirJson } from './proxy/decode.js';
import type { Forwarder, UpstreamResponse } from './proxy/forward.js';
import { clientResponseHeaders, SECURITY_HEADERS, upstreamRequestHeaders } from './proxy/headers.js';

export interface PipelineDeps {
  readonly config: GatewayConfig;
  readonly classifyOptions: ClassifyOptions;
  readonly authenticator: Authenticator;
  /** The active policy; a function so a reloaded bundle takes effect for the next request. */
  readonly policy: () => PolicyEngine | null;
  readonly forwarder: Forwarder;
  readonly links: LinkRewriter;
  readonly audit: AuditTrail;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** What one request accumulated; the audit record and metrics are built from it. */
interface Trace {
  readonly requestId: string;
  readonly decisionId: string;
  readonly started: bigint;
  readonly time: Date;
  request: FhirRequest | null;
  principal: Principal | null;
  decision: Decision | null;
  summary: EnforcementSummary | null;
  policyRevision: string;
}

const REQUEST_ID = /^[A-Za-z0-9\-._]{8,64}$/;

export async function handleFhirRequest(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const incomingId = req.headers['x-request-id'];
  const trace: Trace = {
    requestId: typeof incomingId === 'string' && REQUEST_ID.test(incomingId) ? incomingId : randomUUID(),
    decisionId: randomUUID(),
    started: process.hrtime.bigint(),
    time: (deps.now ?? (() => new Date()))(),
    request: null,
    principal: null,
    decision: null,
    summary: null,
    policyRevision: deps.policy()?.revision ?? '',
  };
  let reply: Reply;
  let error: GatewayError | null = null;
  try {
    reply = await runStages(deps, req, res, trace);
  } catch (err) {
    error = asGatewayError(err);
    if (error.code === 'internal' || error.status >= 500) {
      deps.logger.error({ requestId: trace.requestId, code: error.code, err: describeCause(error) }, 'request failed');
    }
    reply = errorReply(error, trace.requestId, deps.config.publicBaseUrl);
  }

  // The audit record is committed before the answer is released: in durable mode a request whose
  // record cannot be stored is not answered with data.
  const durationSeconds = seconds(trace.started);
  try {
    await deps.audit.record({ ...trace, status: reply.status, error, durationSeconds, clientAddress: req.socket.remoteAddress ?? null });
  } catch (err) {
    const auditError = asGatewayError(err);
    deps.logger.error({ requestId: trace.requestId, code: auditError.code }, 'audit record could not be committed; answer withheld');
    reply = errorReply(auditError, trace.requestId, deps.config.publicBaseUrl);
  }
  send(res, reply);
  observe(deps, trace, reply.status, durationSeconds);
}

async function runStages(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse, trace: Trace): Promise<Reply> {
  const { config } = deps;
  // classify
  let request = classify(req.method ?? '', req.url ?? '', deps.classifyOptions);
  trace.request = request;
  const body = await readRequestBody(req, request, config.limits.maxRequestBodyBytes);
  if (body.kind === 'form') {
    request = withFormParams(request, body.text, deps.classifyOptions);
    trace.request = request;
  }

  // capabilities are public (FHIR: clients read them before they have a token)
  if (request.interaction === 'capabilities') {
    const upstream = await callUpstream(deps, req, res, trace, request, null);
    return releaseCapabilities(deps, trace, upstream);
  }

  // authenticate
  const principal = await deps.authenticator.authenticate({
    method: request.method,
    publicUrl: config.publicBaseUrl + (req.url ?? '').split('?')[0]!.slice(deps.classifyOptions.basePath.length),
    headers: req.headers,
  });
  trace.principal = principal;

  // decide(request)
  const policy = deps.policy();
  if (!policy) throw new GatewayError('policy_not_ready');
  trace.policyRevision = policy.revision;
  const env = policyEnv(trace.time, policy.revision);
  const resourceBody = body.kind === 'json' && (request.interaction === 'create' || request.interaction === 'update') ? body.json : undefined;
  const decision = policy.decideRequest({
    principal,
    request: policyRequest(request),
    env,
    ...(resourceBody ? { resource: resourceBody, facts: resourceFacts(resourceBody, deps.links.bases) } : {}),
  });
  trace.decision = decision;
  deps.metrics.decisions.inc({ stage: 'request', result: decision.allow ? 'allow' : 'deny' });
  if (!decision.allow) throw denial(decision, request, principal);
  const narrowTo = decision.obligations.narrow?.patient;
  const forwarded = narrowTo === undefined ? request : narrowToPatient(request, narrowTo);

  // forward, unless the audit trail already knows it cannot record the outcome (fail-closed): a
  // write must not reach the upstream when its answer would then be withheld.
  deps.audit.admit();
  const upstream = await callUpstream(deps, req, res, trace, forwarded, body);

  // enforce(response)
  const released = enforceUpstreamAnswer(deps, upstream, (items) => {
    const decisions = policy.decideResources({ principal, request: policyRequest(request), env, items });
    for (const d of decisions) deps.metrics.decisions.inc({ stage: 'resource', result: d.allow ? 'allow' : 'deny' });
    return decisions;
  }, trace);

  // respond
  return { status: upstream.status, body: released.body, headers: { ...clientResponseHeaders(upstream.headers, deps.links), 'x-request-id': trace.requestId } };
}

function denial(decision: Decision, request: FhirRequest, principal: Principal): GatewayError {
  if (decision.reasons.includes('scope.missing')) {
    const perm = PERMISSION_OF[request.interaction] ?? 'r';
    const context = principal.patient !== null ? 'patient' : 'user';
    return new GatewayError('insufficient_scope', {
      reasons: decision.reasons,
      bearer: { error: 'insufficient_scope', scope: `${context}/${request.type ?? '*'}.${perm}` },
    });
  }
  return new GatewayError('forbidden', { reasons: decision.reasons });
}

/** SMART v2 permission each interaction needs (used for the `scope` hint of insufficient_scope). */
const PERMISSION_OF: Readonly<Partial<Record<FhirRequest['interaction'], string>>> = {
  read: 'r', vread: 'r', 'history-instance': 'r',
  'search-type': 's', 'search-system': 's', 'search-compartment': 's', 'history-type': 's', 'history-system': 's',
  create: 'c', update: 'u', patch: 'u', delete: 'd',
};

async function callUpstream(
  deps: PipelineDeps,
  req: IncomingMessage,
  res: ServerResponse,
  trace: Trace,
  request: FhirRequest,
  body: RequestBody | null,
): Promise<UpstreamResponse> {
  const { path, formBody } = upstreamPathOf(request);
  let payload: { bytes: Buffer; contentType: string } | null = null;
  if (formBody !== null) payload = { bytes: Buffer.from(formBody, 'utf8'), contentType: 'application/x-www-form-urlencoded' };
  else if (body?.kind === 'json' || body?.kind === 'json-patch') {
    payload = { bytes: Buffer.from(JSON.stringify(body.json), 'utf8'), contentType: body.contentType };
  }
  const headers = upstreamRequestHeaders(req.headers, trace.requestId, payload ? { contentType: payload.contentType, length: payload.bytes.length } : null);
  const started = process.hrtime.bigint();
  try {
    const upstream = await deps.forwarder.forward(req, res, { path, headers, body: payload?.bytes ?? null });
    deps.metrics.upstreamDuration.observe({ outcome: `${Math.floor(upstream.status / 100)}xx` }, seconds(started));
    return upstream;
  } catch (err) {
    const code = err instanceof GatewayError ? err.code : 'internal';
    deps.metrics.upstreamDuration.observe({ outcome: code === 'upstream_timeout' ? 'timeout' : 'error' }, seconds(started));
    throw err;
  }
}

interface Released {
  readonly body: unknown;
}

/**
 * Turns the upstream's answer into what the client may see. Non-2xx answers never pass through:
 * their bodies may carry internals (stack traces, SQL, hostnames), so the client gets the gateway's
 * own OperationOutcome for the same condition.
 */
function enforceUpstreamAnswer(
  deps: PipelineDeps,
  upstream: UpstreamResponse,
  decide: Parameters<typeof enforceResponse>[1]['decide'],
  trace: Trace,
): Released {
  if (upstream.status < 200 || upstream.status >= 300) throw upstreamFailure(upstream.status);
  const bytes = decodeContent(upstream.body, headerOf(upstream, 'content-encoding'), deps.config.upstream.maxResponseBytes);
  if (bytes.length === 0) return { body: null };
  const body = parseFhirJson(bytes, headerOf(upstream, 'content-type'));
  try {
    trace.summary = enforceResponse(body, { decide, links: deps.links });
  } catch (err) {
    // An enforcement failure must never degrade into releasing the unfiltered body.
    throw err instanceof GatewayError ? err : new GatewayError('enforce_failed', { cause: err });
  }
  return { body };
}

function releaseCapabilities(deps: PipelineDeps, trace: Trace, upstream: UpstreamResponse): Reply {
  if (upstream.status !== 200) throw upstreamFailure(upstream.status);
  const body = parseFhirJson(decodeContent(upstream.body, headerOf(upstream, 'content-encoding'), deps.config.upstream.maxResponseBytes), headerOf(upstream, 'content-type'));
  if (typeof body !== 'object' || body === null || (body as { resourceType?: unknown }).resourceType !== 'CapabilityStatement') {
    throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-capabilities'] });
  }
  const cs = body as Record<string, unknown>;
  // The statement describes the public endpoint, not the upstream behind it.
  cs['implementation'] = { description: 'FHIR privacy gateway', url: deps.config.publicBaseUrl };
  trace.decision = { allow: true, reasons: ['public.capabilities'], obligations: {} };
  return { status: 200, body: cs, headers: { 'x-request-id': trace.requestId } };
}

function upstreamFailure(status: number): GatewayError {
  if (status === 404 || status === 410) return new GatewayError('not_found', { reasons: [`upstream.status-${status}`] });
  return new GatewayError('upstream_error', { reasons: [`upstream.status-${status}`] });
}

/** An answer, built before it is sent (the audit record is committed in between). */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/** Writes a reply. Never throws: if even this fails, the connection is dropped. */
function send(res: ServerResponse, reply: Reply): void {
  try {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const payload = reply.body === null ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...SECURITY_HEADERS,
      ...reply.headers,
      ...(payload ? { 'content-type': 'application/fhir+json; charset=utf-8', 'content-length': String(Buffer.byteLength(payload)) } : {}),
    });
    res.end(payload);
  } catch {
    res.destroy();
  }
}

export function errorReply(err: GatewayError, requestId: string, realm: string): Reply {
  const headers: Record<string, string> = { 'x-request-id': requestId };
  const challenge = bearerChallenge(err, realm);
  if (challenge) headers['www-authenticate'] = challenge;
  return { status: err.status, body: operationOutcomeFor(err, requestId), headers };
}

/** For errors outside the pipeline (unknown paths, the last-resort handler). */
export function respondWithError(res: ServerResponse, err: GatewayError, requestId: string, realm: string): void {
  send(res, errorReply(err, requestId, realm));
}

/** RFC 6750 section 3: no error code when credentials were absent; `invalid_token` or `insufficient_scope` otherwise. */
function bearerChallenge(err: GatewayError, realm: string): string | null {
  const quoted = (v: string): string => `"${v.replace(/["\\]/g, '')}"`;
  if (err.code === 'token_missing') return `Bearer realm=${quoted(realm)}`;
  if (err.status === 401) return `Bearer realm=${quoted(realm)}, error="invalid_token"`;
  if (err.bearer?.error === 'insufficient_scope') {
    return `Bearer realm=${quoted(realm)}, error="insufficient_scope"${err.bearer.scope ? `, scope=${quoted(err.bearer.scope)}` : ''}`;
  }
  return null;
}

function observe(deps: PipelineDeps, trace: Trace, status: number, durationSeconds: number): void {
  const interaction = trace.request?.interaction ?? 'unclassified';
  deps.metrics.requests.inc({ interaction, code: String(status) });
  deps.metrics.requestDuration.observe({ interaction, code: String(status) }, durationSeconds);
  deps.logger.info({ requestId: trace.requestId, interaction, type: trace.request?.type ?? null, status, ms: Math.round(durationSeconds * 1000) }, 'request');
}

function headerOf(upstream: UpstreamResponse, name: string): string | undefined {
  const v = upstream.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function seconds(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e9;
}

/**
 * What of an error's cause may be logged. Messages are logged only for the gateway's own bugs:
 * other causes (JSON.parse, an upstream socket error) can quote the data they failed on.
 */
function describeCause(err: GatewayError): Record<string, unknown> {
  const cause = err.cause;
  if (!(cause instanceof Error)) return { text: ERROR_CATALOGUE[err.code].text };
  const code = (cause as NodeJS.ErrnoException).code;
  return err.code === 'internal' ? { name: cause.name, code, message: cause.message } : { name: cause.name, code };
}
