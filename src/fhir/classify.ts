/**
 * classify: the raw HTTP request target -> one canonical FhirRequest, or a 400.
 *
 * The gateway never normalises a path into something else: a request whose path is not already in
 * canonical form (dot segments, empty segments, percent-encoding, matrix parameters, wrong-case
 * types) is refused, because the upstream might read it differently from the policy. Literal path
 * segments (`_history`, `_search`, `metadata`, `$op`) are matched before ids, as FHIR routers do.
 */
import { GatewayError } from '../errors.js';
import { R4_RESOURCE_TYPES, SEARCH_PARAMS } from './generated/r4.js';
import type { FhirRequest, HttpMethod, Interaction, SearchParam } from './request.js';
import { parseQueryString } from './search-params.js';

const RESOURCE_TYPES = new Set(R4_RESOURCE_TYPES);
const RESOURCE_TYPES_LOWER = new Map(R4_RESOURCE_TYPES.map((t) => [t.toLowerCase(), t]));
/** Compartments FHIR R4 defines; `Patient/123/Observation` is a compartment search. */
const COMPARTMENT_TYPES = new Set(['Patient', 'Encounter', 'RelatedPerson', 'Practitioner', 'Device']);

const SEGMENT = /^[A-Za-z0-9\-._$]+$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const OPERATION = /^\$[A-Za-z][A-Za-z0-9\-_.]*$/;
const METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** Parameters that shape any read's representation. */
const FORMAT_PARAMS = new Set(['_format', '_pretty', '_summary', '_elements']);
/** Search result parameters (FHIR R4 3.1.1.5.x). `_summary` and `_elements` are in FORMAT_PARAMS. */
const RESULT_PARAMS = new Set(['_count', '_sort', '_include', '_revinclude', '_total', '_contained', '_containedType']);
/** Search parameters common to all types that the gateway accepts; `_query` and `_filter` are refused (their meaning is server-defined). */
const COMMON_SEARCH = new Set(['_id', '_lastUpdated', '_profile', '_security', '_source', '_tag', '_text', '_content', '_list', '_has']);
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json']);

/** True for parameters that shape the result or its representation rather than select resources. */
export function isResultParam(name: string): boolean {
  return FORMAT_PARAMS.has(name) || RESULT_PARAMS.has(name);
}

export interface ClassifyOptions {
  /** Path of publicBaseUrl, e.g. `/fhir`. */
  readonly basePath: string;
  /** Server paging parameters accepted on searches (they appear in the upstream's `next` links). */
  readonly pagingParameters: ReadonlySet<string>;
}

export function classify(method: string, rawTarget: string, options: ClassifyOptions): FhirRequest {
  if (!METHODS.has(method)) throw new GatewayError('method_not_allowed');
  if (!rawTarget.startsWith('/') || rawTarget.includes('#')) throw new GatewayError('path_not_canonical', { reasons: ['path.form'] });
  const q = rawTarget.indexOf('?');
  const rawPath = q === -1 ? rawTarget : rawTarget.slice(0, q);
  const rawQuery = q === -1 ? '' : rawTarget.slice(q + 1);

  const { basePath } = options;
  if (rawPath !== basePath && !rawPath.startsWith(`${basePath}/`)) throw new GatewayError('not_found');
  const rest = rawPath.slice(basePath.length);
  const segments = rest === '' || rest === '/' ? [] : rest.slice(1).split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '*' && i === 2) continue; // `Patient/123/*`: a compartment search across all types
    if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw new GatewayError('path_not_canonical', { reasons: ['path.segment'] });
    }
  }

  const route = routeOf(method as HttpMethod, segments);
  const params = parseQueryString(rawQuery);
  const interaction = route.interaction === 'search-system' && isContinuation(params) ? 'search-continue' : route.interaction;
  // `POST [type]/_search` is a search by its path alone: rebuilt without `_search` it would be a create.
  const searchViaPost = method === 'POST' && route.interaction === 'search-type';
  const request: FhirRequest = { method: method as HttpMethod, searchViaPost, ifNoneExist: null, params, ...route, interaction };
  checkParams(request, options);
  return request;
}

/** The parameter of the gateway's own paging links (src/interaction/run.ts). */
export const CURSOR_PARAM = '_gwcursor';

/**
 * `GET [base]?_gwcursor=...`: a page of an earlier search, named by the gateway's own sealed cursor.
 * The cursor stands for the whole search, so nothing but representation parameters may go with it.
 */
function isContinuation(params: readonly SearchParam[]): boolean {
  if (!params.some((p) => p.name === CURSOR_PARAM)) return false;
  if (params.filter((p) => p.name === CURSOR_PARAM).length > 1 || !params.every((p) => p.name === CURSOR_PARAM || p.name === '_format' || p.name === '_pretty')) {
    throw new GatewayError('invalid_search_parameter', { reasons: ['paging.cursor-with-criteria'], parameter: CURSOR_PARAM });
  }
  return true;
}

/** Conditional create: `If-None-Exist: identifier=x` is checked like a query on the created type. */
export function withIfNoneExist(request: FhirRequest, header: string): FhirRequest {
  if (request.interaction !== 'create') throw new GatewayError('invalid_request', { reasons: ['conditional.if-none-exist'] });
  const criteria = parseQueryString(header.startsWith('?') ? header.slice(1) : header);
  if (criteria.length === 0) throw new GatewayError('invalid_request', { reasons: ['conditional.no-criteria'] });
  for (const p of criteria) {
    if (isResultParam(p.name) || !isKnownSearchParam(request.type, p)) {
      throw new GatewayError('invalid_search_parameter', { reasons: ['param.unknown'], parameter: p.name });
    }
  }
  return { ...request, ifNoneExist: criteria };
}

/** Adds the parameters of a `POST [type]/_search` form body (application/x-www-form-urlencoded). */
export function withFormParams(request: FhirRequest, formBody: string, options: ClassifyOptions): FhirRequest {
  const merged: FhirRequest = { ...request, params: [...request.params, ...parseQueryString(formBody)], searchViaPost: true };
  checkParams(merged, options);
  return merged;
}

type Route = Pick<FhirRequest, 'interaction' | 'type' | 'id' | 'version' | 'compartment' | 'operation'>;

function routeOf(method: HttpMethod, seg: readonly string[]): Route {
  const none = { type: null, id: null, version: null, compartment: null, operation: null };
  const only = (allowed: HttpMethod[], interaction: Interaction, rest: Partial<Route> = {}): Route => {
    if (!allowed.includes(method)) throw new GatewayError('method_not_allowed');
    return { ...none, ...rest, interaction };
  };
  const [s0, s1, s2, s3] = seg;

  if (s0 === undefined) {
    return method === 'POST' ? only(['POST'], 'batch') : only(['GET'], 'search-system');
  }
  if (seg.length === 1 && s0 === 'metadata') return only(['GET'], 'capabilities');
  if (seg.length === 1 && s0 === '_history') return only(['GET'], 'history-system');
  // DELETE reaches system-level operations only for cancelling a Bulk Data export (`$bulk-status`); policy decides.
  if (seg.length === 1 && s0.startsWith('$')) return only(['GET', 'POST', 'DELETE'], 'operation', { operation: operationName(s0) });

  const type = resourceType(s0);
  if (s1 === undefined) {
    switch (method) {
      case 'GET':
        return only(['GET'], 'search-type', { type });
      case 'POST':
        return only(['POST'], 'create', { type });
      case 'PUT':
        return only(['PUT'], 'update', { type });
      case 'PATCH':
        return only(['PATCH'], 'patch', { type });
      case 'DELETE':
        return only(['DELETE'], 'delete', { type });
    }
  }
  if (seg.length === 2 && s1 === '_search') return only(['POST'], 'search-type', { type });
  if (seg.length === 2 && s1 === '_history') return only(['GET'], 'history-type', { type });
  if (seg.length === 2 && s1.startsWith('$')) return only(['GET', 'POST'], 'operation', { type, operation: operationName(s1) });

  const id = fhirId(s1);
  if (s2 === undefined) {
    switch (method) {
      case 'GET':
        return only(['GET'], 'read', { type, id });
      case 'PUT':
        return only(['PUT'], 'update', { type, id });
      case 'PATCH':
        return only(['PATCH'], 'patch', { type, id });
      case 'DELETE':
        return only(['DELETE'], 'delete', { type, id });
      default:
        throw new GatewayError('method_not_allowed');
    }
  }
  if (seg.length === 3 && s2 === '_history') return only(['GET'], 'history-instance', { type, id });
  if (seg.length === 3 && s2.startsWith('$')) return only(['GET', 'POST'], 'operation', { type, id, operation: operationName(s2) });
  if (seg.length === 4 && s2 === '_history' && s3 !== undefined) return only(['GET'], 'vread', { type, id, version: fhirId(s3) });
  if (seg.length === 3 && COMPARTMENT_TYPES.has(type)) {
    const searched = s2 === '*' ? null : resourceType(s2);
    return only(['GET'], 'search-compartment', { type: searched, compartment: { type, id } });
  }
  throw new GatewayError('not_found');
}

function resourceType(segment: string): string {
  if (RESOURCE_TYPES.has(segment)) return segment;
  // `patient/1` is refused, not corrected: some servers would serve it, some would 404, and policy must see what is served.
  throw new GatewayError('unknown_resource_type', { reasons: [RESOURCE_TYPES_LOWER.has(segment.toLowerCase()) ? 'path.type-case' : 'path.type-unknown'] });
}

function fhirId(segment: string): string {
  if (!FHIR_ID.test(segment)) throw new GatewayError('path_not_canonical', { reasons: ['path.id'] });
  return segment;
}

function operationName(segment: string): string {
  if (!OPERATION.test(segment)) throw new GatewayError('path_not_canonical', { reasons: ['path.operation'] });
  return segment.slice(1);
}

const SEARCHES: ReadonlySet<Interaction> = new Set(['search-type', 'search-system', 'search-compartment', 'search-continue']);
const CONDITIONAL_WRITES: ReadonlySet<Interaction> = new Set(['update', 'patch', 'delete']);

function checkParams(request: FhirRequest, options: ClassifyOptions): void {
  for (const p of request.params) {
    if (p.name === '_format') checkFormat(p);
    if (FORMAT_PARAMS.has(p.name)) continue;
    // RFC 6750 2.2/2.3 tokens are never read, nor passed on to the upstream's logs; elsewhere the rules below refuse them.
    if (request.interaction === 'operation' && p.name === 'access_token') throw new GatewayError('invalid_request', { reasons: ['param.access-token'], parameter: p.name });
    if (request.interaction === 'operation') continue; // operation parameters are the operation's; policy decides on operations
    if (request.interaction === 'search-continue') continue; // checked by isContinuation
    const isSearch = SEARCHES.has(request.interaction) || request.interaction.startsWith('history');
    const isConditional = CONDITIONAL_WRITES.has(request.interaction) && request.id === null;
    if (!isSearch && !isConditional) throw new GatewayError('invalid_search_parameter', { reasons: ['param.not-allowed-here'], parameter: p.name });
    // The gateway pages searches itself: the upstream's positions (which count withheld entries) are never the client's.
    if (options.pagingParameters.has(p.name) || p.name === CURSOR_PARAM) throw new GatewayError('invalid_search_parameter', { reasons: ['param.paging-not-allowed'], parameter: p.name });
    if (isSearch && RESULT_PARAMS.has(p.name)) continue;
    if (request.interaction.startsWith('history')) {
      if (p.name === '_since' || p.name === '_at') continue;
      throw new GatewayError('invalid_search_parameter', { reasons: ['param.unknown'], parameter: p.name });
    }
    if (!isKnownSearchParam(request.type, p)) throw new GatewayError('invalid_search_parameter', { reasons: ['param.unknown'], parameter: p.name });
  }
  if (CONDITIONAL_WRITES.has(request.interaction) && request.id === null && request.params.length === 0) {
    throw new GatewayError('invalid_request', { reasons: ['conditional.no-criteria'] });
  }
}

function checkFormat(p: SearchParam): void {
  if (!JSON_FORMATS.has(p.value.toLowerCase().split(';')[0]?.trim() ?? '')) throw new GatewayError('not_acceptable');
}

function isKnownSearchParam(type: string | null, p: SearchParam): boolean {
  if (COMMON_SEARCH.has(p.name) || p.name.startsWith('_has:')) return true;
  if (type === null) return p.name === '_type';
  // A chain `subject.name` or `subject:Patient.name` is known when its first link is a reference parameter.
  const dot = p.name.indexOf('.');
  const head = dot === -1 ? p.name : p.name.slice(0, dot);
  const kind = SEARCH_PARAMS[type]?.[head];
  if (kind === undefined) return false;
  return dot === -1 || kind === 'reference';
}
