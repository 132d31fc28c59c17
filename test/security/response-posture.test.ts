/**
 * Security posture of every answer (issue 10, point 7): whatever the path, method or outcome, and
 * whether the answer comes from the pipeline, the routes beside it, the last-resort handler or the
 * HTTP parser's error hook, it carries `Cache-Control: no-store` and `X-Content-Type-Options:
 * nosniff` and no `X-Powered-By`; and no error body carries a stack trace, a file path, the
 * upstream's address or anything from the token that was presented.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeJwt } from 'jose';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import type { Authenticator } from '../../src/auth/authenticate.js';
import { rawExchange } from '../support/raw-http.js';
import { startStack, tokensFor, type Stack } from '../support/stack.js';

const [alba, bruno] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];

/** Traces of internals: a stack frame, a source file, Node internals, an error's own text. */
const INTERNALS = /\bat \S+ \(|\bat (file|node):|\.(ts|js|mjs):\d+|node:internal|\b(Type|Range|Syntax|Reference)?Error: |\/src\/|\/node_modules\//;

interface Answer {
  readonly name: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

let stack: Stack;
let origin: string;
let host: string;
let token: string;
const answers: Answer[] = [];

async function viaFetch(name: string, path: string, init: RequestInit & { token?: string } = {}): Promise<void> {
  const res = await stack.fetch(path.startsWith('/') ? `${origin}${path}` : path, init);
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  answers.push({ name, status: res.status, headers, body: await res.text() });
}

async function viaSocket(name: string, bytes: string): Promise<void> {
  const { responses } = await rawExchange(origin, bytes, 300);
  const res = responses[0]!;
  answers.push({ name, status: res.status, headers: res.headers, body: res.body });
}

beforeAll(async () => {
  stack = await startStack({ config: (c) => ({ ...c, limits: { maxRequestBodyBytes: 2048 } }) });
  origin = new URL(stack.base).origin;
  host = new URL(stack.base).host;
  token = await tokensFor(stack.issuer).patient(alba.id);
  const [h, p] = token.split('.') as [string, string, string];
  const tampered = `${h}.${p}.${'A'.repeat(86)}`;

  await viaFetch('a FHIR read', `Patient/${alba.id}`, { token });
  await viaFetch('a FHIR search', 'Observation', { token });
  await viaFetch('metadata', 'metadata');
  await viaFetch('smart-configuration', '.well-known/smart-configuration');
  await viaFetch('healthz', '/healthz');
  await viaFetch('readyz', '/readyz');
  await viaFetch('metrics', '/metrics');
  await viaFetch('401 without a token', `Patient/${alba.id}`);
  await viaFetch('401 with a tampered token', `Patient/${alba.id}`, { token: tampered });
  await viaFetch('401 with garbage in the token', `Patient/${alba.id}`, { headers: { authorization: `Bearer ${token.slice(0, 40)}<script>"'` } });
  await viaFetch('403 another patient', `Patient/${bruno.id}`, { token });
  await viaFetch('403 insufficient scope', 'Observation', { method: 'POST', token, headers: { 'content-type': 'application/fhir+json' }, body: '{"resourceType":"Observation"}' });
  await viaFetch('404 outside the base', '/etc/passwd');
  await viaFetch('404 a withheld resource', `Observation/obs-${bruno.id}-0`, { token });
  await viaFetch('400 a non-canonical path', 'Patient/..%2F..%2Fetc', { token });
  await viaFetch('400 a bad parameter', 'Patient?name=%zz', { token });
  await viaFetch('406 XML', `Patient/${alba.id}`, { token, headers: { accept: 'application/fhir+xml' } });
  await viaFetch('413 a large body', 'Observation', { method: 'POST', token, headers: { 'content-type': 'application/fhir+json' }, body: 'x'.repeat(4096) });
  await viaFetch('415 a form body on a create', 'Observation', { method: 'POST', token, headers: { 'content-type': 'text/plain' }, body: 'x' });
  await viaSocket('405 TRACE', `TRACE /fhir/Patient HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  await viaSocket('405 CONNECT', `CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n`);
  await viaSocket('400 smuggling', `POST /fhir/Patient/_search HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
  await viaSocket('431 oversized headers', `GET /fhir/Patient HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
});
afterAll(async () => {
  await stack.close();
});

describe('every answer', () => {
  test('the set covers successes and errors from every layer', () => {
    const statuses = new Set(answers.map((a) => a.status));
    for (const s of [200, 400, 401, 403, 404, 405, 406, 413, 415, 431]) expect(statuses).toContain(s);
  });

  test('carries Cache-Control: no-store and X-Content-Type-Options: nosniff, and no X-Powered-By', () => {
    for (const a of answers) {
      expect({ name: a.name, cacheControl: a.headers['cache-control'], nosniff: a.headers['x-content-type-options'], poweredBy: a.headers['x-powered-by'] }).toEqual({
        name: a.name,
        cacheControl: 'no-store',
        nosniff: 'nosniff',
        poweredBy: undefined,
      });
    }
  });
});

describe('error bodies', () => {
  const errors = () => answers.filter((a) => a.status >= 400);
  const claims = () => decodeJwt(token);

  test('are OperationOutcomes of the gateway, with nothing of its internals', () => {
    expect(errors().length).toBeGreaterThan(10);
    for (const a of errors()) {
      expect({ name: a.name, type: JSON.parse(a.body).resourceType }).toEqual({ name: a.name, type: 'OperationOutcome' });
      expect({ name: a.name, internals: INTERNALS.exec(a.body)?.[0] ?? null }).toEqual({ name: a.name, internals: null });
    }
  });

  test("never name the upstream's address", () => {
    const upstream = new URL(stack.fhir.baseUrl);
    for (const a of answers) {
      expect(a.body).not.toContain(upstream.host);
      for (const v of Object.values(a.headers)) expect(v).not.toContain(upstream.host);
    }
  });

  test('never carry the token or anything read from it', () => {
    const [h, p, s] = token.split('.') as [string, string, string];
    const c = claims();
    const fromToken = [h, p, s, token.slice(0, 40), String(c.jti), String(c.sub), alba.id];
    for (const a of errors()) for (const fragment of fromToken) expect({ name: a.name, leaked: a.body.includes(fragment) ? fragment : null }).toEqual({ name: a.name, leaked: null });
  });
});

describe('an unexpected exception inside the gateway', () => {
  test('is a generic 500 OperationOutcome: no message, no stack, no data it carried', async () => {
    const secret = `token=${'eyJ'.padEnd(40, 'x')} patient ${bruno.family} at db01.internal:5432`;
    const throwing = (value: unknown): Authenticator => ({
      authenticate: () => Promise.reject(value),
      isReady: () => true,
      warmUp: () => Promise.resolve(),
    });
    for (const value of [new TypeError(`cannot read ${secret}`), `a string ${secret}`, { message: secret, stack: `Error: ${secret}\n    at x (/srv/app.js:1:1)` }]) {
      const local = await startStack({ start: { authenticator: throwing(value) } });
      try {
        const res = await local.fetch(`Patient/${alba.id}`, { token });
        const text = await res.text();
        expect(res.status).toBe(500);
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(JSON.parse(text).issue[0].details.coding).toEqual([{ system: expect.any(String), code: 'internal' }]);
        expect(INTERNALS.test(text)).toBe(false);
        for (const fragment of ['eyJ', bruno.family, 'db01', 'cannot read', 'a string']) expect(text).not.toContain(fragment);
      } finally {
        await local.close();
      }
    }
  });
});
