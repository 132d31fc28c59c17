/**
 * The real stack for integration tests: Medplum's FHIR engine over HTTP with the synthetic
 * patients, a token issuer serving its JWKS on loopback, and the gateway listening on a real port
 * in front of them, writing audit records to a file the test reads back.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { RequestRecord } from '../../src/audit/record.js';
import { buildConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startFhirServer, type FhirServerOptions, type RunningFhirServer } from '../../src/devkit/fhir-server.js';
import { freePort } from '../../src/devkit/ports.js';
import { seedCrossPatientLinks, seedSyntheticData, type SeedOptions } from '../../src/devkit/synthetic-data.js';
import { startTokenIssuer, type TokenIssuer } from '../../src/devkit/token-issuer.js';
import { startGateway, type RunningGateway, type StartOptions } from '../../src/server.js';
import { testLogger } from './logs.js';
import { parseRecords, requestsOnly } from './schemas.js';

export interface Stack {
  readonly gateway: RunningGateway;
  readonly fhir: RunningFhirServer;
  readonly issuer: TokenIssuer;
  /** Public FHIR base of the gateway, e.g. http://127.0.0.1:PORT/fhir */
  readonly base: string;
  readonly auditFile: string;
  /** Request records written so far (checkpoints left out), each validated against the published schema. */
  auditRecords(): RequestRecord[];
  /** GET/POST against the gateway with an optional bearer token. */
  fetch(pathOrUrl: string, init?: RequestInit & { token?: string }): Promise<Response>;
  close(): Promise<void>;
}

export interface StackOptions {
  readonly seed?: SeedOptions;
  /** Also seed the cross-patient links (seedCrossPatientLinks). */
  readonly crossLinks?: boolean;
  readonly fhir?: FhirServerOptions;
  /** Extra or replaced config keys. */
  readonly config?: (defaults: ConfigInput) => ConfigInput;
  /** The gateway's port (tests that configure an authorization server for its base before it starts). */
  readonly port?: number;
  /** Environment the gateway reads secrets from (FHIRGW_ADMIN_TOKEN, introspection secrets). */
  readonly env?: NodeJS.ProcessEnv;
  /** Extra start options (captured stdout, environment). */
  readonly start?: StartOptions;
  /** Return before the gateway is ready (tests of an issuer that never answers). Default: wait. */
  readonly waitReady?: boolean;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const fhir = await startFhirServer(options.fhir);
  await seedSyntheticData(fhir.repo, options.seed);
  if (options.crossLinks) await seedCrossPatientLinks(fhir.repo);
  const port = options.port ?? (await freePort());
  const base = `http://127.0.0.1:${port}/fhir`;
  const issuer = await startTokenIssuer({ audience: base });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fhirgw-test-'));
  const auditFile = path.join(dir, 'audit.jsonl');
  const defaults: ConfigInput = {
    listen: { host: '127.0.0.1', port },
    publicBaseUrl: base,
    upstream: { url: fhir.baseUrl, timeoutMs: 5000 },
    auth: { issuer: issuer.issuer },
    audit: { sinks: [{ type: 'file', path: auditFile }] },
    log: { level: 'silent' },
  };
  const config = buildConfig(options.config ? options.config(defaults) : defaults, { env: {} });
  // Every test gateway logs at trace level into .tmp/test-logs; `npm run check:logs` scans them for PHI and tokens.
  const gateway = await startGateway(config, { logger: testLogger('stack'), env: options.env ?? {}, ...options.start });
  if (options.waitReady !== false) await gateway.ready;

  return {
    gateway,
    fhir,
    issuer,
    base,
    auditFile,
    auditRecords() {
      if (!existsSync(auditFile)) return [];
      // The sink appends while tests poll: a last line without its newline is a record still being
      // written, not a malformed one (every complete line is still parsed and validated).
      const text = readFileSync(auditFile, 'utf8');
      return requestsOnly(parseRecords(text.slice(0, text.lastIndexOf('\n') + 1)));
    },
    fetch(pathOrUrl, init = {}) {
      const { token, headers, ...rest } = init;
      const url = /^https?:/.test(pathOrUrl) ? pathOrUrl : `${base}/${pathOrUrl.replace(/^\//, '')}`;
      return fetch(url, { ...rest, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(headers as Record<string, string> | undefined) } });
    },
    async close() {
      await gateway.close();
      await issuer.close();
      await fhir.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Tokens for the standard test principals. */
export function tokensFor(issuer: TokenIssuer) {
  return {
    patient: (patientId: string, scope = 'launch/patient patient/*.rs') => issuer.mint({ sub: `Patient/${patientId}`, scope, patient: patientId, roles: ['patient'] }),
    clinician: (scope = 'user/*.rs') => issuer.mint({ sub: 'Practitioner/prac-hopper', scope, roles: ['clinician'], purpose_of_use: ['TREAT'] }),
    researcher: (scope = 'user/Patient.rs user/Observation.rs') => issuer.mint({ sub: 'researcher-1', scope, roles: ['researcher'], purpose_of_use: ['HRESCH'] }),
  };
}

/** Waits until the audit file holds `n` records (the file sink writes asynchronously). */
export async function waitForAudit(stack: Stack, n: number, timeoutMs = 3000): Promise<RequestRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const records = stack.auditRecords();
    if (records.length >= n || Date.now() > deadline) return records;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A request sent exactly as written (fetch would normalise `..` and `//` before sending). */
export function rawRequest(origin: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: import('node:http').IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(origin);
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A response body as loosely typed JSON: tests assert on its shape. */
export async function jsonOf(res: Response): Promise<any> {
  return res.json();
}

/** Waits for the audit record of one request (the file sink writes asynchronously). */
export async function auditRecordOf(stack: Stack, requestId: string, timeoutMs = 3000): Promise<RequestRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = stack.auditRecords().find((r) => r.requestId === requestId);
    if (record) return record;
    if (Date.now() > deadline) throw new Error(`no audit record for request ${requestId}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A response's headers as pairs (forEach: some test dependencies bring DOM typings without iterables). */
export function headerPairs(headers: Headers): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  headers.forEach((value, name) => pairs.push([name, value]));
  return pairs;
}
