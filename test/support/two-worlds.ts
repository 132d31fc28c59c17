/**
 * Two upstream worlds behind two gateways, for the noninterference property (issue 15): the same
 * configuration, keys and token issuer, one Medplum engine each, seeded from one seed except for
 * data a given principal may not read. A request is sent with the same token to both gateways and
 * the two answers (status, headers, body, following `next` links) and the two upstreams' writes are
 * compared after normalising what legitimately differs between any two requests: request ids, dates
 * of the answer, and the sealed bytes of paging cursors (their length is kept and compared).
 *
 * Both gateways have the same public base URL, so absolute URLs in answers compare as they are.
 * The engines are deterministic (FhirServerOptions.deterministic): versions, `lastUpdated` and
 * generated ids depend only on the resource, never on what else a world holds.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MemoryRepository } from '@medplum/fhir-router';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startFhirServer, type RunningFhirServer } from '../../src/devkit/fhir-server.js';
import { freePort } from '../../src/devkit/ports.js';
import { startTokenIssuer, type TokenIssuer } from '../../src/devkit/token-issuer.js';
import { startGateway, type RunningGateway } from '../../src/server.js';
import { testLogger } from './logs.js';

export const PUBLIC_BASE = 'http://gateway.test/fhir';

export type WorldName = 'a' | 'b';

export interface World {
  readonly name: WorldName;
  readonly fhir: RunningFhirServer;
  readonly gateway: RunningGateway;
  /** Where this world's gateway listens (its answers name PUBLIC_BASE). */
  readonly origin: string;
}

export interface WorldRequest {
  readonly method: string;
  /** Relative to the FHIR base, with its query. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/** One answer, normalised for comparison. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export interface Exchange {
  /** The answer, then each page reached by following `next`. */
  readonly answers: Answer[];
  /** Writes the gateway sent upstream while answering: method, URL and body. */
  readonly upstreamWrites: string[];
}

export interface WorldPair {
  readonly issuer: TokenIssuer;
  readonly a: World;
  readonly b: World;
  /** Sends the request to both worlds (concurrently: they share nothing). */
  exchange(request: WorldRequest, token: string, followPages: number): Promise<[Exchange, Exchange]>;
  close(): Promise<void>;
}

export interface WorldPairOptions {
  /** Seeds one world's engine; called once per world with its name. */
  readonly seed: (repo: MemoryRepository, world: WorldName) => Promise<void>;
  readonly config?: (defaults: ConfigInput) => ConfigInput;
}

/** Headers that differ between any two requests, whatever the data. */
const VOLATILE_HEADERS = new Set(['date', 'x-request-id', 'connection', 'keep-alive', 'transfer-encoding']);

export async function startWorldPair(options: WorldPairOptions): Promise<WorldPair> {
  const issuer = await startTokenIssuer({ audience: PUBLIC_BASE });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-worlds-'));
  // Keys replicas share: both worlds seal cursors and pseudonymise with the same keys, as two replicas would.
  const env = {
    FHIRGW_CURSOR_KEY: randomBytes(32).toString('base64'),
    FHIRGW_PSEUDONYM_KEY: randomBytes(32).toString('base64'),
    FHIRGW_BULK_LINK_KEY: randomBytes(32).toString('base64'),
  };
  const start = async (name: WorldName): Promise<World> => {
    const fhir = await startFhirServer({ deterministic: true });
    await options.seed(fhir.repo, name);
    const port = await freePort();
    const defaults: ConfigInput = {
      listen: { host: '127.0.0.1', port },
      publicBaseUrl: PUBLIC_BASE,
      upstream: { url: fhir.baseUrl, timeoutMs: 10_000 },
      auth: { issuer: issuer.issuer },
      audit: { sinks: [{ type: 'file', path: path.join(dir, `audit-${name}.jsonl`) }] },
      log: { level: 'silent' },
    };
    const config = buildConfig(options.config ? options.config(defaults) : defaults, { env: {} });
    const gateway = await startGateway(config, { logger: testLogger(`world-${name}`), env });
    await gateway.ready;
    return { name, fhir, gateway, origin: `http://127.0.0.1:${port}` };
  };
  const a = await start('a');
  const b = await start('b');

  return {
    issuer,
    a,
    b,
    exchange: (request, token, followPages) => Promise.all([exchangeWith(a, request, token, followPages), exchangeWith(b, request, token, followPages)]),
    async close() {
      for (const world of [a, b]) {
        await world.gateway.close();
        await world.fhir.close();
      }
      await issuer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function exchangeWith(world: World, request: WorldRequest, token: string, followPages: number): Promise<Exchange> {
  const before = world.fhir.requests.length;
  const answers: Answer[] = [];
  let next: string | null = null;
  const first = await send(world, request.method, `${PUBLIC_BASE}/${request.path}`, token, request.headers, request.body);
  answers.push(first.answer);
  next = first.next;
  for (let page = 0; page < followPages && next !== null; page++) {
    const followed = await send(world, 'GET', next, token);
    answers.push(followed.answer);
    next = followed.next;
  }
  const upstreamWrites = world.fhir.requests
    .slice(before)
    .filter((r) => r.method !== 'GET')
    .map((r) => `${r.method} ${r.url}\n${r.body ?? ''}`);
  return { answers, upstreamWrites };
}

/** Sends to the world's listener a request addressed to the public base. */
async function send(world: World, method: string, publicUrl: string, token: string, headers: Record<string, string> = {}, body?: string): Promise<{ answer: Answer; next: string | null }> {
  if (!publicUrl.startsWith(PUBLIC_BASE)) throw new Error(`not a gateway URL: ${publicUrl}`);
  const res = await fetch(`${world.origin}/fhir${publicUrl.slice(PUBLIC_BASE.length)}`, {
    method,
    headers: { ...headers, authorization: `Bearer ${token}` },
    ...(body === undefined ? {} : { body }),
    redirect: 'manual',
  });
  const text = await res.text();
  const answerHeaders: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (!VOLATILE_HEADERS.has(name)) answerHeaders[name] = normaliseText(value);
  });
  let parsed: unknown = null;
  let next: string | null = null;
  if (text !== '') {
    try {
      const json = JSON.parse(text) as Record<string, unknown>;
      next = nextLink(json);
      parsed = withoutAnswerIds(JSON.parse(normaliseText(text)));
    } catch {
      parsed = { unparsed: normaliseText(text) };
    }
  }
  return { answer: { status: res.status, headers: answerHeaders, body: parsed }, next };
}

/** Cursor bytes are sealed with a random nonce: compared by length only. */
export function normaliseText(text: string): string {
  return text.replace(/_gwcursor=([A-Za-z0-9_%-]+)/g, (_, cursor: string) => `_gwcursor=<cursor of ${cursor.length}>`);
}

/**
 * Bundles and OperationOutcomes are made for each answer, with a fresh id (and a Bundle with the
 * time it was made): those are left out, at any depth (a batch-response entry's outcome).
 */
function withoutAnswerIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutAnswerIds);
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  const generated = object['resourceType'] === 'Bundle' || object['resourceType'] === 'OperationOutcome';
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(object)) {
    if (generated && key === 'id') continue;
    if (object['resourceType'] === 'Bundle' && key === 'meta') {
      const { lastUpdated: _made, ...meta } = v as Record<string, unknown>;
      if (Object.keys(meta).length > 0) out[key] = meta;
      continue;
    }
    out[key] = withoutAnswerIds(v);
  }
  return out;
}

function nextLink(body: Record<string, unknown>): string | null {
  if (body['resourceType'] !== 'Bundle' || !Array.isArray(body['link'])) return null;
  const next = (body['link'] as Array<{ relation?: string; url?: string }>).find((l) => l.relation === 'next');
  return typeof next?.url === 'string' ? next.url : null;
}
