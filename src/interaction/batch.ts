/**
 * Batch and transaction Bundles: each entry is exactly the single-request path
 * (src/interaction/run.ts), classified, decided, resolved, sent and released as if it had been
 * sent alone; only the way its upstream call travels differs.
 *
 * - batch: entries run one after another, each with its own upstream calls. A refused or failed
 *   entry is answered in its own slot.
 * - transaction: all or nothing. Every entry runs until it is ready to write; the writes are then
 *   sent as one upstream transaction, and each entry continues with its own part of the answer.
 *   Reads in a transaction run after it (FHIR processes GETs last). One refused entry refuses the
 *   whole transaction, before anything is written.
 */
import { STATUS_CODES } from 'node:http';
import { asGatewayError, GatewayError, operationOutcomeFor } from '../errors.js';
import { entryBody } from '../fhir/body.js';
import { classify, withIfNoneExist, type ClassifyOptions } from '../fhir/classify.js';
import type { LinkRewriter } from '../fhir/links.js';
import type { FhirRequest } from '../fhir/request.js';
import { emptySummary, listRef, mergeSummary, type EnforcementSummary } from '../enforce/response.js';
import type { UpstreamResponse } from '../proxy/forward.js';
import { runInteraction, type Conditions, type InteractionContext, type Outcome } from './run.js';
import { answerBody, type UpstreamPort, type UpstreamRequest } from './upstream.js';

type JsonObject = Record<string, unknown>;

export interface BatchOptions {
  readonly classifyOptions: ClassifyOptions;
  readonly links: LinkRewriter;
  readonly maxEntries: number;
  readonly maxResponseBytes: number;
}

export async function runBundle(ic: InteractionContext, options: BatchOptions, bundle: JsonObject): Promise<{ body: JsonObject; summary: EnforcementSummary }> {
  const type = bundle['type'];
  if (type !== 'batch' && type !== 'transaction') throw new GatewayError('invalid_body', { reasons: ['batch.type'] });
  const raw = bundle['entry'] === undefined ? [] : bundle['entry'];
  if (!Array.isArray(raw)) throw new GatewayError('invalid_body', { reasons: ['batch.entry'] });
  if (raw.length > options.maxEntries) throw new GatewayError('payload_too_large', { reasons: ['batch.too-many-entries'] });

  const summary = emptySummary();
  // The entries' own decisions go into their answers; the Bundle's record keeps the Bundle's decision.
  const perEntry: InteractionContext = { ...ic, onDecided: undefined };
  const results = type === 'batch' ? await runBatch(perEntry, options, raw) : await runTransaction(perEntry, options, raw);
  const entries = results.map((r, i) => {
    if ('outcome' in r) {
      if (r.outcome.summary) mergeSummary(summary, r.outcome.summary);
      summary.protectionChange ||= r.outcome.decision.obligations.audit?.protection_change === true;
      summary.breakGlass ||= r.outcome.decision.obligations.audit?.break_glass === true;
      return entryOf(r.outcome, options.links);
    }
    summary.withheld++;
    listRef(summary, 'withheldRefs', r.ref ?? `entry/${i}`);
    for (const reason of [...r.error.reasons, ...r.error.auditReasons]) summary.reasons.add(reason);
    return errorEntry(r.error);
  });
  return { body: { resourceType: 'Bundle', type: `${type}-response`, ...(entries.length ? { entry: entries } : {}) }, summary };
}

type EntryResult = { readonly outcome: Outcome } | { readonly error: GatewayError; readonly ref: string | null };

interface ParsedEntry {
  readonly request: FhirRequest;
  readonly body: ReturnType<typeof entryBody>;
  readonly conditions: Conditions;
  readonly fullUrl: string | null;
}

async function runBatch(ic: InteractionContext, options: BatchOptions, raw: readonly unknown[]): Promise<EntryResult[]> {
  const results: EntryResult[] = [];
  for (const item of raw) {
    let ref: string | null = null;
    try {
      const entry = parseEntry(item, options);
      ref = refOf(entry.request);
      results.push({ outcome: await runInteraction(ic, entry.request, entry.body, entry.conditions) });
    } catch (err) {
      results.push({ error: asGatewayError(err), ref });
    }
  }
  return results;
}

async function runTransaction(ic: InteractionContext, options: BatchOptions, raw: readonly unknown[]): Promise<EntryResult[]> {
  // Parsed first: a malformed entry refuses the transaction before anything is looked up.
  const parsed = raw.map((item) => parseEntry(item, options));
  const tx = new UpstreamTransaction(ic.upstream, parsed.length, options.maxResponseBytes);
  const settled = await Promise.allSettled(
    parsed.map(async (entry, i) => {
      try {
        const outcome = await runInteraction({ ...ic, upstream: tx.portFor(i, entry.fullUrl) }, entry.request, entry.body, entry.conditions);
        tx.done(i, null);
        return outcome;
      } catch (err) {
        tx.done(i, asGatewayError(err));
        throw err;
      }
    }),
  );
  const errors = settled.flatMap((s) => (s.status === 'rejected' ? [asGatewayError(s.reason)] : []));
  const refusal = errors.find((e) => !(e instanceof TransactionAborted));
  if (refusal !== undefined) {
    throw new GatewayError(refusal.code, { reasons: ['transaction.entry-refused', ...refusal.reasons], auditReasons: refusal.auditReasons, bearer: refusal.bearer });
  }
  if (errors.length > 0) throw tx.failure ?? (errors[0] as GatewayError);
  return settled.map((s) => ({ outcome: (s as PromiseFulfilledResult<Outcome>).value }));
}

/** A transaction that was not sent because another entry was refused. */
class TransactionAborted extends GatewayError {
  constructor() {
    super('invalid_request', { reasons: ['transaction.aborted'] });
  }
}

/**
 * Collects the writes of a transaction's entries and sends them as one upstream transaction once
 * every entry has asked to write, asked to read (reads wait for the transaction) or ended. If any
 * entry ended in a refusal, nothing is sent.
 */
class UpstreamTransaction {
  private readonly writes = new Map<number, { request: UpstreamRequest; resolve: (r: UpstreamResponse) => void; reject: (e: unknown) => void }>();
  private readonly waiting = new Set<number>();
  private readonly ended = new Set<number>();
  private refused = false;
  private sending: Promise<void> | null = null;
  private readonly sent: Promise<void>;
  private markSent!: () => void;
  /** Why the upstream transaction failed (its status, an unreadable answer); null while it has not. */
  failure: GatewayError | null = null;

  constructor(
    private readonly upstream: UpstreamPort,
    private readonly size: number,
    private readonly maxResponseBytes: number,
  ) {
    this.sent = new Promise((resolve) => (this.markSent = resolve));
  }

  portFor(index: number, fullUrl: string | null): UpstreamPort {
    return {
      call: (request) => {
        if (this.sending !== null || request.method === 'GET') {
          this.waiting.add(index);
          this.maybeSend();
          return this.sent.then(() => {
            if (this.refused || this.failure) throw new TransactionAborted();
            return this.upstream.call(request);
          });
        }
        if (this.writes.has(index)) return Promise.reject(new GatewayError('internal', { reasons: ['transaction.second-write'] }));
        return new Promise<UpstreamResponse>((resolve, reject) => {
          this.writes.set(index, { request: fullUrl ? { ...request, fullUrl } : request, resolve, reject });
          this.maybeSend();
        });
      },
    };
  }

  done(index: number, error: GatewayError | null): void {
    if (error !== null && !(error instanceof TransactionAborted)) this.refused = true;
    this.ended.add(index);
    this.waiting.delete(index);
    this.maybeSend();
  }

  private maybeSend(): void {
    if (this.sending !== null) return;
    if (this.refused) {
      this.sending = Promise.resolve();
      for (const w of this.writes.values()) w.reject(new TransactionAborted());
      this.markSent();
      return;
    }
    const ready = new Set([...this.writes.keys(), ...this.waiting, ...this.ended]);
    if (ready.size < this.size) return;
    this.sending = this.send().finally(() => this.markSent());
  }

  private async send(): Promise<void> {
    const writes = [...this.writes.entries()].sort(([a], [b]) => a - b);
    if (writes.length === 0) return;
    const entries = writes.map(([, w]) => upstreamEntry(w.request));
    let answered: unknown[];
    try {
      const upstream = await this.upstream.call({
        method: 'POST',
        path: '/',
        payload: { bytes: Buffer.from(JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries })), contentType: 'application/fhir+json' },
        ifMatch: null,
        prefer: null,
      });
      const body = (await answerBody(upstream, this.maxResponseBytes)) as JsonObject | null;
      const list = body?.['entry'];
      if (body?.['resourceType'] !== 'Bundle' || body['type'] !== 'transaction-response' || !Array.isArray(list) || list.length !== entries.length) {
        throw new GatewayError('upstream_bad_response', { reasons: ['upstream.batch-response'] });
      }
      answered = list;
    } catch (err) {
      this.failure = asGatewayError(err);
      for (const [, w] of writes) w.reject(new TransactionAborted());
      return;
    }
    writes.forEach(([, w], i) => {
      try {
        w.resolve(asUpstreamResponse(answered[i]));
      } catch (err) {
        w.reject(err);
      }
    });
  }
}

/** One entry of the upstream transaction, rebuilt from the entry's canonical upstream request. */
function upstreamEntry(r: UpstreamRequest): JsonObject {
  const request: JsonObject = { method: r.method, url: r.path.slice(1) };
  if (r.ifMatch !== null) request['ifMatch'] = r.ifMatch;
  const out: JsonObject = { request };
  if (r.fullUrl) out['fullUrl'] = r.fullUrl;
  if (r.payload?.contentType === 'application/json-patch+json') {
    out['resource'] = { resourceType: 'Binary', contentType: 'application/json-patch+json', data: r.payload.bytes.toString('base64') };
  } else if (r.payload) {
    out['resource'] = JSON.parse(r.payload.bytes.toString('utf8')) as unknown;
  }
  return out;
}

/** An entry of the upstream's transaction-response, as the answer to that entry's own request. */
function asUpstreamResponse(answer: unknown): UpstreamResponse {
  if (typeof answer !== 'object' || answer === null) throw new GatewayError('upstream_bad_response', { reasons: ['upstream.bundle-entry'] });
  const entry = answer as JsonObject;
  const response = (entry['response'] ?? {}) as JsonObject;
  const status = Number(String(response['status'] ?? '').slice(0, 3));
  const headers: Record<string, string> = {};
  if (typeof response['etag'] === 'string') headers['etag'] = response['etag'];
  if (typeof response['location'] === 'string') headers['location'] = response['location'];
  if (typeof response['lastModified'] === 'string') headers['last-modified'] = response['lastModified'];
  const resource = entry['resource'];
  headers['content-type'] = 'application/fhir+json';
  return { status: Number.isInteger(status) && status >= 100 ? status : 502, headers, body: resource === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(resource)) };
}

function parseEntry(raw: unknown, options: BatchOptions): ParsedEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new GatewayError('invalid_body', { reasons: ['batch.entry'] });
  const entry = raw as JsonObject;
  const req = entry['request'] as { method?: unknown; url?: unknown; ifMatch?: unknown; ifNoneExist?: unknown; ifNoneMatch?: unknown; ifModifiedSince?: unknown } | undefined;
  if (typeof req?.method !== 'string' || typeof req.url !== 'string') throw new GatewayError('invalid_body', { reasons: ['batch.entry-request'] });
  let request = classify(req.method, `${options.classifyOptions.basePath}/${relativeUrl(req.url, options.links)}`, options.classifyOptions);
  if (request.interaction === 'batch') throw new GatewayError('invalid_request', { reasons: ['batch.nested'] });
  if (request.operation === 'export' || request.operation === 'bulk-status' || request.operation === 'bulk-file') throw new GatewayError('invalid_request', { reasons: ['batch.bulk-data'] });
  if (typeof req.ifNoneExist === 'string') request = withIfNoneExist(request, req.ifNoneExist);
  const conditions: Conditions = {
    ...(typeof req.ifMatch === 'string' ? { ifMatch: req.ifMatch } : {}),
    ...(typeof req.ifNoneMatch === 'string' ? { ifNoneMatch: req.ifNoneMatch } : {}),
    ...(typeof req.ifModifiedSince === 'string' ? { ifModifiedSince: req.ifModifiedSince } : {}),
  };
  // A transaction's urn:uuid fullUrls tie its entries together; nothing else is copied from the client.
  const fullUrl = typeof entry['fullUrl'] === 'string' && /^urn:uuid:[0-9a-f-]{36}$/i.test(entry['fullUrl']) ? entry['fullUrl'] : null;
  return { request, body: entryBody(request, entry['resource']), conditions, fullUrl };
}

/** Entry URLs are relative to the base; an absolute one must name the gateway's own base. */
function relativeUrl(url: string, links: LinkRewriter): string {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(url)) return url.replace(/^\//, '');
  if (url.startsWith(`${links.publicBase}/`)) return url.slice(links.publicBase.length + 1);
  throw new GatewayError('invalid_request', { reasons: ['batch.entry-url'] });
}

function refOf(request: FhirRequest): string | null {
  return request.type !== null && request.id !== null ? `${request.type}/${request.id}` : null;
}

function entryOf(outcome: Outcome, links: LinkRewriter): JsonObject {
  const response: JsonObject = { status: statusLine(outcome.status) };
  if (outcome.headers['etag']) response['etag'] = outcome.headers['etag'];
  if (outcome.headers['last-modified']) response['lastModified'] = new Date(outcome.headers['last-modified']).toISOString();
  if (outcome.headers['location']) response['location'] = outcome.headers['location'];
  const out: JsonObject = { response };
  if (outcome.body !== null && outcome.body !== undefined) {
    out['resource'] = outcome.body;
    const resource = outcome.body as { resourceType?: unknown; id?: unknown };
    if (typeof resource.id === 'string' && typeof resource.resourceType === 'string' && resource.resourceType !== 'Bundle') out['fullUrl'] = `${links.publicBase}/${resource.resourceType}/${resource.id}`;
  }
  return out;
}

function errorEntry(error: GatewayError): JsonObject {
  return { response: { status: statusLine(error.status), outcome: operationOutcomeFor(error) } };
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? ''}`.trim();
}
