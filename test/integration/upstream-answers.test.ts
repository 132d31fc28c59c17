/**
 * What the upstream sends is treated as hostile: compressed answers are decoded before they are
 * enforced; an upstream that is down, hangs, resets, answers too much or answers something the
 * gateway cannot read fails closed in time with the gateway's own OperationOutcome and an audit
 * record; and an error while enforcing never releases the unfiltered body. A scripted HTTP server
 * stands in for a misbehaving FHIR server (the real engine does not misbehave on demand); the gzip
 * case uses the real engine.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { SYNTHETIC_PATIENTS } from '../../src/devkit/synthetic-data.js';
import { BATCH_WRAPPER, buildTestBundle } from '../support/opa.js';
import { auditRecordOf, headerPairs, jsonOf, startStack, tokensFor, type Stack } from '../support/stack.js';
import { answer, drip, hang, hangUp, resetMidBody, startScriptedUpstream, type Behaviour, type ScriptedUpstream } from '../support/scripted-upstream.js';

const [alba, bruno] = SYNTHETIC_PATIENTS as [typeof SYNTHETIC_PATIENTS[0], typeof SYNTHETIC_PATIENTS[0]];

describe('a FHIR server that gzips whatever it is asked', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ fhir: { forceGzip: true } });
  });
  afterAll(() => stack.close());

  test('answers are decoded, then filtered like any other', async () => {
    const token = await tokensFor(stack.issuer).patient(alba.id);
    const res = await stack.fetch('Observation', { token });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBeNull();
    const text = await res.text();
    expect(JSON.parse(text).entry).toHaveLength(4);
    expect(text).not.toContain(bruno.family);
    expect((await stack.fetch(`Observation/obs-${bruno.id}-0`, { token })).status).toBe(404);
  });
});

describe('upstream faults: every client gets a timely OperationOutcome, never upstream text, and an audit record', () => {
  const TIMEOUT_MS = 1000;
  /** Allowance for answering after the deadline: the gateway's own work, on a loaded 2-core machine. */
  const MARGIN_MS = 1000;
  let stack: Stack;
  let upstream: ScriptedUpstream;
  beforeAll(async () => {
    upstream = await startScriptedUpstream();
    stack = await startStack({
      config: (c) => ({
        ...c,
        // The breaker is off here: each fault must be seen as itself, not as an open circuit.
        upstream: { ...c.upstream, url: upstream.url, timeoutMs: TIMEOUT_MS, maxResponseBytes: 1024 * 1024, circuitBreaker: { enabled: false } },
      }),
    });
  });
  afterAll(async () => {
    await stack.close();
    await upstream.close();
  });

  const secret = `${bruno.given} ${bruno.family} ${bruno.mrn}`;
  const internals = `SQL error near ${secret} at db01.internal:5432\n    at Object.<anonymous> (/srv/fhir/app.js:12:7)`;
  /** Every answer carries a header the upstream must not get to set on the client's answer. */
  const leakyHeaders = { 'x-backend': 'db01.internal:5432', server: 'fhir-backend/1.0 (db01.internal)' };
  const fhirJson = { 'content-type': 'application/fhir+json', ...leakyHeaders };
  const patientJson = JSON.stringify({ resourceType: 'Patient', id: bruno.id, name: [{ family: bruno.family, given: [bruno.given] }], identifier: [{ value: bruno.mrn }] });
  const big = JSON.stringify({ resourceType: 'Patient', id: bruno.id, text: { div: secret.repeat(100_000) } });

  type Fault = [name: string, status: number, code: string, behave: Behaviour | 'down'];
  const faults: Fault[] = [
    ['down (connection refused)', 502, 'upstream_unavailable', 'down'],
    ['accepting connections and closing them unanswered', 502, 'upstream_unavailable', hangUp],
    ['never answering', 504, 'upstream_timeout', hang],
    ['slow: headers at once, then a byte every 100 ms', 504, 'upstream_timeout', drip(fhirJson, 100)],
    ['resetting mid-body (Content-Length)', 502, 'upstream_unavailable', resetMidBody({ ...fhirJson, 'content-length': String(patientJson.length) }, patientJson.slice(0, 60))],
    ['resetting mid-body (chunked)', 502, 'upstream_unavailable', resetMidBody(fhirJson, patientJson.slice(0, 60))],
    ['a body over upstream.maxResponseBytes (Content-Length)', 502, 'upstream_too_large', answer(200, fhirJson, big)],
    ['a body over upstream.maxResponseBytes (chunked)', 502, 'upstream_too_large', (_q, res) => { res.writeHead(200, fhirJson); for (let i = 0; i < 40; i++) res.write(big.slice(0, 64 * 1024)); res.end(); }],
    ['HTML', 502, 'upstream_bad_response', answer(200, { 'content-type': 'text/html', ...leakyHeaders }, `<html>${secret}</html>`)],
    ['plain text', 502, 'upstream_bad_response', answer(200, { 'content-type': 'text/plain', ...leakyHeaders }, secret)],
    ['no content type', 502, 'upstream_bad_response', answer(200, leakyHeaders, patientJson)],
    ['truncated JSON', 502, 'upstream_bad_response', answer(200, fhirJson, patientJson.slice(0, 70))],
    ['JSON that is not a resource', 502, 'upstream_bad_response', answer(200, { ...leakyHeaders, 'content-type': 'application/json' }, JSON.stringify({ patient: secret }))],
    ['invalid UTF-8', 502, 'upstream_bad_response', answer(200, fhirJson, Buffer.concat([Buffer.from(patientJson.slice(0, 40)), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]))],
    ['an unknown content-encoding', 502, 'upstream_bad_response', answer(200, { ...fhirJson, 'content-encoding': 'zstd' }, secret)],
    ['a gzip bomb beyond the size bound', 502, 'upstream_too_large', answer(200, { ...fhirJson, 'content-encoding': 'gzip' }, gzipSync(Buffer.alloc(80 * 1024 * 1024, 32)))],
    ['a 500 with internals', 502, 'upstream_error', answer(500, fhirJson, JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: internals }] }))],
    ['a 502 HTML page from its own proxy', 502, 'upstream_error', answer(502, { 'content-type': 'text/html', ...leakyHeaders }, `<h1>Bad Gateway</h1><pre>${internals}</pre>`)],
    ['a 503 with Retry-After', 502, 'upstream_error', answer(503, { 'content-type': 'text/plain', 'retry-after': '5', ...leakyHeaders }, internals)],
  ];

  test.each(faults)('the upstream %s: %d %s', async (_name, status, code, behave) => {
    if (behave === 'down') await upstream.stop();
    else upstream.behave = behave;
    try {
      const started = performance.now();
      const res = await stack.fetch(`Patient/${bruno.id}`, { token: await tokensFor(stack.issuer).clinician() });
      const text = await res.text();
      const elapsed = performance.now() - started;

      expect(res.status).toBe(status);
      // Timely: within the deadline plus a margin; and a timeout really waited for the deadline.
      expect(elapsed).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
      if (code === 'upstream_timeout') expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
      // A whole OperationOutcome of the gateway's own, with its own length: no partial body.
      expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
      const body = JSON.parse(text);
      expect(body.resourceType).toBe('OperationOutcome');
      expect(body.issue[0].details.coding[0].code).toBe(code);
      for (const fragment of [bruno.family, bruno.mrn, bruno.given, 'db01.internal', 'SQL', 'app.js', 'Bad Gateway', new URL(upstream.url).host]) {
        expect(text).not.toContain(fragment);
      }
      for (const [name, value] of headerPairs(res.headers)) {
        expect(`${name}: ${value}`).not.toMatch(/db01\.internal|fhir-backend|retry-after/i);
      }
      // Exactly the outcome the client saw is in the audit trail.
      const record = await auditRecordOf(stack, body.id);
      expect(record.outcome).toMatchObject({ status, error: code, decision: 'error' });
    } finally {
      if (behave === 'down') await upstream.restart();
    }
  });
});

describe('an error while enforcing', () => {
  test('returns an error, never the unfiltered upstream body', async () => {
    // A resource rule that conflicts at runtime for any resource with an id: evaluation aborts.
    const bundle = buildTestBundle({
      'request.rego': 'package fhirgw.request\n\ndecision := {"allow": true}\n',
      'resource.rego': 'package fhirgw.resource\n\ndecision := {"allow": true} if input.resource.id\n\ndecision := {"allow": false} if input.resource.resourceType\n',
      'resources.rego': BATCH_WRAPPER,
    });
    const stack = await startStack({ config: (c) => ({ ...c, policy: { bundle } }) });
    try {
      const res = await stack.fetch('Patient', { token: await tokensFor(stack.issuer).clinician() });
      expect(res.status).toBe(500);
      const body = await jsonOf(res);
      expect(body.issue[0].details.coding.map((c: { code: string }) => c.code)).toEqual(['policy_error', expect.stringMatching(/^policy\./)]);
      for (const p of SYNTHETIC_PATIENTS) expect(JSON.stringify(body)).not.toContain(p.family);
    } finally {
      await stack.close();
    }
  });
});

describe('the keep-alive race: the upstream closes a pooled connection as the gateway reuses it', () => {
  let stack: Stack;
  let upstream: ScriptedUpstream;
  const patient = JSON.stringify({ resourceType: 'Patient', id: bruno.id, name: [{ family: bruno.family }] });
  beforeAll(async () => {
    // Each connection answers its first request and is reset by the upstream at its second, as a
    // server closing idle connections does when the gateway's reuse crosses its close.
    const served = new WeakMap<object, number>();
    upstream = await startScriptedUpstream((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n > 1) req.socket.destroy();
      else answer(200, { 'content-type': 'application/fhir+json' }, patient)(req, res);
    });
    stack = await startStack({ config: (c) => ({ ...c, upstream: { ...c.upstream, url: upstream.url, circuitBreaker: { enabled: false } }, consent: { enabled: false } }) });
  });
  afterAll(async () => {
    await stack.close();
    await upstream.close();
  });

  test('a read is sent again once, on a new connection, and the client never sees the race', async () => {
    const token = await tokensFor(stack.issuer).clinician();
    const hits = upstream.hits();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await stack.fetch(`Patient/${bruno.id}`, { token })).status);
    expect(statuses).toEqual([200, 200, 200]);
    // 1: a new connection, pooled. 2: reset on the reused one, sent again on a new, unpooled
    // connection. 3: a new pooled connection (the reset one is gone).
    expect(upstream.hits() - hits).toBe(4);
  });

  test('a write is not sent again: it may have been carried out', async () => {
    const token = await tokensFor(stack.issuer).clinician('user/*.cruds');
    // Two reads leave a pooled connection that has served one request (whatever the pool held before).
    for (let i = 0; i < 2; i++) expect((await stack.fetch(`Patient/${bruno.id}`, { token })).status).toBe(200);
    const hits = upstream.hits();
    const res = await stack.fetch('Patient', { method: 'POST', token, headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'New' }] }) });
    expect(res.status).toBe(502);
    expect(upstream.hits() - hits).toBe(1);
  });
});
