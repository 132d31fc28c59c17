/**
 * Batch and transaction Bundles: every entry is classified, checked and authorised exactly as if
 * it had been sent alone, before anything is forwarded; only allowed entries go upstream, rebuilt
 * from their canonical form; the answer is enforced entry by entry in the context of the entry
 * that produced it.
 *
 * A denied batch entry is answered in its own slot with the gateway's OperationOutcome. A
 * transaction is all or nothing, so one denied entry refuses the whole transaction.
 */
import { STATUS_CODES } from 'node:http';
import { asGatewayError, GatewayError, operationOutcomeFor } from '../errors.js';
import { entryBody, type RequestBody } from '../fhir/body.js';
import { classify, withIfNoneExist, type ClassifyOptions } from '../fhir/classify.js';
import type { LinkRewriter } from '../fhir/links.js';
import type { FhirRequest } from '../fhir/request.js';
import { serializeQuery } from '../fhir/search-params.js';
import { upstreamPathOf } from '../fhir/upstream-path.js';
import { authorize, type AuthorizeContext, type Authorized } from './authorize.js';
import type { WritePlan } from './writes.js';
import { emptySummary, enforceResponse, listRef, type EnforcementSummary, type ResponseEnforcer } from './response.js';

type JsonObject = Record<string, unknown>;

export interface BatchDeps {
  readonly ctx: AuthorizeContext;
  readonly classifyOptions: ClassifyOptions;
  readonly links: LinkRewriter;
  /** POSTs the rebuilt Bundle to the upstream base; returns the upstream's parsed 2xx answer or throws. */
  readonly send: (bundle: JsonObject) => Promise<unknown>;
  readonly enforcerFor: (request: FhirRequest) => ResponseEnforcer;
  readonly maxEntries: number;
  /** Called for each entry the upstream carried out (2xx), e.g. to drop cached Consents it changed. */
  readonly onCarriedOut?: (request: FhirRequest, plan: WritePlan) => Promise<void>;
}

type Slot =
  | { readonly kind: 'refused'; readonly error: GatewayError; readonly ref: string }
  | { readonly kind: 'forwarded'; readonly request: FhirRequest; readonly authorized: Authorized; readonly body: RequestBody; readonly entry: JsonObject };

export async function enforceBatch(deps: BatchDeps, bundle: JsonObject): Promise<{ body: JsonObject; summary: EnforcementSummary }> {
  const type = bundle['type'] as 'batch' | 'transaction';
  const entries = Array.isArray(bundle['entry']) ? (bundle['entry'] as unknown[]) : [];
  if (entries.length > deps.maxEntries) throw new GatewayError('payload_too_large', { reasons: ['batch.too-many-entries'] });

  const slots: Slot[] = [];
  for (const [i, raw] of entries.entries()) slots.push(await authorizeEntry(deps, raw, i));
  const summary = emptySummary();

  const refused = slots.filter((s): s is Extract<Slot, { kind: 'refused' }> => s.kind === 'refused');
  if (type === 'transaction' && refused.length > 0) {
    const first = refused[0] as Extract<Slot, { kind: 'refused' }>;
    throw new GatewayError(first.error.code, { reasons: ['transaction.entry-refused', ...first.error.reasons], auditReasons: first.error.auditReasons, bearer: first.error.bearer });
  }
  for (const s of refused) {
    summary.withheld++;
    listRef(summary, 'withheldRefs', s.ref);
    for (const r of [...s.error.reasons, ...s.error.auditReasons]) summary.reasons.add(r);
  }

  const forwarded = slots.filter((s): s is Extract<Slot, { kind: 'forwarded' }> => s.kind === 'forwarded');
  const answers = forwarded.length === 0 ? [] : await forward(deps, type, forwarded);

  const responseEntries: JsonObject[] = [];
  let next = 0;
  for (const slot of slots) {
    if (slot.kind === 'refused') {
      responseEntries.push(errorEntry(slot.error));
      continue;
    }
    const answer = answers[next++] as JsonObject;
    const entry = await enforceEntry(deps, slot.request, answer, summary);
    if (/^2\d\d/.test(String((entry['response'] as JsonObject | undefined)?.['status'] ?? ''))) await deps.onCarriedOut?.(slot.request, slot.authorized.plan);
    responseEntries.push(entry);
  }
  return { body: { resourceType: 'Bundle', type: `${type}-response`, ...(responseEntries.length ? { entry: responseEntries } : {}) }, summary };
}

async function authorizeEntry(deps: BatchDeps, raw: unknown, index: number): Promise<Slot> {
  let ref = `entry/${index}`;
  try {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new GatewayError('invalid_body', { reasons: ['batch.entry'] });
    const entry = raw as JsonObject;
    const req = entry['request'] as { method?: unknown; url?: unknown; ifMatch?: unknown; ifNoneExist?: unknown } | undefined;
    if (typeof req?.method !== 'string' || typeof req.url !== 'string') throw new GatewayError('invalid_body', { reasons: ['batch.entry-request'] });
    let request = classify(req.method, `${deps.classifyOptions.basePath}/${relativeUrl(req.url, deps.links)}`, deps.classifyOptions);
    if (request.interaction === 'batch') throw new GatewayError('invalid_request', { reasons: ['batch.nested'] });
    if (typeof req.ifNoneExist === 'string') request = withIfNoneExist(request, req.ifNoneExist);
    if (request.type !== null && request.id !== null) ref = `${request.type}/${request.id}`;
    const body = entryBody(request, entry['resource']);
    const authorized = await authorize(deps.ctx, request, body, typeof req.ifMatch === 'string' ? req.ifMatch : undefined);
    return { kind: 'forwarded', request, authorized, body: authorized.plan.body, entry };
  } catch (err) {
    return { kind: 'refused', error: asGatewayError(err), ref };
  }
}

/** Entry URLs are relative to the base; an absolute one must name the gateway's own base. */
function relativeUrl(url: string, links: LinkRewriter): string {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) return url.replace(/^\//, '');
  if (url.startsWith(`${links.publicBase}/`)) return url.slice(links.publicBase.length + 1);
  throw new GatewayError('invalid_request', { reasons: ['batch.entry-url'] });
}

async function forward(deps: BatchDeps, type: string, slots: ReadonlyArray<Extract<Slot, { kind: 'forwarded' }>>): Promise<unknown[]> {
  const entries = slots.map((slot) => {
    const { path } = upstreamPathOf(slot.authorized.forwarded);
    const request: JsonObject = { method: slot.request.method, url: path.slice(1) };
    if (slot.authorized.plan.ifMatch !== null) request['ifMatch'] = slot.authorized.plan.ifMatch;
    if (slot.authorized.forwarded.ifNoneExist !== null) request['ifNoneExist'] = serializeQuery(slot.authorized.forwarded.ifNoneExist);
    const out: JsonObject = { request };
    // A transaction's urn:uuid fullUrls tie its entries together; nothing else is copied from the client.
    const fullUrl = slot.entry['fullUrl'];
    if (typeof fullUrl === 'string' && /^urn:uuid:[0-9a-f-]{36}$/i.test(fullUrl)) out['fullUrl'] = fullUrl;
    if (slot.body.kind === 'json') out['resource'] = slot.body.json;
    if (slot.body.kind === 'json-patch') {
      out['resource'] = { resourceType: 'Binary', contentType: 'application/json-patch+json', data: Buffer.from(JSON.stringify(slot.body.json)).toString('base64') };
    }
    return out;
  });
  const answer = (await deps.send({ resourceType: 'Bundle', type, entry: entries })) as JsonObject | null;
  const answered = answer?.['entry'];
  if (answer?.['resourceType'] !== 'Bundle' || answer['type'] !== `${type}-response` || !Array.isArray(answered) || answered.length !== entries.length) {
    throw new GatewayError('upstream_bad_response', { reasons: ['upstream.batch-response'] });
  }
  return answered;
}

async function enforceEntry(deps: BatchDeps, request: FhirRequest, answer: JsonObject, summary: EnforcementSummary): Promise<JsonObject> {
  if (typeof answer !== 'object' || answer === null) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.bundle-entry'] });
  const response = (answer['response'] ?? {}) as JsonObject;
  const status = Number(String(response['status'] ?? '').slice(0, 3));
  if (!(status >= 200 && status < 300)) {
    // The upstream's own outcome may carry internals; the client gets the gateway's, with the same status.
    const error = status === 404 || status === 410 ? new GatewayError('not_found') : status === 412 ? new GatewayError('precondition_failed') : new GatewayError('upstream_error');
    return { response: { status: statusLine(status || 502), outcome: operationOutcomeFor(error) } };
  }
  const out: JsonObject = { response: { status: statusLine(status), ...pick(response, ['etag', 'lastModified']) } };
  const location = typeof response['location'] === 'string' ? deps.links.toPublic(response['location']) : null;
  if (location !== null) (out['response'] as JsonObject)['location'] = location;
  const resource = answer['resource'];
  if (resource === undefined) return out;
  try {
    const entrySummary = await enforceResponse(resource, deps.enforcerFor(request));
    merge(summary, entrySummary);
  } catch (err) {
    const error = asGatewayError(err);
    summary.withheld++;
    for (const r of [...error.reasons, ...error.auditReasons]) summary.reasons.add(r);
    return errorEntry(error);
  }
  out['resource'] = resource;
  if (typeof answer['fullUrl'] === 'string') {
    const fullUrl = deps.links.toPublic(answer['fullUrl']);
    if (fullUrl !== null) out['fullUrl'] = fullUrl;
  }
  return out;
}

function errorEntry(error: GatewayError): JsonObject {
  return { response: { status: statusLine(error.status), outcome: operationOutcomeFor(error) } };
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}

function pick(source: JsonObject, keys: readonly string[]): JsonObject {
  return Object.fromEntries(keys.filter((k) => typeof source[k] === 'string').map((k) => [k, source[k]]));
}

function merge(into: EnforcementSummary, from: EnforcementSummary): void {
  into.returned += from.returned;
  into.withheld += from.withheld;
  into.redacted += from.redacted;
  for (const ref of from.withheldRefs) listRef(into, 'withheldRefs', ref);
  for (const ref of from.redactedRefs) listRef(into, 'redactedRefs', ref);
  into.omittedRefs += from.omittedRefs;
  for (const r of from.reasons) into.reasons.add(r);
  into.breakGlass ||= from.breakGlass;
}
