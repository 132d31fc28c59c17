/**
 * Chained criteria (`subject.name=Smith`, `subject:Patient.name=Smith`) and reverse chains
 * (`_has:Observation:patient:code=...`) test resources other than the ones returned. Forwarded as
 * they are, the upstream would run them over everything, withheld resources included: the
 * patients a `_has` finds through withheld HIV results are visible Patients, but finding them
 * tells the result. So the gateway runs the inner search itself, as the principal's own search
 * (decided, narrowed, criteria-checked, every match decided), and replaces the criterion by the ids
 * it found: `subject=Patient/a,Patient/b`, `_id=a,b`. The outer search then selects by data the
 * principal may read.
 *
 * One level of chaining. An inner search that finds more than `maxMatches` readable resources is
 * refused (400 `search.chain-too-broad`); one the upstream answers with more than `maxCandidates`
 * resources, readable or not, is refused likewise (the one bound that depends on withheld data,
 * documented in docs/threat-model.md).
 */
import { GatewayError } from '../errors.js';
import { isResultParam } from '../fhir/classify.js';
import { SEARCH_PARAM_PATHS } from '../fhir/generated/r4-search-paths.js';
import { REFERENCE_TARGETS } from '../fhir/generated/r4.js';
import { parseLocalReference } from '../fhir/references.js';
import type { FhirRequest, SearchParam } from '../fhir/request.js';
import { makeParam, paramFullName, serializeQuery } from '../fhir/search-params.js';
import type { FhirResourceJson } from '../policy/contract.js';
import { decideRequest, type AuthorizeContext } from './authorize.js';
import { applyDecision, decideAll, emptySummary, type ResponseEnforcer } from './response.js';

export interface ChainDeps {
  readonly authz: AuthorizeContext;
  readonly enforcerFor: (request: FhirRequest) => ResponseEnforcer;
  /** Resources an inner search may select upstream, readable or not. */
  readonly maxCandidates: number;
  /** Readable resources an inner search may find. */
  readonly maxMatches: number;
}

/** The criteria with chains resolved to ids; null when some chain matched nothing readable (the search selects nothing). */
export async function resolveChains(deps: ChainDeps, type: string, params: readonly SearchParam[]): Promise<SearchParam[] | null> {
  const out: SearchParam[] = [];
  for (const p of params) {
    if (isResultParam(p.name)) {
      out.push(p);
      continue;
    }
    const full = paramFullName(p);
    if (full.startsWith('_has:')) {
      const ids = await reverseChain(deps, type, full, p.value);
      if (ids.length === 0) return null;
      out.push(makeParam('_id', ids.map(escapeOr).join(',')));
      continue;
    }
    const chain = /^([a-z][A-Za-z0-9-]*)(?::([A-Z][A-Za-z]+))?\.(.+)$/.exec(full);
    if (chain === null) {
      out.push(p);
      continue;
    }
    const refs = await forwardChain(deps, type, chain[1] as string, chain[2] ?? null, chain[3] as string, p.value);
    if (refs.length === 0) return null;
    out.push(makeParam(chain[1] as string, refs.map(escapeOr).join(',')));
  }
  return out;
}

/** `subject:Patient.name=Smith` on Observation: the Patients named Smith the principal may read, as references. */
async function forwardChain(deps: ChainDeps, type: string, ref: string, typed: string | null, inner: string, value: string): Promise<string[]> {
  if (inner.includes('.')) refuse('search.chain-depth', `${ref}.${inner}`);
  const declared = REFERENCE_TARGETS[type]?.[ref];
  if (declared === undefined) refuse('search.chain-not-reference', ref);
  const targets = typed !== null ? [typed] : declared;
  if (targets.includes('*') || (typed !== null && !declared.includes(typed) && !declared.includes('*'))) refuse('search.chain-untyped', ref);
  const refs: string[] = [];
  for (const target of targets) {
    // A target type the principal may not search at all selects nothing for it, as for any search it makes.
    const found = await innerSearch(deps, target, makeParam(inner, value)).catch((err: unknown) => {
      if (err instanceof GatewayError && (err.code === 'forbidden' || err.code === 'insufficient_scope') && targets.length > 1) return [];
      throw err;
    });
    for (const r of found) refs.push(`${r.resourceType}/${String(r['id'])}`);
  }
  if (refs.length > deps.maxMatches) refuse('search.chain-too-broad', ref);
  return refs;
}

/** `_has:Observation:patient:code=X` on Patient: the Patients that readable Observations with code X point at. */
async function reverseChain(deps: ChainDeps, type: string, full: string, value: string): Promise<string[]> {
  const [, referring, via, ...rest] = full.split(':');
  const criterion = rest.join(':');
  if (referring === undefined || via === undefined || criterion === '' || criterion.startsWith('_has')) refuse('search.chain-depth', full);
  const paths = SEARCH_PARAM_PATHS[referring as string]?.[via as string];
  if (paths === undefined) refuse('search.chain-not-reference', full);
  const found = await innerSearch(deps, referring as string, makeParam(criterion, value));
  const bases = deps.authz.bases;
  const ids = new Set<string>();
  for (const resource of found) {
    // The references the principal sees in the released form, at the elements the parameter reads.
    for (const [path] of paths) {
      for (const reference of referencesAt(resource, (path as string).split('.'))) {
        const local = parseLocalReference(reference, bases);
        if (local?.type === type) ids.add(local.id);
      }
    }
  }
  if (ids.size > deps.maxMatches) refuse('search.chain-too-broad', full);
  return [...ids];
}

/** The principal's own search on `type` with one criterion: its readable matches, in their released form. */
async function innerSearch(deps: ChainDeps, type: string, criterion: SearchParam): Promise<FhirResourceJson[]> {
  const request: FhirRequest = { method: 'GET', interaction: 'search-type', type, id: null, version: null, compartment: null, operation: null, params: [criterion], searchViaPost: false, ifNoneExist: null };
  const allowed = await decideRequest(deps.authz, request, { kind: 'none' });
  const resolved = await resolveChains(deps, type, allowed.forwarded.params);
  if (resolved === null) return [];
  let candidates: FhirResourceJson[];
  try {
    candidates = await deps.authz.client.search(type, serializeQuery([...resolved, makeParam('_count', String(deps.maxCandidates + 1))]), deps.authz.origin, deps.maxCandidates);
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'upstream_too_large') refuse('search.chain-too-broad', criterion.name);
    throw err;
  }
  if (candidates.length === 0) return [];
  const enforcer = deps.enforcerFor(request);
  const decisions = await decideAll(candidates, enforcer);
  const visible: FhirResourceJson[] = [];
  candidates.forEach((resource, i) => {
    const decision = decisions[i];
    if (!decision?.allow) return;
    applyDecision(resource, decision, enforcer, emptySummary());
    visible.push(resource);
  });
  return visible;
}

function referencesAt(node: unknown, path: readonly string[]): string[] {
  if (Array.isArray(node)) return node.flatMap((n) => referencesAt(n, path));
  if (typeof node !== 'object' || node === null) return [];
  const obj = node as Record<string, unknown>;
  if (path.length === 0) return typeof obj['reference'] === 'string' ? [obj['reference']] : [];
  const [head, ...rest] = path as [string, ...string[]];
  // A choice element is named without its type (`value` reads `valueReference`).
  const keys = head in obj ? [head] : Object.keys(obj).filter((k) => k.startsWith(head) && /^[A-Z]/.test(k.slice(head.length)));
  return keys.flatMap((k) => referencesAt(obj[k], rest));
}

function escapeOr(value: string): string {
  return value.replace(/,/g, '\\,');
}

function refuse(reason: string, parameter: string): never {
  throw new GatewayError('invalid_search_parameter', { reasons: [reason], parameter });
}
