/** Helpers for audit tests: sample records and trails sealed with a test key. */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { GENESIS, seal, type ChainKey } from '../../src/audit/chain.js';
import { AUDIT_SCHEMA_VERSION, type AuditRecord, type UnsealedRequestRecord } from '../../src/audit/record.js';

export const TEST_KEY = Buffer.from('test-audit-hmac-key-0123456789abcdef', 'utf8');

export function sampleRecord(overrides: Partial<UnsealedRequestRecord> = {}): UnsealedRequestRecord {
  return {
    schemaVersion: AUDIT_SCHEMA_VERSION,
    kind: 'request',
    decisionId: randomUUID(),
    requestId: randomUUID(),
    time: new Date('2026-11-24T10:00:00.000Z').toISOString(),
    client: { address: '10.0.0.7' },
    principal: { iss: 'https://idp.example', sub: 'Practitioner/p1', client_id: 'app-1', jti: 'jti-1', roles: ['clinician'], purpose_of_use: ['TREAT'], patient: null, fhir_user: 'Practitioner/p1', scopes: ['user/*.rs'] },
    request: { method: 'GET', interaction: 'read', type: 'Patient', id: 'pat-1', version: null, compartment: null, operation: null, params: [] },
    outcome: { decision: 'allow', reasons: ['scope.ok'], error: null, status: 200, breakGlass: false },
    entries: { returned: 1, withheld: 0, redacted: 0, withheldRefs: [], redactedRefs: [] },
    patients: { released: [{ id: 'pat-1', types: { Patient: 1 } }], releasedCount: 1, withheld: [], withheldCount: 0, changed: [], changedCount: 0 },
    policyRevision: 'rev-1',
    durationMs: 1.5,
    ...overrides,
  };
}

/** A chain of `n` sealed request records of one instance. */
export function sealedTrail(n: number, key: ChainKey = TEST_KEY, instance = 'inst-a'): AuditRecord[] {
  const out: AuditRecord[] = [];
  let tip = { seq: 0, hash: GENESIS };
  for (let i = 0; i < n; i++) {
    const r = seal(sampleRecord(), instance, tip, key);
    tip = { seq: r.chain.seq, hash: r.chain.hash };
    out.push(r);
  }
  return out;
}

export const asEntries = (records: readonly object[]) => records.map((r, i) => ({ position: `line ${i + 1}`, text: JSON.stringify(r) }));

/** A key file in a temporary directory, as an operator would mount a secret. */
export function writeKeyFile(dir: string, key: Buffer = TEST_KEY): string {
  const file = path.join(dir, 'audit-hmac-key');
  writeFileSync(file, key.toString('utf8'), { mode: 0o600 });
  return file;
}

export interface Answer {
  readonly status: number;
  readonly requestId: string;
}

/**
 * Sends `n` requests, `concurrency` at a time; `each` builds the i-th request. Calls `after(done)`
 * after every answer so a test can inject a fault mid-burst. Requests that get no answer (the
 * gateway was killed) are left out of the result.
 */
export async function burst(n: number, concurrency: number, each: (i: number) => Promise<Response>, after: (done: number) => Promise<void> | void = () => {}): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      try {
        const res = await each(i);
        await res.arrayBuffer();
        answers.push({ status: res.status, requestId: res.headers.get('x-request-id') ?? '' });
      } catch {
        // no answer
      }
      await after(++done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return answers;
}

/** A sink's server that a test can crash and bring back. */
export interface Killable {
  kill(): Promise<void>;
  restart(): Promise<void>;
}

/**
 * A burst of `n` reads (a Patient read and a search, alternating; 12 at a time) during which the
 * server is killed after the 60th answer and restarted after the 160th. Returns the answers and
 * when the outage happened (the test asserts both).
 */
export async function burstThroughOutage(n: number, fetchAs: (path: string) => Promise<Response>, patientId: string, server: Killable): Promise<{ answers: Answer[]; outage: [number, number] }> {
  const outage: [number, number] = [-1, -1];
  const answers = await burst(n, 12, (i) => fetchAs(i % 2 === 0 ? `Patient/${patientId}` : 'Observation?_count=5'), async (done) => {
    if (done === 60) {
      outage[0] = done;
      await server.kill();
    }
    if (done === 160) {
      outage[1] = done;
      await server.restart();
    }
  });
  return { answers, outage };
}

/** A loopback HTTP peer standing in for a SIEM: collects POSTed JSON arrays; can be told to refuse. */
export interface Receiver {
  readonly url: string;
  /** Every record received, in arrival order, duplicates included. */
  readonly received: AuditRecord[];
  /** Bodies received, as text (for leak checks). */
  readonly raw: string[];
  refuse: boolean;
  close(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  const receiver = {
    url: '',
    received: [] as AuditRecord[],
    raw: [] as string[],
    refuse: false,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (receiver.refuse) {
        res.writeHead(503).end();
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      receiver.raw.push(text);
      receiver.received.push(...(JSON.parse(text) as AuditRecord[]));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;
  receiver.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return receiver;
}

/** One sample of a metric from the gateway's /metrics (0 when absent). */
export async function metricValue(origin: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',');
    if (wanted.every((w) => have.includes(w))) return Number(m[3]);
  }
  return 0;
}

export async function until<T>(probe: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
