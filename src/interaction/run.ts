/**
 * One FHIR interaction, from its classified request to the answer the principal may see: the one
 * path every request and every batch or transaction entry takes.
 *
 *   decide(request) -> resolve targets as the principal -> decide(write) -> write / forward -> release -> page
 *
 * - decide(request) judges the request on what it says (src/enforce/authorize.ts). Nothing about
 *   stored data has been looked at yet.
 * - resolve: the stored version a write or an instance interaction names, the matches of a
 *   conditional write, are read with the gateway's credentials and decided like a read. A target the
 *   principal may not read is absent, and absent is answered exactly like missing.
 * - a write is judged again on its result and the version it replaces, and sent by id with If-Match
 *   on the version that was judged.
 * - release: every resource that comes back is decided and redacted; searches and histories are
 *   paged by the gateway (src/paging/pager.ts).
 *
 * Returns an Outcome (the answer, not yet sent) or throws a GatewayError; the caller turns either
 * into an HTTP answer or a batch-response entry.
 */
import { GatewayError } from '../errors.js';
import { namingClientParameter } from '../errors-upstream.js';
import type { RequestBody } from '../fhir/body.js';
import type { LinkRewriter } from '../fhir/links.js';
import { CURSOR_PARAM } from '../fhir/classify.js';
import type { FhirRequest, SearchParam } from '../fhir/request.js';
import { makeParam } from '../fhir/search-params.js';
import { upstreamPathOf } from '../fhir/upstream-path.js';
import { decideRequest, decideWrite, type Authorized, type AuthorizeContext } from '../enforce/authorize.js';
import { applyDecision, decideAll, emptySummary, enforceResponse, isResource, noteWritten, patientsWritten, writeResultWithheld, type EnforcementSummary, type ResponseEnforcer } from '../enforce/response.js';
import { resolveChains } from '../enforce/chains.js';
import { resolveMatches, resolveTarget, type Target } from '../enforce/targets.js';
import { againstLatest, latestVersions, type LatestVersions } from '../enforce/versions.js';
import { planChange, planCreate, type WritePlan } from '../enforce/writes.js';
import type { CursorCodec } from '../paging/cursor.js';
import { collectPage, type PageResult } from '../paging/pager.js';
import type { Decision, FhirResourceJson } from '../policy/contract.js';
import { clientResponseHeaders } from '../proxy/headers.js';
import type { UpstreamResponse } from '../proxy/forward.js';
import { answerBody, upstreamRequestOf, type UpstreamPort } from './upstream.js';


export interface PagingOptions {
  readonly codec: CursorCodec;
  readonly defaultCount: number;
  readonly maxCount: number;
  readonly maxUpstreamPages: number;
  /** Candidates a conditional write's criteria, or a chain's inner search, may select upstream (readable or not). */
  readonly maxConditionalCandidates: number;
  /** Readable resources a chain's inner search may find. */
  readonly maxChainMatches: number;
}

export interface InteractionContext {
  readonly authz: AuthorizeContext;
  /** Told each decision that lets the interaction go on, so the audit record has it even if a later stage fails. */
  readonly onDecided?: (decision: Decision) => void;
  /** Resource decisions for what an interaction releases, in the context of its request. */
  readonly enforcerFor: (request: FhirRequest) => ResponseEnforcer;
  readonly upstream: UpstreamPort;
  readonly links: LinkRewriter;
  readonly upstreamBase: string;
  readonly paging: PagingOptions;
  readonly maxResponseBytes: number;
  /** Times the release of what came back (the `enforce` stage of the metrics). */
  readonly timeEnforce?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** After a write the upstream carried out (e.g. to drop cached Consents it changed). */
  readonly onWritten?: (request: FhirRequest, plan: WritePlan) => Promise<void>;
}

/** The client's preconditions and preferences (headers, or a batch entry's request element). */
export interface Conditions {
  readonly ifMatch?: string;
  readonly ifNoneMatch?: string;
  readonly ifModifiedSince?: string;
  /** Sanitised (src/proxy/headers.ts preferOf). */
  readonly prefer?: string | null;
}

export interface Outcome {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
  readonly summary: EnforcementSummary | null;
  /** The decision that let the interaction proceed (for a write, the one on its result). */
  readonly decision: Decision;
}

export async function runInteraction(ic: InteractionContext, request: FhirRequest, body: RequestBody, conditions: Conditions = {}): Promise<Outcome> {
  try {
    return await interact(ic, request, body, conditions);
  } catch (err) {
    // A parameter the upstream refused is named only if the client sent it.
    if (err instanceof GatewayError && err.upstream !== undefined) throw namingClientParameter(err, clientParameterNames(request));
    throw err;
  }
}

function clientParameterNames(request: FhirRequest): Set<string> {
  return new Set([...request.params, ...(request.ifNoneExist ?? [])].map((p) => p.name));
}

async function interact(ic: InteractionContext, request: FhirRequest, body: RequestBody, conditions: Conditions): Promise<Outcome> {
  if (request.interaction === 'search-continue') return continueSearch(ic, request);
  const allowed = await decided(ic, request, body);
  switch (request.interaction) {
    case 'create':
      return request.ifNoneExist !== null ? conditionalCreate(ic, request, allowed, body, conditions) : create(ic, request, allowed, body, conditions);
    case 'update':
    case 'patch':
    case 'delete':
      if (request.id === null) return conditionalChange(ic, request, allowed, body, conditions);
      return change(ic, request, allowed, body, conditions, await resolve(ic, request, request.type as string, request.id));
    case 'read':
      return read(ic, request, allowed, conditions, null);
    case 'vread': {
      const target = await resolve(ic, request, request.type as string, request.id as string);
      if (target.kind === 'absent') throw concealed(target.reasons);
      return read(ic, request, allowed, conditions, target.resource);
    }
    case 'history-instance': {
      const target = await resolve(ic, request, request.type as string, request.id as string);
      if (target.kind === 'absent') throw concealed(target.reasons);
      return search(ic, request, allowed, conditions, new Map([[`${request.type}/${request.id}`, target.resource]]));
    }
    case 'history-type':
    case 'history-system':
    case 'search-type':
    case 'search-system':
    case 'search-compartment':
      return search(ic, request, allowed, conditions, new Map());
    case 'operation':
      return operation(ic, request, allowed, body, conditions);
    default:
      throw new GatewayError('invalid_request', { reasons: ['interaction.not-here'] });
  }
}

// ---------- reads ----------

async function read(ic: InteractionContext, request: FhirRequest, allowed: Authorized, conditions: Conditions, latest: FhirResourceJson | null): Promise<Outcome> {
  const upstream = await ic.upstream.call(upstreamRequestOf(allowed.forwarded, { kind: 'none' }, null, conditions.prefer ?? null));
  const body = await answerBody(upstream, ic.maxResponseBytes);
  if (body === null) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.empty-read'] });
  const enforcer = ic.enforcerFor(request);
  // A vread is judged with the protections of the version stored now too.
  const decide = latest === null ? undefined : againstLatest(new Map([[`${request.type}/${request.id}`, latest]]));
  const summary = await timed(ic, () => enforceResponse(body, enforcer, { subsetting: allowed.subsetting, ...(decide ? { decide } : {}) }));
  const headers = viewHeaders(body);
  if (notModified(conditions, headers)) return { status: 304, body: null, headers: pick(headers, ['etag', 'last-modified']), summary, decision: allowed.decision };
  return { status: 200, body, headers, summary, decision: allowed.decision };
}

/** An instance operation (`Patient/1/$everything`) names a target, which must be readable first. */
async function operation(ic: InteractionContext, request: FhirRequest, allowed: Authorized, body: RequestBody, conditions: Conditions): Promise<Outcome> {
  if (request.type !== null && request.id !== null) {
    const target = await resolve(ic, request, request.type, request.id);
    if (target.kind === 'absent') throw concealed(target.reasons);
  }
  const call = upstreamRequestOf(allowed.forwarded, body, null, conditions.prefer ?? null);
  const upstream = await ic.upstream.call(call);
  const answer = await answerBody(upstream, ic.maxResponseBytes);
  if (isPagedBundle(answer)) return page(ic, request, allowed, { path: pathOf(call), skip: 0, bundle: answer }, 0, new Map(), null);
  if (answer === null) return { status: upstream.status, body: null, headers: {}, summary: emptySummary(), decision: allowed.decision };
  const summary = await timed(ic, () => enforceResponse(answer, ic.enforcerFor(request), { subsetting: allowed.subsetting }));
  return { status: upstream.status, body: answer, headers: {}, summary, decision: allowed.decision };
}

// ---------- searches and histories ----------

async function search(ic: InteractionContext, request: FhirRequest, allowed: Authorized, conditions: Conditions, known: LatestVersions): Promise<Outcome> {
  const count = pageSize(ic, request);
  const criteria = await criteriaOf(ic, request.type, allowed.forwarded.params);
  // A chain that found nothing readable selects nothing: the page is empty without asking upstream.
  if (criteria === null) return page(ic, request, allowed, { path: '/', skip: 0, bundle: { resourceType: 'Bundle', type: 'searchset' } }, 0, known, null);
  const forwarded = withUpstreamCount({ ...allowed.forwarded, params: criteria }, count);
  const call = upstreamRequestOf(forwarded, { kind: 'none' }, null, conditions.prefer ?? null);
  const upstream = await ic.upstream.call(call);
  const first = await answerBody(upstream, ic.maxResponseBytes);
  return page(ic, request, allowed, { path: pathOf(call), skip: 0, bundle: first }, 0, known, null);
}

/** `GET [base]?_gwcursor=...`: the next page of a search the gateway is paging. */
async function continueSearch(ic: InteractionContext, request: FhirRequest): Promise<Outcome> {
  const token = request.params.find((p) => p.name === CURSOR_PARAM)?.value;
  if (token === undefined) throw new GatewayError('invalid_request', { reasons: ['paging.cursor-invalid'] });
  const principal = ic.authz.principal;
  const state = ic.paging.codec.open(token, { iss: principal.iss, sub: principal.sub, clientId: principal.client_id }, new Date(ic.authz.env.now));
  // The search is decided again, as on its first page: a token that lost its scope loses its pages.
  const allowed = await decided(ic, state.request, { kind: 'none' });
  const known: LatestVersions = new Map();
  return page(ic, state.request, allowed, { path: state.upstream, skip: state.skip }, state.page, known, token, state.count);
}

async function page(
  ic: InteractionContext,
  request: FhirRequest,
  allowed: Authorized,
  start: { path: string; skip: number; bundle?: unknown },
  pageIndex: number,
  known: LatestVersions,
  presentedCursor: string | null,
  count = pageSize(ic, request),
): Promise<Outcome> {
  const enforcer = ic.enforcerFor(request);
  const history = request.interaction.startsWith('history');
  const origin = ic.authz.origin;
  let latest = known;
  const result: PageResult = await timed(ic, () => collectPage(
    { fetch: async (path) => answerBody(await ic.upstream.call({ method: 'GET', path, payload: null, ifMatch: null, prefer: null }), ic.maxResponseBytes), upstreamBase: ic.upstreamBase },
    enforcer,
    ic.links,
    {
      request,
      start,
      count,
      page: pageIndex,
      subsetting: allowed.subsetting,
      releaseTotal: allowed.releaseTotal,
      decide: history
        ? async (resources, e) => {
            latest = await latestVersions(ic.authz.client, resources.map((r) => ({ type: r.resourceType, id: String(r['id']) })), origin, latest);
            return againstLatest(latest)(resources, e);
          }
        : decideAll,
      ...(history
        ? {
            releaseDeletion: async (ref: string) => {
              const [type, id] = ref.split('/') as [string, string];
              latest = await latestVersions(ic.authz.client, [{ type, id }], origin, latest);
              const current = latest.get(ref);
              if (!current) return false;
              const [decision] = await decideAll([structuredClone(current)], enforcer);
              // A deletion names the resource by its real id: only for principals who see it unredacted.
              return decision?.allow === true && (decision.obligations.redact ?? []).length === 0;
            },
          }
        : {}),
    },
    ic.paging.maxUpstreamPages,
  ));
  const principal = ic.authz.principal;
  const now = new Date(ic.authz.env.now);
  const self = presentedCursor !== null ? `${ic.links.publicBase}?${CURSOR_PARAM}=${presentedCursor}` : `${ic.links.publicBase}${upstreamPathOf({ ...request, searchViaPost: false }).path}`;
  const link: Array<Record<string, string>> = [{ relation: 'self', url: self }];
  if (result.next !== null) {
    const token = ic.paging.codec.seal({ request, upstream: result.next.path, skip: result.next.skip, count, page: pageIndex + 1 }, { iss: principal.iss, sub: principal.sub, clientId: principal.client_id }, now);
    link.push({ relation: 'next', url: `${ic.links.publicBase}?${CURSOR_PARAM}=${token}` });
  }
  const bundle: Record<string, unknown> = {
    resourceType: 'Bundle',
    type: result.type,
    ...(result.total !== null ? { total: result.total } : {}),
    link,
    ...(result.entries.length > 0 ? { entry: result.entries } : {}),
  };
  return { status: 200, body: bundle, headers: {}, summary: result.summary, decision: allowed.decision };
}

// ---------- writes ----------

async function create(ic: InteractionContext, request: FhirRequest, allowed: Authorized, body: RequestBody, conditions: Conditions): Promise<Outcome> {
  const plan = planCreate(body);
  const upstream = await ic.upstream.call(upstreamRequestOf({ ...allowed.forwarded, ifNoneExist: null }, body, null, conditions.prefer ?? null));
  return written(ic, request, plan, upstream, allowed.decision);
}

/** `If-None-Exist`: run here, as the principal's search would run; matches it may not read are absent. */
async function conditionalCreate(ic: InteractionContext, request: FhirRequest, allowed: Authorized, body: RequestBody, conditions: Conditions): Promise<Outcome> {
  const matches = await matchesOf(ic, request, allowed.forwarded.ifNoneExist ?? []);
  if (matches.length > 1) throw new GatewayError('precondition_failed', { reasons: ['conditional.multiple-matches'] });
  const [match] = matches;
  if (match === undefined) return create(ic, { ...request, ifNoneExist: null }, allowed, body, conditions);
  // One match: the create is not carried out, and the match is the answer (FHIR: 200 OK).
  const summary = emptySummary();
  applyDecision(match.resource, match.decision, ic.enforcerFor(request), summary);
  return { status: 200, body: match.resource, headers: viewHeaders(match.resource), summary, decision: allowed.decision };
}

/**
 * A conditional update, patch or delete: the criteria are run here; the one match the principal
 * may read is then changed by id with If-Match on the version that was checked, so the check and
 * the write concern the same version and a race answers 412.
 */
async function conditionalChange(ic: InteractionContext, request: FhirRequest, allowed: Authorized, body: RequestBody, conditions: Conditions): Promise<Outcome> {
  const matches = await matchesOf(ic, request, allowed.forwarded.params);
  if (matches.length > 1) throw new GatewayError('precondition_failed', { reasons: ['conditional.multiple-matches'] });
  const [match] = matches;
  const byId = (id: string): FhirRequest => ({ ...request, id, params: [] });
  if (match !== undefined) {
    const target = byId(match.resource['id'] as string);
    const targetBody = body.kind === 'json' && request.interaction === 'update' ? withId(body, target.id as string) : body;
    return change(ic, target, await decided(ic, target, targetBody), targetBody, conditions, match);
  }
  if (request.interaction !== 'update') throw new GatewayError('not_found', { auditReasons: ['conditional.no-match'] });
  // No match: an update creates (with a server-assigned id; a client-assigned one is an update-as-create).
  if (body.kind === 'json' && body.json['id'] !== undefined) throw new GatewayError('update_create_refused', { reasons: ['conditional.no-match-with-id'] });
  const created: FhirRequest = { ...request, method: 'POST', interaction: 'create', params: [] };
  return create(ic, created, await decided(ic, created, body), body, conditions);
}

async function change(ic: InteractionContext, request: FhirRequest, allowed: Authorized, body: RequestBody, conditions: Conditions, target: Target): Promise<Outcome> {
  if (target.kind === 'absent') {
    // Update-as-create is refused whether the id is free or taken by something the principal may not
    // read: otherwise the answer (201, or an overwrite) would tell which.
    if (request.interaction === 'update') throw new GatewayError('update_create_refused', { auditReasons: [...target.reasons] });
    throw concealed(target.reasons);
  }
  const plan = planChange(request, body, target, conditions.ifMatch);
  const decision = await decideWrite(ic.authz, request, plan);
  ic.onDecided?.(decision);
  const upstream = await ic.upstream.call(upstreamRequestOf(allowed.forwarded, plan.body, plan.ifMatch, conditions.prefer ?? null));
  if (request.interaction === 'delete') {
    if (upstream.status < 200 || upstream.status >= 300) await answerBody(upstream, ic.maxResponseBytes);
    await ic.onWritten?.(request, plan);
    return { status: upstream.status, body: null, headers: {}, summary: noteWritten(emptySummary(), patientsWritten([plan.current], ic.links.bases)), decision };
  }
  return written(ic, request, plan, upstream, decision);
}

/** The answer to a create, update or patch the upstream carried out: its result, if the writer may read it. */
async function written(ic: InteractionContext, request: FhirRequest, plan: WritePlan, upstream: UpstreamResponse, decision: Decision): Promise<Outcome> {
  const result = await answerBody(upstream, ic.maxResponseBytes);
  // Whose data was changed, for the audit record; read before release redacts the result.
  const changed = patientsWritten([plan.current, plan.resource, isResource(result) ? result : null], ic.links.bases);
  await ic.onWritten?.(request, plan);
  const headers = clientResponseHeaders(upstream.headers, ic.links);
  delete (headers as Record<string, string>)['content-location'];
  if (result === null) return { status: upstream.status, body: null, headers, summary: noteWritten(emptySummary(), changed), decision };
  try {
    const summary = await timed(ic, () => enforceResponse(result, ic.enforcerFor(request)));
    return { status: upstream.status, body: result, headers, summary: noteWritten(summary, changed), decision };
  } catch (err) {
    const summary = writeResultWithheld(request, err);
    if (summary === null) throw err;
    return { status: upstream.status, body: null, headers, summary: noteWritten(summary, changed), decision };
  }
}

// ---------- helpers ----------

async function decided(ic: InteractionContext, request: FhirRequest, body: RequestBody): Promise<Authorized> {
  const allowed = await decideRequest(ic.authz, request, body);
  ic.onDecided?.(allowed.decision);
  return allowed;
}

function timed<T>(ic: InteractionContext, fn: () => Promise<T>): Promise<T> {
  return ic.timeEnforce ? ic.timeEnforce(fn) : fn();
}

async function resolve(ic: InteractionContext, request: FhirRequest, type: string, id: string): Promise<Target> {
  return resolveTarget(ic.enforcerFor(request), ic.authz.client, type, id, ic.authz.origin);
}

async function matchesOf(ic: InteractionContext, request: FhirRequest, criteria: readonly SearchParam[]): Promise<Array<Extract<Target, { kind: 'visible' }>>> {
  const resolved = await criteriaOf(ic, request.type, criteria);
  if (resolved === null) return [];
  return resolveMatches(ic.enforcerFor(request), ic.authz.client, request.type as string, resolved, ic.authz.origin, ic.paging.maxConditionalCandidates);
}

/** The criteria with chained and reverse-chained parameters run by the gateway (src/enforce/chains.ts). */
async function criteriaOf(ic: InteractionContext, type: string | null, params: readonly SearchParam[]): Promise<SearchParam[] | null> {
  if (type === null) {
    if (params.some((p) => p.name.startsWith('_has:'))) throw new GatewayError('invalid_search_parameter', { reasons: ['search.chain-untyped'], parameter: '_has' });
    return [...params];
  }
  return resolveChains({ authz: ic.authz, enforcerFor: ic.enforcerFor, maxCandidates: ic.paging.maxConditionalCandidates, maxMatches: ic.paging.maxChainMatches }, type, params);
}

function concealed(reasons: readonly string[]): GatewayError {
  return new GatewayError('not_found', { auditReasons: [...reasons] });
}

function withId(body: Extract<RequestBody, { kind: 'json' }>, id: string): RequestBody {
  if (body.json['id'] !== undefined && body.json['id'] !== id) throw new GatewayError('invalid_body', { reasons: ['body.id-mismatch'] });
  return { ...body, json: { ...body.json, id } };
}

function pageSize(ic: InteractionContext, request: FhirRequest): number {
  const asked = request.params.find((p) => p.name === '_count')?.value;
  const n = asked === undefined ? ic.paging.defaultCount : Number(asked);
  if (!Number.isInteger(n) || n < 0) throw new GatewayError('invalid_search_parameter', { reasons: ['param.count'], parameter: '_count' });
  return Math.max(1, Math.min(n, ic.paging.maxCount));
}

/**
 * The upstream is asked for one entry more than the client's page: when nothing is withheld, one
 * upstream page fills the client's page and shows whether another follows (the look-ahead); when
 * something is, the pager reads on through the upstream's own `next` links.
 */
function withUpstreamCount(request: FhirRequest, count: number): FhirRequest {
  if (request.params.some((p) => p.name === '_summary' && p.value === 'count')) return request;
  const params = request.params.filter((p) => p.name !== '_count');
  return { ...request, params: [...params, makeParam('_count', String(count + 1))] };
}

function pathOf(call: { path: string; payload: { contentType: string; bytes: Buffer } | null }): string {
  // A POST _search continues as the same search by GET.
  if (call.payload?.contentType === 'application/x-www-form-urlencoded') {
    const query = call.payload.bytes.toString('utf8');
    return `${call.path.replace(/\/_search$/, '')}${query ? `?${query}` : ''}`;
  }
  return call.path;
}

function isPagedBundle(body: unknown): boolean {
  return isResource(body) && body.resourceType === 'Bundle' && (body['type'] === 'searchset' || body['type'] === 'history');
}

/** ETag and Last-Modified of what is released: the released form's own version, never the upstream's header. */
function viewHeaders(body: unknown): Record<string, string> {
  const meta = (body as { meta?: { versionId?: unknown; lastUpdated?: unknown } } | null)?.meta;
  const out: Record<string, string> = {};
  if (typeof meta?.versionId === 'string') out['etag'] = `W/"${meta.versionId}"`;
  if (typeof meta?.lastUpdated === 'string' && !Number.isNaN(Date.parse(meta.lastUpdated))) out['last-modified'] = new Date(meta.lastUpdated).toUTCString();
  return out;
}

/** Conditional reads, answered after policy: 304 only for what the principal may see anyway. */
function notModified(conditions: Conditions, headers: Readonly<Record<string, string>>): boolean {
  if (conditions.ifNoneMatch !== undefined) {
    const etag = headers['etag'];
    if (etag === undefined) return false;
    const bare = (t: string): string => t.trim().replace(/^W\//, '');
    return conditions.ifNoneMatch.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
  }
  if (conditions.ifModifiedSince !== undefined) {
    const since = Date.parse(conditions.ifModifiedSince);
    const modified = headers['last-modified'] === undefined ? Number.NaN : Date.parse(headers['last-modified']);
    return !Number.isNaN(since) && !Number.isNaN(modified) && modified <= since;
  }
  return false;
}

function pick(headers: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.filter((n) => headers[n] !== undefined).map((n) => [n, headers[n] as string]));
}
