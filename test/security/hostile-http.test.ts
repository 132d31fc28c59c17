/**
 * Hostile HTTP against the real stack, byte for byte on bare sockets: request smuggling shapes,
 * oversized and malformed input, methods and headers a proxy must not honour, and requests aimed
 * at other hosts. Each is answered by the gateway itself with an OperationOutcome, and none of them
 * reaches the upstream in a form the gateway did not build (Medplum records every request it gets).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { rawExchange, type RawResponse } from '../support/raw-http.js';
import { auditRecordOf, jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';

const [alba, bruno] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];
const BODY_LIMIT = 64 * 1024;

let stack: Stack;
let origin: string;
let host: string;
let clinician: string;
let albaToken: string;

beforeAll(async () => {
  stack = await startStack({ config: (c) => ({ ...c, limits: { maxRequestBodyBytes: BODY_LIMIT } }) });
  origin = new URL(stack.base).origin;
  host = new URL(stack.base).host;
  clinician = await tokensFor(stack.issuer).clinician('user/*.cruds');
  albaToken = await tokensFor(stack.issuer).patient(alba.id);
});
afterAll(async () => {
  await stack.close();
});

const upstreamCount = () => stack.fhir.requests.length;
const codesOf = (r: RawResponse): string[] => JSON.parse(r.body).issue[0].details.coding.map((c: { code: string }) => c.code);

/** One request's worth of raw bytes, followed by a smuggled second request for another patient. */
const smuggled = `GET /fhir/Patient/${bruno.id} HTTP/1.1\r\nHost: HOST\r\nAuthorization: Bearer CLINICIAN\r\n\r\n`;

/**
 * The gateway answered exactly once, itself, with an OperationOutcome, and forwarded nothing; unless
 * `keepsConnection`, it closed the connection (after a framing error nothing on it can be trusted).
 */
async function expectRefusedAtTheEdge(bytes: string, status: number, codes: string[], keepsConnection = false): Promise<RawResponse> {
  const before = upstreamCount();
  const exchange = await rawExchange(origin, bytes.replaceAll('CLINICIAN', clinician).replaceAll('HOST', host));
  expect(exchange.responses).toHaveLength(1);
  const [res] = exchange.responses as [RawResponse];
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
  expect(JSON.parse(res.body).resourceType).toBe('OperationOutcome');
  expect(codesOf(res)).toEqual(codes);
  if (!keepsConnection) expect(exchange.closed).toBe(true);
  expect(exchange.raw).not.toContain(bruno.family);
  expect(upstreamCount()).toBe(before);
  return res;
}

describe('request smuggling shapes (4): refused by the gateway, never forwarded, the connection closed', () => {
  const post = (headers: string, body: string) =>
    `POST /fhir/Patient/_search HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer CLINICIAN\r\nContent-Type: application/x-www-form-urlencoded\r\n${headers}\r\n${body}`;
  test.each([
    ['Content-Length with Transfer-Encoding (CL.TE)', post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${smuggled}`), 'http.framing'],
    ['Transfer-Encoding with Content-Length (TE.CL)', post('Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', `5c\r\n${smuggled.slice(0, 0x5c)}\r\n0\r\n\r\n`), 'http.framing'],
    ['two different Content-Lengths', post('Content-Length: 0\r\nContent-Length: 44\r\n', smuggled), 'http.framing'],
    ['two equal Content-Lengths', post('Content-Length: 0\r\nContent-Length: 0\r\n', smuggled), 'http.framing'],
    ['a Content-Length list', post('Content-Length: 0, 0\r\n', smuggled), 'http.framing'],
    ['an unknown transfer coding', post('Transfer-Encoding: xchunked\r\n', `0\r\n\r\n${smuggled}`), 'http.framing'],
    ['chunked not last', post('Transfer-Encoding: chunked, identity\r\n', `0\r\n\r\n${smuggled}`), 'http.framing'],
    ['Transfer-Encoding twice', post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', `0\r\n\r\n${smuggled}`), 'http.framing'],
    ['a bad chunk size', post('Transfer-Encoding: chunked\r\n', `zz\r\n${smuggled}\r\n0\r\n\r\n`), 'http.framing'],
    ['whitespace before the colon', post('Transfer-Encoding : chunked\r\n', `0\r\n\r\n${smuggled}`), 'http.malformed'],
    ['an obs-folded header', post('Content-Length: 0\r\nX-A: b\r\n c\r\n', smuggled), 'http.malformed'],
    ['a bare CR inside a header', post('Content-Length: 0\r\nX-A: b\rTransfer-Encoding: chunked\r\n', smuggled), 'http.malformed'],
  ])('%s: 400', async (_name, bytes, reason) => {
    await expectRefusedAtTheEdge(bytes, 400, ['invalid_request', reason]);
  });

  test('a bare LF as line end (HTTP/1.1 requires CRLF)', async () => {
    await expectRefusedAtTheEdge(`GET /fhir/Patient/${alba.id} HTTP/1.1\nHost: ${host}\nAuthorization: Bearer CLINICIAN\n\n`, 400, ['invalid_request', 'http.malformed']);
  });
});

describe('oversized input (4): the gateway answers 413/431 itself and forwards nothing', () => {
  test('headers over the limit: 431 with an OperationOutcome (not Node\'s empty answer)', async () => {
    const res = await expectRefusedAtTheEdge(`GET /fhir/Patient/${alba.id} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer CLINICIAN\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`, 431, ['headers_too_large']);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  test('a declared body over the limit is refused at once, unread, and the connection closed', async () => {
    const started = performance.now();
    // Declares 1 GiB and sends 1 KiB: an answer that waited for the body would never come.
    await expectRefusedAtTheEdge(
      `POST /fhir/Observation HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer CLINICIAN\r\nContent-Type: application/fhir+json\r\nContent-Length: ${2 ** 30}\r\n\r\n${'x'.repeat(1024)}`,
      413,
      ['payload_too_large'],
    );
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test('a chunked body that grows over the limit', async () => {
    const chunk = 'x'.repeat(16 * 1024);
    const chunks = Array.from({ length: 6 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('');
    await expectRefusedAtTheEdge(
      `POST /fhir/Observation HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer CLINICIAN\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`,
      413,
      ['payload_too_large'],
    );
  });

  const nested = (depth: number) => JSON.stringify({ resourceType: 'Basic', code: { text: 'x' }, extension: [{ url: 'urn:x', valueString: 'v' }] }).replace('"v"', `${'['.repeat(depth)}1${']'.repeat(depth)}`);
  test.each([30_000, 101])('a body nested %d deep: 400 body.too-deep, not a stack overflow', async (depth) => {
    const before = upstreamCount();
    const res = await stack.fetch('Basic', { method: 'POST', token: clinician, headers: { 'content-type': 'application/fhir+json' }, body: nested(depth) });
    expect(res.status).toBe(400);
    expect((await jsonOf(res)).issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['invalid_body', 'body.too-deep']);
    expect(upstreamCount()).toBe(before);
  });

  /** A valid Basic whose extensions nest `levels` deep: JSON depth 1 + 2 x levels (an array and an object per level). */
  const nestedExtensions = (levels: number): string => {
    let extension: unknown = [{ url: 'urn:x', valueString: 'leaf' }];
    for (let i = 1; i < levels; i++) extension = [{ url: 'urn:x', extension }];
    return JSON.stringify({ resourceType: 'Basic', code: { text: 'x' }, extension });
  };

  test('a valid body nested to the bound (depth 99 of 100) is created; one level more (101) is refused', async () => {
    const before = upstreamCount();
    const res = await stack.fetch('Basic', { method: 'POST', token: clinician, headers: { 'content-type': 'application/fhir+json' }, body: nestedExtensions(49) });
    expect(res.status).toBe(201);
    expect(upstreamCount()).toBeGreaterThan(before);
    const deeper = await stack.fetch('Basic', { method: 'POST', token: clinician, headers: { 'content-type': 'application/fhir+json' }, body: nestedExtensions(50) });
    expect(deeper.status).toBe(400);
    expect((await jsonOf(deeper)).issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['invalid_body', 'body.too-deep']);
  });
});

describe('malformed encodings and CRLF injection (4)', () => {
  test('invalid UTF-8 in a body', async () => {
    const body = Buffer.concat([Buffer.from('{"resourceType":"Basic","code":{"text":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}}')]);
    const res = await stack.fetch('Basic', { method: 'POST', token: clinician, headers: { 'content-type': 'application/fhir+json' }, body });
    expect(res.status).toBe(400);
    expect((await jsonOf(res)).issue[0].details.coding[1].code).toBe('body.utf8');
  });

  test.each([
    ['a truncated escape', 'Patient?name=%E0%A4%A', 'param.bad-encoding'],
    ['a non-hex escape', 'Patient?name=%zz', 'param.bad-encoding'],
    ['an escape of invalid UTF-8', 'Patient?name=%C3%28', 'param.bad-encoding'],
    ['an encoded CRLF with a header after it', 'Patient?name=x%0d%0aX-Injected:%20yes', 'param.control-character'],
    ['an encoded CRLF and a second request line', `Patient?name=x%0D%0A%0D%0AGET%20/fhir/Patient/${bruno.id}%20HTTP/1.1`, 'param.control-character'],
    ['an encoded NUL', 'Patient?name=x%00y', 'param.control-character'],
  ])('%s in a query: 400, nothing forwarded', async (_name, path, reason) => {
    const before = upstreamCount();
    const res = await stack.fetch(path, { token: clinician });
    expect(res.status).toBe(400);
    expect((await jsonOf(res)).issue[0].details.coding[1].code).toBe(reason);
    expect(upstreamCount()).toBe(before);
  });

  test.each([
    ['CR', `/fhir/Patient?name=x\rX-Injected: yes`, 'http.malformed'],
    // Node reads `GET /x<LF>` as an HTTP/0.9 request line with header lines after it: refused by version.
    ['LF', `/fhir/Patient?name=x\nX-Injected: yes`, 'http.version'],
    ['NUL', '/fhir/Patient?name=x\0', 'http.malformed'],
  ])('a raw %s in the request target never makes a request', async (_name, target, reason) => {
    await expectRefusedAtTheEdge(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer CLINICIAN\r\n\r\n`, 400, ['invalid_request', reason]);
  });
});

describe('methods (4): TRACE, TRACK and CONNECT refused; method overrides ignored', () => {
  test.each([
    ['TRACE', `TRACE /fhir/Patient HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer CLINICIAN\r\n\r\n`],
    ['TRACE outside the FHIR base', `TRACE /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
    ['TRACK', `TRACK /fhir/Patient HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
    ['CONNECT to another host', `CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n`],
    ['CONNECT to the upstream', `CONNECT UPSTREAM HTTP/1.1\r\nHost: UPSTREAM\r\n\r\n`],
  ])('%s: 405 with an OperationOutcome', async (_name, bytes) => {
    const res = await expectRefusedAtTheEdge(bytes.replaceAll('UPSTREAM', new URL(stack.fhir.baseUrl).host), 405, ['method_not_allowed', 'http.method']);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  test('override headers on a GET: the upstream gets a plain GET without them, and nothing is deleted', async () => {
    const before = upstreamCount();
    const res = await stack.fetch(`Patient/${alba.id}`, {
      token: clinician,
      headers: { 'x-http-method-override': 'DELETE', 'x-http-method': 'DELETE', 'x-method-override': 'DELETE' },
    });
    expect(res.status).toBe(200);
    // The read itself and the gateway's own Consent lookup for the patient.
    const sent = stack.fhir.requests.slice(before);
    expect(sent.filter((r) => r.url === `/fhir/Patient/${alba.id}`).map((r) => r.method)).toEqual(['GET']);
    for (const r of sent) {
      expect(r.method).toBe('GET');
      for (const name of ['x-http-method-override', 'x-http-method', 'x-method-override']) expect(r.headers[name]).toBeUndefined();
    }
    expect((await stack.fetch(`Patient/${alba.id}`, { token: clinician })).status).toBe(200);
  });

  test('a _method parameter is refused, not obeyed', async () => {
    const before = upstreamCount();
    const res = await stack.fetch(`Patient?_id=${alba.id}&_method=DELETE`, { token: clinician });
    expect(res.status).toBe(400);
    expect(upstreamCount()).toBe(before);
  });
});

describe('hop-by-hop and forwarding headers (4)', () => {
  test('headers the Connection header lists are removed, even ones otherwise passed on (Prefer)', async () => {
    const send = async (headers: Record<string, string>) => {
      const before = upstreamCount();
      const res = await rawExchange(origin, `GET /fhir/Patient/${alba.id} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${clinician}\r\n${Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`);
      expect(res.responses[0]!.status).toBe(200);
      return stack.fhir.requests.slice(before)[0]!.headers;
    };
    // Without Connection, Prefer is one of the few client headers the upstream gets...
    expect((await send({ prefer: 'return=representation' }))['prefer']).toBe('return=representation');
    // ...listed in Connection it is hop-by-hop, and stays behind like every hop-by-hop header.
    const sent = await send({
      connection: 'keep-alive, Prefer, X-Secret',
      prefer: 'return=representation',
      'x-secret': 'hop',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'proxy-authorization': 'Basic YWRtaW46YWRtaW4=',
      'proxy-connection': 'keep-alive',
      upgrade: 'h2c',
    });
    for (const name of ['prefer', 'x-secret', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'upgrade']) expect(sent[name]).toBeUndefined();
  });

  test('spoofed X-Forwarded-*, Forwarded and path-override headers are not passed on, and do not become the audited client address', async () => {
    const spoofed = {
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
      'x-forwarded-port': '443',
      'x-forwarded-prefix': '/admin',
      'x-real-ip': '203.0.113.9',
      'client-ip': '203.0.113.9',
      'true-client-ip': '203.0.113.9',
      forwarded: 'for=203.0.113.9;host=evil.example;proto=https',
      'x-original-url': `/fhir/Patient/${bruno.id}`,
      'x-rewrite-url': `/fhir/Patient/${bruno.id}`,
    };
    const before = upstreamCount();
    const res = await stack.fetch(`Patient/${alba.id}`, { token: albaToken, headers: spoofed });
    expect(res.status).toBe(200);
    const sent = stack.fhir.requests.slice(before);
    expect(sent.map((r) => r.url)).toContain(`/fhir/Patient/${alba.id}`);
    for (const r of sent) {
      for (const name of Object.keys(spoofed)) expect(r.headers[name]).toBeUndefined();
      expect(JSON.stringify(r.headers)).not.toMatch(/203\.0\.113\.9|evil\.example|\/admin/);
    }
    const record = await auditRecordOf(stack, res.headers.get('x-request-id')!);
    expect(record.client.address).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });
});

describe('Host tricks and request targets (4): the gateway only ever talks to its upstream', () => {
  let other: http.Server;
  let otherHits = 0;
  let otherHost: string;
  beforeAll(async () => {
    // Stands in for an internal service an attacker would like the gateway to reach (SSRF).
    other = http.createServer((_req, res) => {
      otherHits++;
      res.end(JSON.stringify({ resourceType: 'Patient', id: 'internal', name: [{ family: bruno.family }] }));
    });
    other.on('connection', () => otherHits++);
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    otherHost = `127.0.0.1:${(other.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => other.close(() => r()));
  });

  test.each([
    ['absolute-form naming another host', (h: string) => `GET http://${h}/fhir/Patient/${alba.id} HTTP/1.1\r\nHost: ${h}\r\nAuthorization: Bearer CLINICIAN\r\n\r\n`],
    ['absolute-form naming another host, Host naming the gateway', (h: string) => `GET http://${h}/fhir/Patient/${alba.id} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer CLINICIAN\r\n\r\n`],
    ['absolute-form with userinfo', (h: string) => `GET http://${host}@${h}/fhir/Patient HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer CLINICIAN\r\n\r\n`],
    ['asterisk-form', () => `OPTIONS * HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
  ])('%s: 400, and neither that host nor the upstream is contacted', async (_name, request) => {
    const res = await expectRefusedAtTheEdge(request(otherHost), 400, ['path_not_canonical', 'path.form'], true);
    expect(res.body).not.toContain(otherHost);
    expect(otherHits).toBe(0);
  });

  test('a Host naming another host changes nothing: the upstream is called with its own Host', async () => {
    const before = upstreamCount();
    const exchange = await rawExchange(origin, `GET /fhir/Patient/${alba.id} HTTP/1.1\r\nHost: ${otherHost}\r\nAuthorization: Bearer ${clinician}\r\n\r\n`);
    expect(exchange.responses[0]!.status).toBe(200);
    expect(exchange.raw).not.toContain(otherHost);
    expect(stack.fhir.requests.slice(before)[0]!.headers.host).toBe(new URL(stack.fhir.baseUrl).host);
    expect(otherHits).toBe(0);
  });

  test('Host given twice, or missing in HTTP/1.1: 400 from the gateway', async () => {
    await expectRefusedAtTheEdge(`GET /fhir/Patient/${alba.id} HTTP/1.1\r\nHost: ${host}\r\nHost: ${otherHost}\r\nAuthorization: Bearer CLINICIAN\r\n\r\n`, 400, ['invalid_request', 'http.host']);
    await expectRefusedAtTheEdge(`GET /fhir/Patient/${alba.id} HTTP/1.1\r\nAuthorization: Bearer CLINICIAN\r\n\r\n`, 400, ['invalid_request', 'http.host']);
  });
});
