/**
 * Paging decided at the gateway. The upstream pages over everything its search selects, withheld
 * resources included, so its pages speak about them: a page that comes back empty, a `next` link
 * after the last released entry, a `total`, an `_offset` walk. The client therefore never sees the
 * upstream's pages. The gateway fills each client page with released entries, fetching upstream
 * pages as it needs them, and keeps its position in its own sealed cursor (src/paging/cursor.ts).
 *
 * Page boundaries depend on released entries only: a page holds `count` of them, and `next` is
 * given only when the gateway has seen one more released match beyond them (look-ahead). A client
 * page may cost several upstream pages, at most `maxUpstreamPages`; past that bound the page is
 * answered with what was found and a cursor that continues from there (the one place where page
 * structure can depend on withheld data: only after `maxUpstreamPages` pages of withheld matches,
 * and documented as such).
 *
 * Included resources (`_include`, `_revinclude`) belong to the matches of the page: one is released
 * only when it references, or is referenced by, a released match of this page (in the released
 * forms of both). An include that only a withheld match points at would tell that match's story.
 */
import { GatewayError } from '../errors.js';
import type { LinkRewriter } from '../fhir/links.js';
import { localReferencesIn } from '../fhir/references.js';
import type { FhirRequest } from '../fhir/request.js';
import type { Decision, FhirResourceJson } from '../policy/contract.js';
import { applyDecision, emptySummary, isResource, mergeSummary, referenceOf, rewriteEntryUrls, type Decider, type EnforcementSummary, type ResponseEnforcer } from '../enforce/response.js';
import type { Subsetting } from '../enforce/subset.js';

type JsonObject = Record<string, unknown>;

export interface PageSource {
  /** A page of the upstream's answer, by path relative to the upstream base; must be a 2xx Bundle. */
  fetch(path: string): Promise<unknown>;
  /** The upstream's base URL, against which its `next` links are read. */
  readonly upstreamBase: string;
}

export interface PageRequest {
  /** The search as the client asked for it. */
  readonly request: FhirRequest;
  /** Where to start: an upstream page already fetched (page 0), or one to fetch. */
  readonly start: { readonly path: string; readonly skip: number; readonly bundle?: unknown };
  readonly count: number;
  /** Index of this page (0: the first). */
  readonly page: number;
  readonly subsetting: Subsetting | null;
  /** Policy vouches that nothing selected is withheld: the upstream's total may pass on page 0. */
  readonly releaseTotal: boolean;
  /** Decides the resources of one upstream page; history entries are judged against their latest version. */
  readonly decide: (resources: readonly FhirResourceJson[], enforcer: ResponseEnforcer) => ReturnType<Decider>;
  /**
   * A deletion entry of a history (no resource): whether it may be released, judged on the
   * resource's latest version. Absent for searchsets.
   */
  readonly releaseDeletion?: (ref: string) => Promise<boolean>;
}

export interface PageResult {
  readonly type: 'searchset' | 'history';
  /** Entries of the client's page: released matches, then the includes that belong to them. */
  readonly entries: JsonObject[];
  /** The upstream's total, where it may pass (see PageRequest.releaseTotal), else null. */
  readonly total: number | null;
  /** Where the next page starts, when the gateway has seen a released match beyond this page. */
  readonly next: { readonly path: string; readonly skip: number } | null;
  readonly summary: EnforcementSummary;
}

export async function collectPage(source: PageSource, enforcer: ResponseEnforcer, links: LinkRewriter, want: PageRequest, maxUpstreamPages: number): Promise<PageResult> {
  const summary = emptySummary();
  const released: JsonObject[] = [];
  const includes: Array<{ entry: JsonObject; decision: Decision }> = [];
  let type: 'searchset' | 'history' | null = null;
  let total: number | null = null;
  let withheldAny = false;
  let path = want.start.path;
  let skip = want.start.skip;
  let bundle = want.start.bundle ?? (await source.fetch(path));

  for (let fetched = 1; ; fetched++) {
    const upstream = asBundle(bundle);
    type ??= upstream.type;
    if (fetched === 1 && typeof upstream.bundle['total'] === 'number') total = upstream.bundle['total'];
    const matches = upstream.entries.filter((e) => searchMode(e) === 'match').slice(skip);
    const pageIncludes = upstream.type === 'searchset' ? upstream.entries.filter((e) => searchMode(e) === 'include') : [];

    // Decided in chunks of what the page still needs (and the look-ahead): a page of 10 from an
    // upstream page of 41 decides 11 resources when nothing is withheld, not 41.
    let includesPending = pageIncludes.length > 0;
    for (let at = 0, chunk = want.count + 1 - released.length; at < matches.length; at += chunk, chunk = Math.max(want.count + 1 - released.length, chunk * 2)) {
      const slice = matches.slice(at, at + chunk);
      const decide = [...slice, ...(includesPending ? pageIncludes : [])].filter((e) => e['resource'] !== undefined);
      const decisions = decide.length > 0 ? await want.decide(decide.map((e) => e['resource'] as FhirResourceJson), enforcer) : [];
      if (decisions.length !== decide.length) throw new GatewayError('policy_error', { reasons: ['policy.malformed-decision'] });
      const decisionOf = new Map(decide.map((e, i) => [e, decisions[i] as Decision]));
      if (includesPending) {
        for (const entry of pageIncludes) {
          const decision = decisionOf.get(entry);
          if (decision) includes.push({ entry, decision });
        }
        includesPending = false;
      }
      for (const [j, entry] of slice.entries()) {
        const decision = decisionOf.get(entry);
        const releasable = decision ? decision.allow : await releasableDeletion(entry, links, want);
        if (!releasable) {
          withheldAny = true;
          if (decision) applyDecision(entry['resource'] as FhirResourceJson, decision, enforcer, summary);
          else summary.withheld++;
          continue;
        }
        if (released.length === want.count) {
          // Look-ahead: one more released match exists, so there is a next page, starting here.
          return finish({ path, skip: skip + at + j });
        }
        if (decision) applyDecision(entry['resource'] as FhirResourceJson, decision, enforcer, summary, want.subsetting);
        released.push(entry);
      }
    }
    if (includesPending) {
      // A page of includes only (its matches were consumed by an earlier client page).
      const decisions = await want.decide(pageIncludes.filter((e) => e['resource'] !== undefined).map((e) => e['resource'] as FhirResourceJson), enforcer);
      pageIncludes.filter((e) => e['resource'] !== undefined).forEach((entry, i) => includes.push({ entry, decision: decisions[i] as Decision }));
    }

    const nextLink = upstream.links.find((l) => l['relation'] === 'next')?.['url'];
    if (typeof nextLink !== 'string') return finish(null);
    const nextPath = relativeToUpstream(nextLink, source.upstreamBase);
    if (fetched >= maxUpstreamPages) return finish({ path: nextPath, skip: 0 });
    path = nextPath;
    skip = 0;
    bundle = await source.fetch(path);
  }

  function finish(next: { path: string; skip: number } | null): PageResult {
    const kept = keptIncludes(released, includes, enforcer, links, summary);
    const entries = [...released, ...kept].map((entry) => cleanEntry(entry, links, type === 'history'));
    const passTotal = want.page === 0 && want.releaseTotal && !withheldAny && total !== null;
    const exactTotal = want.page === 0 && next === null ? released.length : null;
    return { type: type ?? 'searchset', entries, total: passTotal ? total : exactTotal, next, summary };
  }
}

/** Includes that a released match of this page references or is referenced by (transitively, for :iterate). */
function keptIncludes(released: readonly JsonObject[], includes: ReadonlyArray<{ entry: JsonObject; decision: Decision }>, enforcer: ResponseEnforcer, links: LinkRewriter, summary: EnforcementSummary): JsonObject[] {
  const candidates: Array<{ entry: JsonObject; counted: EnforcementSummary }> = [];
  for (const { entry, decision } of includes) {
    const resource = entry['resource'] as FhirResourceJson;
    if (!decision.allow) {
      applyDecision(resource, decision, enforcer, summary);
      continue;
    }
    // Redacted now, counted once kept: linking reads the released forms, since redaction may have
    // removed the very reference that linked them; an include dropped because it belongs to another
    // page is not withheld.
    const counted = emptySummary();
    applyDecision(resource, decision, enforcer, counted);
    candidates.push({ entry, counted });
  }
  // Nothing to link: the matches' references need not be walked (most searches have no includes).
  if (candidates.length === 0) return [];
  const anchor = new Set<string>();
  const anchorRefs = new Set<string>();
  const addAnchor = (resource: FhirResourceJson): void => {
    anchor.add(referenceOf(resource));
    for (const ref of localReferencesIn(resource, links.bases)) anchorRefs.add(`${ref.type}/${ref.id}`);
  };
  for (const entry of released) if (isResource(entry['resource'])) addAnchor(entry['resource']);
  const kept: JsonObject[] = [];
  let pending = candidates;
  for (let grew = true; grew; ) {
    grew = false;
    const rest: typeof pending = [];
    for (const c of pending) {
      const resource = c.entry['resource'] as FhirResourceJson;
      const linked = anchorRefs.has(referenceOf(resource)) || localReferencesIn(resource, links.bases).some((r) => anchor.has(`${r.type}/${r.id}`));
      if (!linked) {
        rest.push(c);
        continue;
      }
      grew = true;
      // A resource appears once in a page (the anchors are the page's matches and the includes kept
      // so far): each upstream page a client page was filled from brings its own includes, and how
      // many were needed depends on what was withheld.
      if (anchor.has(referenceOf(resource))) continue;
      kept.push(c.entry);
      mergeSummary(summary, c.counted);
      addAnchor(resource);
    }
    pending = rest;
  }
  return kept;
}

async function releasableDeletion(entry: JsonObject, links: LinkRewriter, want: PageRequest): Promise<boolean> {
  if (!want.releaseDeletion) return false;
  const url = (entry['request'] as JsonObject | undefined)?.['url'] ?? entry['fullUrl'];
  if (typeof url !== 'string') return false;
  const local = localReferencesIn({ reference: url.split('?')[0] }, links.bases)[0];
  return local !== undefined && want.releaseDeletion(`${local.type}/${local.id}`);
}

/**
 * What of an upstream entry reaches the client. A searchset entry: the released resource, its
 * search mode, a fullUrl built from the released resource. A history entry's request and response
 * are rebuilt from the released version too (its URL, ETag and Last-Modified), never copied: the
 * upstream's would name the real id and the exact time of a version the principal gets
 * de-identified. A deletion carries only its method, the resource's URL and status.
 */
function cleanEntry(entry: JsonObject, links: LinkRewriter, history: boolean): JsonObject {
  const resource = entry['resource'] as FhirResourceJson | undefined;
  const out: JsonObject = {};
  if (entry['fullUrl'] !== undefined) out['fullUrl'] = entry['fullUrl'];
  if (resource !== undefined) out['resource'] = resource;
  if (!history) {
    if ((entry['search'] as JsonObject | undefined) !== undefined) out['search'] = { mode: searchMode(entry) };
    rewriteEntryUrls(out, links);
    return out;
  }
  const upstreamRequest = (entry['request'] ?? {}) as JsonObject;
  const upstreamResponse = (entry['response'] ?? {}) as JsonObject;
  const method = typeof upstreamRequest['method'] === 'string' && /^(POST|PUT|PATCH|DELETE)$/.test(upstreamRequest['method']) ? upstreamRequest['method'] : 'PUT';
  const status = typeof upstreamResponse['status'] === 'string' && /^\d{3}( [A-Za-z ]+)?$/.test(upstreamResponse['status']) ? upstreamResponse['status'] : null;
  if (resource !== undefined) {
    const meta = resource['meta'] as { versionId?: unknown; lastUpdated?: unknown } | undefined;
    out['request'] = { method, url: `${resource.resourceType}/${String(resource['id'])}` };
    out['response'] = {
      ...(status !== null ? { status } : {}),
      ...(typeof meta?.versionId === 'string' ? { etag: `W/"${meta.versionId}"` } : {}),
      ...(typeof meta?.lastUpdated === 'string' ? { lastModified: meta.lastUpdated } : {}),
    };
    out['fullUrl'] = `${links.publicBase}/${resource.resourceType}/${String(resource['id'])}`;
    return out;
  }
  const url = typeof upstreamRequest['url'] === 'string' ? localReferencesIn({ reference: upstreamRequest['url'].split('?')[0] }, links.bases)[0] : undefined;
  if (url !== undefined) out['request'] = { method: 'DELETE', url: `${url.type}/${url.id}` };
  if (status !== null) out['response'] = { status };
  delete out['fullUrl'];
  return out;
}

function asBundle(body: unknown): { bundle: JsonObject; type: 'searchset' | 'history'; entries: JsonObject[]; links: JsonObject[] } {
  if (!isResource(body) || body.resourceType !== 'Bundle' || (body['type'] !== 'searchset' && body['type'] !== 'history')) {
    throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-searchset'] });
  }
  const entries = body['entry'] ?? [];
  const links = body['link'] ?? [];
  if (!Array.isArray(entries) || !Array.isArray(links)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.bundle-entry'] });
  for (const e of entries) {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.bundle-entry'] });
    const resource = (e as JsonObject)['resource'];
    if (resource !== undefined && !isResource(resource)) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.not-a-resource'] });
  }
  return { bundle: body, type: body['type'], entries: entries as JsonObject[], links: links.filter((l): l is JsonObject => typeof l === 'object' && l !== null) };
}

function searchMode(entry: JsonObject): string {
  const mode = (entry['search'] as JsonObject | undefined)?.['mode'];
  // A history entry has no search mode: each one is a version, read like a match.
  return typeof mode === 'string' ? mode : 'match';
}

/** An upstream `next` link as a path under its base; a link anywhere else is not followed. */
export function relativeToUpstream(url: string, upstreamBase: string): string {
  const base = upstreamBase.replace(/\/+$/, '');
  if (url.startsWith(`${base}/`) || url.startsWith(`${base}?`)) return url.slice(base.length);
  if (url.startsWith('?')) return `/${url}`;
  throw new GatewayError('upstream_bad_response', { reasons: ['upstream.paging-link-foreign'] });
}
