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
import { decideRequest, type AuthorizeContext } from './enforce/authorize.js';
import { kickoffAnswer, openFile, statusAnswer, type BulkDeps } from './bulk/bulk-data.js';
import { enforceNdjson } from './bulk/ndjson.js';
import { acrValuesFor } from './auth/assurance.js';
import { clientCertificateOf } from './auth/client-certificate.js';
import { withSmartSecurity } from './auth/smart-configuration.js';
import type { AuditTrail } from './audit/trail.js';
import { answerHistory, historyContinuation, isHistorySearch } from './audit/history/answer.js';
import type { AuditStoreReader, Position } from './audit/store/query.js';
import type { GatewayConfig } from './config/schema.js';
import type { EnforcementSummary, ResponseEnforcer } from './enforce/response.js';
import { asGatewayError, ERROR_CATALOGUE, GatewayError, operationOutcomeFor } from './errors.js';
import { readRequestBody } from './fhir/body.js';
import { negotiate } from './fhir/accept.js';
import { classify, withFormParams, withIfNoneExist, type ClassifyOptions } from './fhir/classify.js';
import type { LinkRewriter } from './fhir/links.js';
import type { FhirRequest } from './fhir/request.js';
import { runBundle, type BatchOptions } from './interaction/batch.js';
import { runInteraction, type Conditions, type InteractionContext, type Outcome, type PagingOptions } from './interaction/run.js';
import { answerBody, failureOf, forwardingPort, upstreamRequestOf, type UpstreamPort } from './interaction/upstream.js';
import type { Logger } from './observability/logger.js';
import type { GatewayMetrics } from './observability/metrics.js';
import { observeRequest, timeStage } from './observability/request-metrics.js';
import { traceContextOf, type TraceContext } from './observability/trace-context.js';
import type { Consents, Decision, FhirResourceJson } from './policy/contract.js';
import type { PolicyEvaluator } from './policy/engine.js';
import { policyEnv, policyRequest, resourceFacts } from './policy/input.js';
import type { Forwarder, UpstreamResponse } from './proxy/forward.js';
import type { UpstreamClient } from './proxy/upstream-client.js';
import { flattenConsents } from './consent/flatten.js';
import type { RequestTracker } from './lifecycle.js';
import type { RateLimiter } from './ratelimit/limiter.js';
import type { ConsentStore } from './consent/store.js';
import { connectionListed, preferOf, SECURITY_HEADERS } from './proxy/headers.js';

export interface PipelineDeps {
  readonly config: GatewayConfig;
  readonly classifyOptions: ClassifyOptions;
  readonly authenticator: Authenticator;
  /** The active policy; a function so a reloaded bundle takes effect for the next request. */
  readonly policy: () => PolicyEvaluator | null;
  readonly forwarder: Forwarder;
  /** The gateway's own reads from the upstream (stored versions, Binary security contexts). */
  readonly upstreamClient: UpstreamClient;
  /** The patients' Consents for policy (null when consent.enabled is false). */
  readonly consents: ConsentStore | null;
  readonly bulk: BulkDeps;
  /** Key of the pseudonyms de-identification gives resource ids. */
  readonly pseudonymKey: Uint8Array;
  /** The gateway's own paging of filtered searches (cursors, page sizes, bounds). */
  readonly paging: PagingOptions;
  readonly links: LinkRewriter;
  readonly audit: AuditTrail;
  /** The audit store the access history (AuditEvent searches) is answered from; absent or null: none. */
  readonly auditStore?: AuditStoreReader | null;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly now?: () => Date;
  /** Per-user and per-client rate limits (absent: none configured). */
  readonly rateLimiter?: RateLimiter;
  /** Requests in flight, which graceful shutdown waits for (src/lifecycle.ts). */
  readonly requests?: RequestTracker;
  /** The SMART `rest[].security` section written into the CapabilityStatement (absent: left as is). */
  readonly capabilitySecurity?: () => Promise<Record<string, unknown>>;
}

/** What one request accumulated; the audit record and metrics are built from it. */
interface Trace {
  readonly requestId: string;
  readonly decisionId: string;
  /** W3C trace context: continued from the caller's traceparent or new. */
  readonly traceContext: TraceContext;
  readonly traceId: string;
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
  const traceContext = traceContextOf(req.headers['traceparent'], req.headers['tracestate']);
  deps.metrics.inFlight.inc();
  const leave = deps.requests?.enter();
  try {
    await handle(deps, req, res, traceContext);
  } finally {
    deps.metrics.inFlight.dec();
    leave?.();
  }
}

async function handle(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse, traceContext: TraceContext): Promise<void> {
  const incomingId = req.headers['x-request-id'];
  const trace: Trace = {
    requestId: typeof incomingId === 'string' && REQUEST_ID.test(incomingId) ? incomingId : randomUUID(),
    decisionId: randomUUID(),
    traceContext,
    traceId: traceContext.traceId,
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
      deps.logger.error({ requestId: trace.requestId, traceId: trace.traceId, code: error.code, upstreamStatus: error.upstream?.status ?? null, err: describeCause(error) }, 'request failed');
    }
    reply = errorReply(error, trace.requestId, deps.config.publicBaseUrl);
  }

  // The socket is gone once a refused body has been abandoned: the record keeps what is known.
  const clientAddress = req.socket?.remoteAddress ?? null;
  if (reply.stream) {
    await streamReply(deps, res, trace, reply, clientAddress);
    return;
  }

  // The audit record is committed before the answer is released: in durable mode a request whose
  // record cannot be stored is not answered with data.
  const durationSeconds = seconds(trace.started);
  if (trace.decision?.obligations.audit?.break_glass || trace.summary?.breakGlass) deps.metrics.breakGlass.inc();
  try {
    await timeStage(deps.metrics, 'audit', () => deps.audit.record({ ...trace, status: reply.status, error, durationSeconds, clientAddress }));
  } catch (err) {
    error = asGatewayError(err);
    deps.logger.error({ requestId: trace.requestId, traceId: trace.traceId, code: error.code }, 'audit record could not be committed; answer withheld');
    reply = errorReply(error, trace.requestId, deps.config.publicBaseUrl);
  }
  send(res, reply);
  observe(deps, trace, reply.status, durationSeconds, error);
}

/**
 * A streamed answer: headers go first, then what policy releases; the audit record (with the
 * counts only known at the end) is committed before the stream is ended. If streaming or the
 * commit fails, the connection is broken so the client sees an incomplete answer, never a
 * complete-looking one.
 */
async function streamReply(deps: PipelineDeps, res: ServerResponse, trace: Trace, reply: Reply, clientAddress: string | null): Promise<void> {
  const stream = reply.stream as NonNullable<Reply['stream']>;
  let error: GatewayError | null = null;
  res.writeHead(reply.status, { ...SECURITY_HEADERS, ...reply.headers, 'content-type': stream.contentType });
  try {
    trace.summary = await stream.write(res);
  } catch (err) {
    error = asGatewayError(err);
    deps.logger.error({ requestId: trace.requestId, traceId: trace.traceId, code: error.code, err: describeCause(error) }, 'stream failed');
  }
  const durationSeconds = seconds(trace.started);
  let committed = true;
  try {
    if (trace.summary?.breakGlass) deps.metrics.breakGlass.inc();
    await timeStage(deps.metrics, 'audit', () => deps.audit.record({ ...trace, status: error ? error.status : reply.status, error, durationSeconds, clientAddress }));
  } catch {
    committed = false;
  }
  if (error || !committed) res.destroy();
  else res.end();
  observe(deps, trace, error ? error.status : reply.status, durationSeconds, error);
}

async function runStages(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse, trace: Trace): Promise<Reply> {
  const { config } = deps;
  // classify
  let request = classify(req.method ?? '', req.url ?? '', deps.classifyOptions);
  trace.request = request;
  const body = await readRequestBody(req, request, config.limits.maxRequestBodyBytes);
  if (body.kind === 'form') request = withFormParams(request, body.text, deps.classifyOptions);
  const ifNoneExist = req.headers['if-none-exist'];
  if (typeof ifNoneExist === 'string') request = withIfNoneExist(request, ifNoneExist);
  trace.request = request;
  const upstream = forwardingPort(deps, req, res, trace.requestId, trace.traceContext);

  // capabilities are public (FHIR: clients read them before they have a token)
  if (request.interaction === 'capabilities') return await releaseCapabilities(deps, trace, await upstream.call(upstreamRequestOf(request, body, null, null)));
  const representation = negotiate(req.headers.accept, request);

  // authenticate
  const principal = await timeStage(deps.metrics, 'token', () =>
    deps.authenticator.authenticate({
      method: request.method,
      publicUrl: config.publicBaseUrl + (req.url ?? '').split('?')[0]!.slice(deps.classifyOptions.basePath.length),
      headers: req.headers,
      clientCertificate: clientCertificateOf(req.socket),
    }),
  );
  trace.principal = principal;
  await deps.rateLimiter?.check(principal);

  const policy = deps.policy();
  if (!policy) throw new GatewayError('policy_not_ready');
  trace.policyRevision = policy.revision;
  const ctx: AuthorizeContext = {
    policy,
    principal,
    env: policyEnv(trace.time, policy.revision),
    bases: deps.links.bases,
    client: deps.upstreamClient,
    origin: { requestId: trace.requestId, trace: trace.traceContext },
    onDecision: (stage, allow) => deps.metrics.decisions.inc({ stage, result: allow ? 'allow' : 'deny' }),
    acrValuesFor: acrValuesOfIssuer(config, principal.iss),
  };
  const interaction = interactionContext(deps, ctx, upstream, trace);
  const prefer = preferOf(req.headers['prefer'], connectionListed(req.headers));

  // The access history: AuditEvent searches are answered from the audit store, never forwarded.
  const continued = historyContinuation(deps.paging.codec, request, principal, trace.time);
  if (continued !== null || isHistorySearch(request)) return accessHistory(deps, ctx, continued?.request ?? request, continued, trace);

  // Bulk Data: the kick-off's answer is a status link of the gateway's own, and the links are the gateway's.
  if (request.operation === 'bulk-status' || request.operation === 'bulk-file') {
    trace.decision = (await timeStage(deps.metrics, 'policy', () => decideRequest(ctx, request, body))).decision;
    return runBulkLink(deps, ctx, request, trace);
  }
  if (request.operation === 'export') {
    const allowed = await timeStage(deps.metrics, 'policy', () => decideRequest(ctx, request, body));
    trace.decision = allowed.decision;
    deps.audit.admit();
    const answer = await upstream.call(upstreamRequestOf(allowed.forwarded, body, null, prefer));
    const kickoff = await kickoffAnswer(deps.bulk, answer.status, headerValue(answer.headers['content-location']), principal);
    return { ...kickoff, headers: { ...kickoff.headers, 'x-request-id': trace.requestId } };
  }

  // A write must not reach the upstream when its answer would then be withheld for want of an
  // audit record (fail-closed): the trail is asked before anything is sent.
  deps.audit.admit();
  if (request.interaction === 'batch') {
    if (body.kind !== 'json') throw new GatewayError('invalid_body', { reasons: ['batch.body'] });
    trace.decision = (await timeStage(deps.metrics, 'policy', () => decideRequest(ctx, request, body))).decision;
    const { body: answer, summary } = await runBundle(interaction, batchOptions(deps), body.json);
    trace.summary = summary;
    return { status: 200, body: answer, headers: { 'x-request-id': trace.requestId } };
  }

  const conditions: Conditions = {
    ...optional('ifMatch', headerValue(req.headers['if-match'])),
    ...optional('ifNoneMatch', headerValue(req.headers['if-none-match'])),
    ...optional('ifModifiedSince', headerValue(req.headers['if-modified-since'])),
    prefer,
  };
  const outcome: Outcome = await runInteraction(interaction, request, body, conditions);
  trace.decision = outcome.decision;
  trace.summary = outcome.summary;
  const headers = { ...outcome.headers, 'x-request-id': trace.requestId };
  if (representation === 'binary-content') return binaryContentReply(outcome.body, headers);
  return { status: outcome.status, body: outcome.body, headers };
}

/** `GET <base>/AuditEvent?...` (and its pages): decided by policy, answered by src/audit/history. */
async function accessHistory(deps: PipelineDeps, ctx: AuthorizeContext, request: FhirRequest, start: { position: Position; page: number } | null, trace: Trace): Promise<Reply> {
  const allowed = await timeStage(deps.metrics, 'policy', () => decideRequest(ctx, request, { kind: 'none' }));
  trace.decision = allowed.decision;
  deps.audit.admit();
  const options = {
    store: deps.auditStore ?? null,
    codec: deps.paging.codec,
    publicBaseUrl: deps.config.publicBaseUrl,
    defaultCount: deps.paging.defaultCount,
    maxCount: deps.paging.maxCount,
    maxScan: HISTORY_MAX_SCAN,
  };
  const page = await timeStage(deps.metrics, 'enforce', () => answerHistory(options, request, allowed.decision, ctx.principal, trace.time, start));
  trace.summary = page.summary;
  return { status: 200, body: page.body, headers: { 'x-request-id': trace.requestId } };
}

/** Records read from the store for one page of an access history at most. */
const HISTORY_MAX_SCAN = 2000;

/** What one interaction needs: policy, resource decisions, the upstream, paging. */
function interactionContext(deps: PipelineDeps, ctx: AuthorizeContext, upstream: UpstreamPort, trace: Trace): InteractionContext {
  return {
    authz: ctx,
    onDecided: (decision) => (trace.decision = decision),
    timeEnforce: (fn) => timeStage(deps.metrics, 'enforce', fn),
    enforcerFor: (request) => resourceEnforcer(deps, ctx, request),
    upstream,
    links: deps.links,
    upstreamBase: deps.config.upstream.url.replace(/\/+$/, ''),
    paging: deps.paging,
    maxResponseBytes: deps.config.upstream.maxResponseBytes,
    onWritten: (request, plan) => invalidateConsents(deps, request, plan.resource, plan.current),
  };
}

/** The principal's issuer's `acr_values` for a level, for step-up challenges (auth.issuers[].assurance.challenge). */
function acrValuesOfIssuer(config: GatewayConfig, iss: string): (level: number) => string | null {
  const issuer = config.auth.issuers.find((i) => i.issuer === iss);
  return (level) => (issuer ? acrValuesFor(issuer.assurance, level) : null);
}

function batchOptions(deps: PipelineDeps): BatchOptions {
  return { classifyOptions: deps.classifyOptions, links: deps.links, maxEntries: deps.config.limits.maxBundleEntries, maxResponseBytes: deps.config.upstream.maxResponseBytes };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/** `$bulk-status` and `$bulk-file`: the gateway's own Bulk Data links, resolved and enforced. */
async function runBulkLink(deps: PipelineDeps, ctx: AuthorizeContext, request: FhirRequest, trace: Trace): Promise<Reply> {
  const name = request.operation === 'bulk-status' ? 'job' : 'file';
  const token = request.params.find((p) => p.name === name)?.value;
  if (token === undefined || request.params.length !== 1) throw new GatewayError('invalid_request', { reasons: ['bulk.link-parameter'] });
  const headers = { 'x-request-id': trace.requestId };
  if (request.operation === 'bulk-status') {
    const answer = await statusAnswer(deps.bulk, request.method, token, ctx.principal, trace.traceContext);
    return { status: answer.status, body: answer.body, headers: { ...answer.headers, ...headers } };
  }
  const source = await openFile(deps.bulk, token, ctx.principal, trace.traceContext);
  const enforcer = resourceEnforcer(deps, ctx, request);
  const options = { batchSize: deps.config.bulk.batchSize, maxLineBytes: deps.config.bulk.maxLineBytes };
  return { status: 200, body: null, headers, stream: { contentType: 'application/fhir+ndjson', write: (out) => enforceNdjson(source, out, enforcer, options) } };
}

/** Resource decisions for the resources of one answer, in the context of the request that fetched them. */
function resourceEnforcer(deps: PipelineDeps, ctx: AuthorizeContext, request: FhirRequest): ResponseEnforcer {
  return {
    links: deps.links,
    decide: async (items) => {
      const consents = await consentsInput(deps, ctx, items.flatMap((i) => i.facts.patients));
      const decisions = await timeStage(deps.metrics, 'policy', async () => ctx.policy.decideResources({ principal: ctx.principal, request: policyRequest(request), env: ctx.env, items, consents }));
      for (const d of decisions) ctx.onDecision('resource', d.allow);
      return decisions;
    },
    resolve: async (type, id) => {
      const read = await ctx.client.read(type, id, ctx.origin).catch(() => null);
      return read?.found ? read.resource : null;
    },
    redaction: { now: new Date(ctx.env.now), pseudonymKey: deps.pseudonymKey },
  };
}

/** The Consents of these patients, flattened for policy; `unavailable` where they cannot be read. */
async function consentsInput(deps: PipelineDeps, ctx: AuthorizeContext, patients: readonly string[]): Promise<Consents> {
  if (!deps.consents || patients.length === 0) return {};
  const lookups = await deps.consents.forPatients(patients, ctx.origin);
  const now = new Date(ctx.env.now);
  return Object.fromEntries(
    [...lookups].map(([id, lookup]) => [id, lookup.status === 'ok' ? { status: 'ok' as const, consents: flattenConsents(lookup.consents, now) } : { status: 'unavailable' as const }]),
  );
}

/**
 * A Consent written through the gateway takes effect at once: the cached Consents of its patients
 * (before and after the write) are forgotten.
 */
async function invalidateConsents(deps: PipelineDeps, request: FhirRequest, resource: FhirResourceJson | null, current: FhirResourceJson | null): Promise<void> {
  if (!deps.consents || request.type !== 'Consent' || !['create', 'update', 'patch', 'delete'].includes(request.interaction)) return;
  const patients = [resource, current].flatMap((r) => (r ? resourceFacts(r, deps.links.bases).patients : []));
  await deps.consents.invalidate(patients).catch((err: unknown) => {
    deps.logger.warn({ err: err instanceof Error ? err.name : 'error' }, 'consent cache invalidation failed; other replicas may use the old consents until they expire');
  });
}

/** A Binary's decoded content, released as itself (after policy decided on the Binary). */
function binaryContentReply(body: unknown, headers: Record<string, string>): Reply {
  const binary = body as { resourceType?: unknown; contentType?: unknown; data?: unknown } | null;
  if (binary?.resourceType !== 'Binary' || typeof binary.data !== 'string') throw new GatewayError('not_found', { auditReasons: ['binary.no-content'] });
  const contentType = typeof binary.contentType === 'string' && /^[a-z]+\/[a-z0-9.+-]+$/i.test(binary.contentType) ? binary.contentType : 'application/octet-stream';
  // Served as a download in a sandbox: content from the record must never run as the gateway's page.
  return {
    status: 200,
    body: null,
    raw: { bytes: Buffer.from(binary.data, 'base64'), contentType },
    headers: { ...headers, 'content-disposition': 'attachment', 'content-security-policy': "sandbox; default-src 'none'" },
  };
}

async function releaseCapabilities(deps: PipelineDeps, trace: Trace, upstream: UpstreamResponse): Promise<Reply> {
  if (upstream.status !== 200) throw upstream.status >= 200 && upstream.status < 300 ? new GatewayError('upstream_error', { reasons: [`upstream.status-${upstream.status}`] }) : await failureOf(upstream, deps.config.upstream.maxResponseBytes);
  const body = await answerBody(upstream, deps.config.upstream.maxResponseBytes);
  if (typeof body !== 'object' || body === null || (body as { resourceType?: unknown }).resourceType !== 'CapabilityStatement') {
    throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-capabilities'] });
  }
  const cs = body as Record<string, unknown>;
  // The statement describes the public endpoint, not the upstream behind it.
  cs['implementation'] = { description: 'FHIR privacy gateway', url: deps.config.publicBaseUrl };
  // ...and the authorization server clients must use, not whatever secures the upstream.
  if (deps.capabilitySecurity) withSmartSecurity(cs, await deps.capabilitySecurity());
  // What the gateway itself does, whatever the upstream can: no update-as-create (it would tell a
  // taken id from a free one), conditional reads answered after policy.
  for (const rest of Array.isArray(cs['rest']) ? (cs['rest'] as Array<Record<string, unknown>>) : []) {
    for (const resource of Array.isArray(rest['resource']) ? (rest['resource'] as Array<Record<string, unknown>>) : []) {
      resource['updateCreate'] = false;
      resource['conditionalRead'] = 'full-support';
    }
  }
  trace.decision = { allow: true, reasons: ['public.capabilities'], obligations: {} };
  return { status: 200, body: cs, headers: { 'x-request-id': trace.requestId } };
}

/** An answer, built before it is sent (the audit record is committed in between). */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
  /** Non-FHIR content (a Binary's data), sent instead of `body`. */
  readonly raw?: { readonly bytes: Buffer; readonly contentType: string };
  /**
   * A streamed answer (a Bulk Data file): writes what policy releases as it goes and reports what
   * it released. Its audit record is committed before the stream is ended.
   */
  readonly stream?: { readonly contentType: string; readonly write: (out: ServerResponse) => Promise<EnforcementSummary> };
  readonly headers: Readonly<Record<string, string>>;
}

/** Writes a reply. Never throws: if even this fails, the connection is dropped. */
function send(res: ServerResponse, reply: Reply): void {
  try {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (reply.raw) {
      res.writeHead(reply.status, { ...SECURITY_HEADERS, ...reply.headers, 'content-type': reply.raw.contentType, 'content-length': String(reply.raw.bytes.length) });
      res.end(reply.raw.bytes);
      return;
    }
    // Encoded once: its length is the length of the bytes written (a 1,000-entry answer is 800 KB).
    const text = reply.body === null ? undefined : (JSON.stringify(reply.body) as string | undefined);
    const payload = text === undefined ? null : Buffer.from(text, 'utf8');
    res.writeHead(reply.status, {
      ...SECURITY_HEADERS,
      ...reply.headers,
      ...(payload !== null ? { 'content-type': 'application/fhir+json; charset=utf-8', 'content-length': String(payload.length) } : {}),
    });
    res.end(payload ?? '');
  } catch {
    res.destroy();
  }
}

export function errorReply(err: GatewayError, requestId: string, realm: string): Reply {
  const headers: Record<string, string> = { 'x-request-id': requestId };
  // An unread oversized body is not drained: the connection is closed after the answer.
  if (err.code === 'payload_too_large') headers['connection'] = 'close';
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  const challenge = bearerChallenge(err, realm);
  if (challenge) headers['www-authenticate'] = challenge;
  return { status: err.status, body: operationOutcomeFor(err, requestId), headers };
}

/** For errors outside the pipeline (unknown paths, the last-resort handler). */
export function respondWithError(res: ServerResponse, err: GatewayError, requestId: string, realm: string): void {
  send(res, errorReply(err, requestId, realm));
}

/**
 * RFC 6750 section 3: no error code when credentials were absent; `invalid_token` or
 * `insufficient_scope` otherwise. Errors about a DPoP-presented or DPoP-bound token answer with the
 * DPoP scheme (RFC 9449 section 7.1), `invalid_dpop_proof` for a bad proof.
 */
function bearerChallenge(err: GatewayError, realm: string): string | null {
  const quoted = (v: string): string => `"${v.replace(/["\\]/g, '')}"`;
  const scheme = err.bearer?.scheme ?? 'Bearer';
  if (err.code === 'token_missing') return `${scheme} realm=${quoted(realm)}`;
  if (err.bearer?.error === 'insufficient_user_authentication') return stepUpChallenge(scheme, quoted(realm), err.bearer);
  if (err.status === 401) return `${scheme} realm=${quoted(realm)}, error="${err.bearer?.error === 'invalid_dpop_proof' ? 'invalid_dpop_proof' : 'invalid_token'}"`;
  if (err.bearer?.error === 'insufficient_scope') {
    return `${scheme} realm=${quoted(realm)}, error="insufficient_scope"${err.bearer.scope ? `, scope=${quoted(err.bearer.scope)}` : ''}`;
  }
  return null;
}

/** RFC 9470 section 3: the error, a description, and what the new login must satisfy. */
function stepUpChallenge(scheme: string, realm: string, bearer: NonNullable<GatewayError['bearer']>): string {
  const parts = [`${scheme} realm=${realm}`, 'error="insufficient_user_authentication"', `error_description="${STEP_UP_DESCRIPTION}"`];
  // Config validation keeps quotes and backslashes out of acr_values.
  if (bearer.acrValues !== undefined) parts.push(`acr_values="${bearer.acrValues}"`);
  if (bearer.maxAge !== undefined) parts.push(`max_age=${bearer.maxAge}`);
  return parts.join(', ');
}

const STEP_UP_DESCRIPTION = 'A stronger or more recent authentication is required';

function observe(deps: PipelineDeps, trace: Trace, status: number, durationSeconds: number, error: GatewayError | null): void {
  const interaction = trace.request?.interaction ?? 'unclassified';
  const type = trace.request?.type ?? null;
  observeRequest(deps.metrics, { interaction, resourceType: type, status, durationSeconds, error, decision: trace.decision, summary: trace.summary });
  deps.logger.info({ requestId: trace.requestId, traceId: trace.traceId, interaction, type, status, code: error?.code ?? null, upstreamStatus: error?.upstream?.status ?? null, ms: Math.round(durationSeconds * 1000) }, 'request');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
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
  // Never the message: an unexpected error's message can carry whatever it was handling (a token,
  // a name from a resource). The stack frames say where it happened, which is what an operator needs.
  if (err.code !== 'internal') return { name: cause.name, code };
  const frames = (cause.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).slice(0, 10);
  return { name: cause.name, code, frames };
}
